//! The web page of `denytrail watch` (`/`) and the HTML report of
//! `replay --format html`: a sink that turns a [`Report`] into one HTML
//! document. It knows nothing of scanning, tailing or serving: it reads a
//! report (the JSON contract) and returns a string.
//!
//! The document is self-contained (CSS, JavaScript and the chart's SVG are
//! inline; it makes no request but, on the live page, to `/report`) and
//! works without JavaScript: the summary, the top principals and the groups
//! are a plain server-rendered table whose rows open (`<details>`) on the
//! resources, sessions, reasons, hint and policy. JavaScript adds, on top:
//! the chart of denials over time (drawn from [`Report::timeline`]),
//! filtering and sorting without a round trip, a copy button for each
//! policy and, on the live page, a refresh from `/report` every
//! [`REFRESH_MS`] without reloading the page.
//!
//! Every value from a log is escaped by the template engine (askama,
//! HTML-escaping every expression unless marked safe); the only values
//! marked safe are the page's own CSS and JavaScript and the JSON given to
//! the script, made safe inside `<script>` by [`script_json`].
//!
//! ```
//! use denytrail::aggregate::Aggregator;
//! use denytrail::page::{self, PageOptions};
//! use denytrail::report::Run;
//! let report = Run::new(Aggregator::builder().build().finish(), "default".into(), None).report();
//! let html = page::render(&report, &PageOptions::file()).unwrap();
//! assert!(html.starts_with("<!DOCTYPE html>"));
//! ```

mod filter;
mod view;

pub use filter::Filter;

use askama::Template;

use crate::report::Report;

/// Groups shown at most (the top ones by count, after filtering); the JSON
/// report has them all. `watch` holds at most `2·--max-series+1` groups
/// (2001 by default).
pub const MAX_ROWS: usize = 2500;

/// Items shown at most in each list of a group (resources, sessions, …);
/// the rest are counted ("… and 12 more").
pub const MAX_LIST: usize = 20;

/// How often the live page asks `/report` for news, in milliseconds.
pub const REFRESH_MS: u64 = 2000;

/// Input errors listed on the page (all are counted in the summary).
pub const MAX_ERRORS: usize = 20;

/// Where the page will be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// A file (`replay --format html`): no request of any kind.
    File,
    /// `watch`'s `/`: refreshes itself from `report_url`.
    Live {
        /// The JSON report's URL, relative to the page (`report`).
        report_url: String,
    },
}

/// How to render.
#[derive(Debug, Clone)]
pub struct PageOptions {
    /// File or live page.
    pub mode: Mode,
    /// Filters applied before rendering (the live page's query string, so
    /// that they work without JavaScript too).
    pub filter: Filter,
    /// Unix time the page is made at (shown, and the "ago" of sources).
    pub now: f64,
}

impl PageOptions {
    /// A file, unfiltered, made now.
    pub fn file() -> PageOptions {
        PageOptions {
            mode: Mode::File,
            filter: Filter::default(),
            now: unix_now(),
        }
    }

    /// The live page, with `filter`, made now.
    pub fn live(filter: Filter) -> PageOptions {
        PageOptions {
            mode: Mode::Live {
                report_url: "report".to_string(),
            },
            filter,
            now: unix_now(),
        }
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Why the page could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The template engine failed (a formatting error; not expected).
    #[error("cannot render the HTML page")]
    Render(#[from] askama::Error),
}

/// Render `report` as one HTML document.
pub fn render(report: &Report, opts: &PageOptions) -> Result<String, PageError> {
    let page = view::PageView::new(report, opts);
    Ok(page.render()?)
}

/// JSON that is safe inside a `<script>` element: `<`, `>` and `&` are
/// written `\u003c`, `\u003e`, `\u0026` (so no `</script>` or `<!--` can
/// end or change the element), and U+2028/U+2029 `\u2028`/`\u2029` (line
/// ends to older JavaScript parsers). The result is still the same JSON.
///
/// ```
/// let s = denytrail::page::script_json(&serde_json::json!({"p": "</script><b>&\u{2028}"}));
/// assert_eq!(s, r#"{"p":"\u003c/script\u003e\u003cb\u003e\u0026\u2028"}"#);
/// ```
pub fn script_json(v: &impl serde::Serialize) -> String {
    let text = serde_json::to_string(v).unwrap_or_else(|_| "null".to_string());
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
