//! What the page shows, worked out from a [`Report`]: every value as the
//! text a person reads. The template only places these values.
//!
//! The live page's script builds the same values from `/report`
//! (`templates/page.js`, `groupView`); the browser tests check that the
//! rows it draws read exactly as the ones rendered here.

use std::collections::BTreeMap;

use askama::Template;
use serde::Serialize;

use super::{MAX_ERRORS, MAX_LIST, MAX_ROWS, Mode, PageOptions, REFRESH_MS, script_json};
use crate::aggregate::timeline::Timeline;
use crate::report::{Report, ReportGroup, describe_reason, human_bytes};

/// Principals listed in "top principals".
const TOP_PRINCIPALS: usize = 10;

/// One line of a list: a text and, for counted items, its count.
#[derive(Debug, Clone, Default)]
pub(super) struct Item {
    pub text: String,
    pub count: String,
}

/// A list cut at [`MAX_LIST`], with what was left out.
#[derive(Debug, Clone, Default)]
pub(super) struct List {
    pub items: Vec<Item>,
    /// `… and N more`, or empty.
    pub more: String,
}

impl List {
    fn new(items: impl ExactSizeIterator<Item = Item>) -> List {
        let n = items.len();
        List {
            items: items.take(MAX_LIST).collect(),
            more: more_text(n),
        }
    }

    fn plain<'a>(texts: impl ExactSizeIterator<Item = &'a String>) -> List {
        List::new(texts.map(|t| Item {
            text: t.clone(),
            count: String::new(),
        }))
    }
}

fn more_text(n: usize) -> String {
    if n > MAX_LIST {
        format!("… and {} more", n - MAX_LIST)
    } else {
        String::new()
    }
}

/// A policy document the hint carries, pretty-printed.
#[derive(Debug, Clone, Default)]
pub(super) struct Doc {
    pub title: String,
    pub json: String,
}

/// One group as shown.
#[derive(Debug, Clone, Default)]
pub(super) struct GroupView {
    pub principal: String,
    pub action: String,
    pub count: u64,
    pub hint: String,
    pub codes: String,
    pub text: String,
    pub first_seen: String,
    pub last_seen: String,
    pub via: String,
    pub accounts: String,
    pub regions: String,
    pub example: String,
    pub resources: List,
    pub sessions: List,
    pub reasons: List,
    pub documents: Vec<Doc>,
}

impl GroupView {
    /// `notes` and `policies`: the report's, which complete each hint.
    fn new(
        g: &ReportGroup,
        notes: &BTreeMap<String, String>,
        policies: &[serde_json::Value],
    ) -> GroupView {
        GroupView {
            principal: g.principal.clone(),
            action: g.action.clone(),
            count: g.count,
            hint: g.hint.code.as_str().to_string(),
            codes: g
                .hint
                .codes
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            text: g.hint.advice(notes),
            first_seen: g.first_seen.clone().unwrap_or_default(),
            last_seen: g.last_seen.clone().unwrap_or_default(),
            via: g.via.join(", "),
            accounts: g.accounts.join(", "),
            regions: g.regions.join(", "),
            example: g.example_message.clone().unwrap_or_default(),
            resources: List::new(g.resources.iter().map(|r| Item {
                text: r.arn.clone(),
                count: format!("×{}", r.count),
            })),
            sessions: List::plain(g.sessions.iter()),
            reasons: List::new(g.reasons.iter().map(|r| Item {
                text: describe_reason(r),
                count: format!("×{}", r.count),
            })),
            documents: g
                .hint
                .documents_in(policies)
                .map(|(title, doc)| Doc {
                    title: title.to_string(),
                    json: serde_json::to_string_pretty(doc).unwrap_or_default(),
                })
                .collect(),
        }
    }

    /// Everything the free-text search looks in.
    pub(super) fn search_text(&self) -> String {
        let mut parts: Vec<&str> = vec![
            &self.principal,
            &self.action,
            &self.codes,
            &self.text,
            &self.first_seen,
            &self.last_seen,
            &self.via,
            &self.accounts,
            &self.regions,
            &self.example,
        ];
        for l in [&self.resources, &self.sessions, &self.reasons] {
            parts.extend(l.items.iter().map(|i| i.text.as_str()));
        }
        parts.extend(self.documents.iter().map(|d| d.json.as_str()));
        parts.join("\n")
    }
}

/// One of the summary's figures.
#[derive(Debug, Clone)]
pub(super) struct Figure {
    /// Key the script updates it by.
    pub key: &'static str,
    pub label: &'static str,
    pub value: u64,
}

/// A principal and its denials, for "top principals".
#[derive(Debug, Clone)]
pub(super) struct TopPrincipal {
    pub principal: String,
    pub count: u64,
    /// Bar length, percent of the first.
    pub percent: u64,
}

/// A source and when its newest record was read.
#[derive(Debug, Clone)]
pub(super) struct SourceView {
    pub name: String,
    pub at: String,
    pub unix: f64,
}

/// An input error as listed.
#[derive(Debug, Clone)]
pub(super) struct ErrorView {
    pub origin: String,
    pub offset: u64,
    pub kind: String,
    pub detail: String,
}

/// What the script is given (inside `<script type="application/json">`).
#[derive(Debug, Serialize)]
struct ScriptData<'a> {
    live: bool,
    report_url: &'a str,
    refresh_ms: u64,
    max_rows: usize,
    max_list: usize,
    top_principals: usize,
    now: f64,
    timeline: Option<&'a Timeline>,
}

