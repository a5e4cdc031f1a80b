//! The markdown rendering of a report, for tickets and wikis: a summary,
//! the top principals and actions of a big report, a table of the largest
//! groups and a section for each. Values from logs are escaped for
//! markdown and through [`shown`].

use std::fmt::Write as _;

use super::{View, describe_reason, human_bytes, shown};

/// Principals and actions listed in the summary of a big report.
const ROLLUP_ROWS: usize = 10;

/// A value from a log inside backticks or a table cell.
fn md(s: &str) -> String {
    shown(s).replace('|', "\\|").replace('`', "'")
}

/// Render a report's view.
pub(crate) fn render(r: &View<'_>) -> String {
    let s = r.summary;
    let mut o = String::new();
    let _ = writeln!(o, "# denytrail report\n");
    let _ = writeln!(
        o,
        "{} denials from {} principals in {} groups; {} records in {} inputs ({}); {} input errors; scope `{}`.\n",
        s.denials,
        s.principals,
        s.groups,
        s.records,
        s.files,
        human_bytes(s.bytes),
        s.errors,
        md(&s.scope)
    );
    let n = r.shown.len();
    let groups = r.shown;
    if n < r.total {
        let roll = &r.rollup;
        let _ = writeln!(
            o,
            "## Top principals\n\n| principal | denials | groups |\n|---|---:|---:|"
        );
        for (p, d, k) in roll.principals.iter().take(ROLLUP_ROWS) {
            let _ = writeln!(o, "| `{}` | {d} | {k} |", md(p));
        }
        let _ = writeln!(
            o,
            "\n## Top actions\n\n| action | denials | principals |\n|---|---:|---:|"
        );
        for (a, d, k) in roll.actions.iter().take(ROLLUP_ROWS) {
            let _ = writeln!(o, "| `{}` | {d} | {k} |", md(a));
        }
        let _ = writeln!(
            o,
            "\nThe {n} largest of {} groups follow; the other {} are in the JSON report.\n",
            r.total,
            r.total - n
        );
    }
    if !groups.is_empty() {
        let _ = writeln!(
            o,
            "| principal | action | count | hint | first seen | last seen |"
        );
        let _ = writeln!(o, "|---|---|---:|---|---|---|");
        for g in groups {
            let _ = writeln!(
                o,
                "| `{}` | `{}` | {} | `{}` | {} | {} |",
                md(&g.principal),
                md(&g.action),
                g.count,
                g.hint.code.as_str(),
                md(g.first_seen.as_deref().unwrap_or("")),
                md(g.last_seen.as_deref().unwrap_or(""))
            );
        }
    }
    for g in groups {
        let _ = writeln!(
            o,
            "\n## `{}` — `{}` ×{}\n",
            md(&g.principal),
            md(&g.action),
            g.count
        );
        if !g.via.is_empty() {
            let _ = writeln!(
                o,
                "Via: {}\n",
                g.via
                    .iter()
                    .map(|v| format!("`{}`", md(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if !g.resources.is_empty() {
            let _ = writeln!(o, "Resources:\n");
            for res in &g.resources {
                let _ = writeln!(o, "- `{}` ×{}", md(&res.arn), res.count);
            }
            if let Some(u) = g.unlisted.get("resources") {
                let _ = writeln!(
                    o,
                    "- … about {} more resources, {} denials",
                    u.distinct_estimate, u.count
                );
            }
            let _ = writeln!(o);
        }
        let _ = writeln!(o, "Reasons:\n");
        for reason in &g.reasons {
            let _ = writeln!(o, "- {} ×{}", md(&describe_reason(reason)), reason.count);
        }
        let _ = writeln!(o, "\n**Hint** (`{}`):\n", g.hint.code.as_str());
        for line in g.hint.advice(r.notes).lines() {
            let _ = writeln!(o, "> {}", shown(line));
        }
        for (title, doc) in g.hint.documents_in(r.policies) {
            let text = serde_json::to_string_pretty(doc).unwrap_or_default();
            let text: Vec<String> = text.lines().map(|l| shown(l).into_owned()).collect();
            let _ = writeln!(o, "\n{title}:\n\n```json\n{}\n```", text.join("\n"));
        }
    }
    if !r.errors.is_empty() {
        let _ = writeln!(o, "\n## Input errors\n");
        for e in r.errors {
            let _ = writeln!(
                o,
                "- `{}` byte {}: {}: {}",
                md(&e.origin),
                e.offset,
                e.kind,
                md(&e.detail)
            );
        }
    }
    o
}