/// The whole page.
#[derive(Template)]
#[template(path = "page.html")]
pub(super) struct PageView<'a> {
    pub title: &'static str,
    pub live: bool,
    pub scope: &'a str,
    pub inputs: String,
    pub made_at: String,
    pub figures: Vec<Figure>,
    pub auth_failures: String,
    pub sources: Vec<SourceView>,
    pub top: Vec<TopPrincipal>,
    pub groups: Vec<GroupView>,
    /// Groups in the report.
    pub total_groups: usize,
    /// Groups matching the filter (shown or not).
    pub matching: usize,
    pub filter: &'a super::Filter,
    pub actions: Vec<String>,
    pub hints: Vec<String>,
    pub errors: Vec<ErrorView>,
    pub errors_more: String,
    pub untimed: u64,
    /// An empty group: the script's model for rows it adds.
    pub blank: GroupView,
    pub data: String,
    /// The Content-Security-Policy nonce of the page's own script and style.
    pub nonce: String,
    /// `connect-src` of the policy: `'self'` live, `'none'` for a file.
    pub connect: &'static str,
    pub css: &'static str,
    pub js: &'static str,
}

const CSS: &str = include_str!("../../templates/page.css");
const JS: &str = include_str!("../../templates/page.js");

/// `2024-05-01 12:00:00 UTC` for a Unix time.
pub(super) fn utc(unix: f64) -> String {
    chrono::DateTime::from_timestamp(unix.floor() as i64, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

impl<'a> PageView<'a> {
    pub(super) fn new(r: &'a Report, opts: &'a PageOptions) -> PageView<'a> {
        let s = &r.summary;
        let (live, report_url) = match &opts.mode {
            Mode::File => (false, ""),
            Mode::Live { report_url } => (true, report_url.as_str()),
        };
        let all: Vec<GroupView> = r
            .groups
            .iter()
            .map(|g| GroupView::new(g, &r.notes, &r.policies))
            .collect();
        let mut actions: Vec<String> = all.iter().map(|g| g.action.clone()).collect();
        actions.sort_unstable();
        actions.dedup();
        let mut hints: Vec<String> = all.iter().map(|g| g.hint.clone()).collect();
        hints.sort_unstable();
        hints.dedup();
        let total_groups = all.len();
        let matching: Vec<GroupView> = all.into_iter().filter(|g| opts.filter.matches(g)).collect();
        let n_matching = matching.len();
        let groups: Vec<GroupView> = matching.into_iter().take(MAX_ROWS).collect();
        let figures = vec![
            Figure {
                key: "denials",
                label: "denials",
                value: s.denials,
            },
            Figure {
                key: "principals",
                label: "principals",
                value: s.principals,
            },
            Figure {
                key: "groups",
                label: "groups",
                value: s.groups,
            },
            Figure {
                key: "records",
                label: "records read",
                value: s.records,
            },
            Figure {
                key: "errors",
                label: "input errors",
                value: s.errors,
            },
            Figure {
                key: "duplicates",
                label: "duplicates dropped",
                value: s.duplicates,
            },
            Figure {
                key: "out_of_scope",
                label: "denials out of scope",
                value: s.out_of_scope,
            },
        ];
        let auth_failures = s
            .auth_failures
            .iter()
            .map(|(k, v)| format!("{k} ×{v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let data = ScriptData {
            live,
            report_url,
            refresh_ms: REFRESH_MS,
            max_rows: MAX_ROWS,
            max_list: MAX_LIST,
            top_principals: TOP_PRINCIPALS,
            now: opts.now,
            timeline: r.timeline.as_ref(),
        };
        PageView {
            title: if live {
                "denytrail watch"
            } else {
                "denytrail report"
            },
            live,
            scope: &s.scope,
            inputs: format!(
                "{} record{} in {} input{} ({})",
                s.records,
                if s.records == 1 { "" } else { "s" },
                s.files,
                if s.files == 1 { "" } else { "s" },
                human_bytes(s.bytes)
            ),
            made_at: utc(opts.now),
            figures,
            auth_failures,
            sources: r
                .last_event
                .iter()
                .map(|(name, &unix)| SourceView {
                    name: name.clone(),
                    at: utc(unix),
                    unix,
                })
                .collect(),
            top: top_principals(&r.groups),
            groups,
            total_groups,
            matching: n_matching,
            filter: &opts.filter,
            actions,
            hints,
            errors: r
                .errors
                .iter()
                .take(MAX_ERRORS)
                .map(|e| ErrorView {
                    origin: e.origin.clone(),
                    offset: e.offset,
                    kind: e.kind.clone(),
                    detail: e.detail.clone(),
                })
                .collect(),
            errors_more: if r.errors.len() > MAX_ERRORS {
                format!("… and {} more", r.errors.len() - MAX_ERRORS)
            } else {
                String::new()
            },
            untimed: r.timeline.as_ref().map_or(0, Timeline::untimed),
            blank: GroupView::default(),
            data: script_json(&data),
            nonce: format!("{:032x}", rand::random::<u128>()),
            connect: if live { "'self'" } else { "'none'" },
            css: CSS,
            js: JS,
        }
    }

    /// The number shown in the "showing" line.
    pub(super) fn shown(&self) -> usize {
        self.groups.len()
    }
}

/// The principals with the most denials, most first (ties by name).
fn top_principals(groups: &[ReportGroup]) -> Vec<TopPrincipal> {
    let mut by: BTreeMap<&str, u64> = BTreeMap::new();
    for g in groups {
        *by.entry(&g.principal).or_insert(0) += g.count;
    }
    let mut v: Vec<(&str, u64)> = by.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    v.truncate(TOP_PRINCIPALS);
    let max = v.first().map_or(1, |p| p.1.max(1));
    v.into_iter()
        .map(|(p, c)| TopPrincipal {
            principal: p.to_string(),
            count: c,
            percent: c * 100 / max,
        })
        .collect()
}
