//! The report: the JSON contract other tools read, and its renderings for
//! people (table) and for documents (markdown).
//!
//! The JSON shape is versioned by [`SCHEMA_VERSION`]: a top-level `summary`
//! and a `groups` array sorted by `count` descending. Fields are only ever
//! added.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::aggregate::{Group, sort_groups};
use crate::classify::{Denial, DenyKind, PrincipalKind, Reason};
use crate::hints::{self, Hint};
use crate::input::InputError;

/// Version of the JSON shape.
pub const SCHEMA_VERSION: u32 = 1;

/// How many input errors the report lists one by one (all are counted).
pub const MAX_LISTED_ERRORS: usize = 1000;

/// Totals for the whole run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Records framed (lines, `Records` elements, log events).
    pub records: u64,
    /// Distinct denials in scope.
    pub denials: u64,
    /// Distinct principals among them.
    pub principals: u64,
    /// Principal/action groups.
    pub groups: u64,
    /// Inputs read (files, stdin, objects, log groups).
    pub files: u64,
    /// Bytes scanned (decompressed).
    pub bytes: u64,
    /// Input errors (bad records, corrupt files, unreadable files).
    pub errors: u64,
    /// Input errors by kind.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Records the prefilter passed to the parser.
    pub candidates: u64,
    /// Authentication failures (not denials), by error code.
    pub auth_failures: BTreeMap<String, u64>,
    /// Repeated deliveries dropped (same eventID / sharedEventID).
    pub duplicates: u64,
    /// Denials outside the scope.
    pub out_of_scope: u64,
    /// Records skipped on purpose (Insight events, control messages).
    pub skipped_records: u64,
    /// Files skipped on purpose (digest, Insight, empty), by reason.
    pub skipped_files: BTreeMap<String, u64>,
    /// The scope in force (`all` or globs).
    pub scope: String,
    /// `I/N` when this report covers one shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
}

/// A resource and how often it was denied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceCount {
    /// The resource ARN (or the resource text of the message).
    pub arn: String,
    /// Denials on it.
    pub count: u64,
}

/// A reason and how often it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonCount {
    /// Short code (`implicit-identity`, `explicit-scp`, `unknown`).
    pub code: String,
    /// `implicit`, `explicit` or `unknown`.
    pub kind: DenyKind,
    /// The policy type named, if any.
    pub policy_type: Option<String>,
    /// The denying policy's ARN, if the message names it.
    pub policy_arn: Option<String>,
    /// How often.
    pub count: u64,
}

/// One principal/action group as reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportGroup {
    /// The principal (role ARN for assumed-role sessions).
    pub principal: String,
    /// What kind of principal.
    pub principal_kind: PrincipalKind,
    /// The principal's account.
    pub principal_account: Option<String>,
    /// The denied IAM action.
    pub action: String,
    /// Distinct denial events.
    pub count: u64,
    /// Resources, most denied first.
    pub resources: Vec<ResourceCount>,
    /// Session ARNs.
    pub sessions: Vec<String>,
    /// Reasons, most frequent first.
    pub reasons: Vec<ReasonCount>,
    /// Called APIs when they differ from the action.
    pub via: Vec<String>,
    /// Accounts that recorded the events.
    pub accounts: Vec<String>,
    /// Regions.
    pub regions: Vec<String>,
    /// VPC endpoints.
    pub vpc_endpoints: Vec<String>,
    /// Error codes.
    pub error_codes: Vec<String>,
    /// Earliest event time.
    pub first_seen: Option<String>,
    /// Latest event time.
    pub last_seen: Option<String>,
    /// Encoded authorization messages among them.
    pub encoded: u64,
    /// Messages truncated at 1024 characters among them.
    pub truncated: u64,
    /// The message of the earliest event.
    pub example_message: Option<String>,
    /// What to do.
    pub hint: Hint,
}

/// An input error as listed in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportError {
    /// Where: file path, `-`, `s3://…`.
    pub origin: String,
    /// Byte offset in the decoded stream.
    pub offset: u64,
    /// Kind (metric label).
    pub kind: String,
    /// What happened.
    pub detail: String,
}

impl From<&InputError> for ReportError {
    fn from(e: &InputError) -> Self {
        ReportError {
            origin: e.origin.clone(),
            offset: e.offset,
            kind: e.kind.as_str().to_string(),
            detail: e.detail.clone(),
        }
    }
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub version: u32,
    /// Totals.
    pub summary: Summary,
    /// Groups, by count descending.
    pub groups: Vec<ReportGroup>,
    /// The first [`MAX_LISTED_ERRORS`] input errors.
    pub errors: Vec<ReportError>,
    /// Every denial event (repeated deliveries included), only in shard
    /// reports (`--shard`), so that `denytrail merge` can deduplicate across
    /// shards exactly as one machine would.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denials: Option<Vec<Denial>>,
}

impl ReportGroup {
    /// Turn an aggregated group into its reported form, with its hint.
    pub fn from_group(g: &Group) -> ReportGroup {
        let mut resources: Vec<ResourceCount> = g
            .resources
            .iter()
            .map(|(arn, &count)| ResourceCount {
                arn: arn.clone(),
                count,
            })
            .collect();
        resources.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.arn.cmp(&b.arn)));
        let mut reasons: Vec<ReasonCount> = g
            .reasons
            .iter()
            .map(|(r, &count)| reason_count(r, count))
            .collect();
        reasons.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.code.cmp(&b.code)));
        ReportGroup {
            principal: g.principal.clone(),
            principal_kind: g.principal_kind,
            principal_account: g.principal_account.clone(),
            action: g.action.clone(),
            count: g.count,
            resources,
            sessions: g.sessions.iter().cloned().collect(),
            reasons,
            via: g.via.iter().cloned().collect(),
            accounts: g.accounts.iter().cloned().collect(),
            regions: g.regions.iter().cloned().collect(),
            vpc_endpoints: g.vpc_endpoints.iter().cloned().collect(),
            error_codes: g.error_codes.iter().cloned().collect(),
            first_seen: g.first_seen.clone(),
            last_seen: g.last_seen.clone(),
            encoded: g.encoded,
            truncated: g.truncated,
            example_message: g.example_message.clone(),
            hint: hints::hint_for(g),
        }
    }
}

fn reason_count(r: &Reason, count: u64) -> ReasonCount {
    ReasonCount {
        code: r.code(),
        kind: r.kind,
        policy_type: r.policy_type.map(|p| p.phrase().to_string()),
        policy_arn: r.policy_arn.clone(),
        count,
    }
}

impl Report {
    /// Build a report from totals and groups (any order).
    pub fn new(mut summary: Summary, mut groups: Vec<Group>, errors: &[InputError]) -> Report {
        sort_groups(&mut groups);
        summary.groups = groups.len() as u64;
        summary.denials = groups.iter().map(|g| g.count).sum();
        let mut principals: Vec<&str> = groups.iter().map(|g| g.principal.as_str()).collect();
        principals.sort_unstable();
        principals.dedup();
        summary.principals = principals.len() as u64;
        Report {
            version: SCHEMA_VERSION,
            summary,
            groups: groups.iter().map(ReportGroup::from_group).collect(),
            errors: errors
                .iter()
                .take(MAX_LISTED_ERRORS)
                .map(ReportError::from)
                .collect(),
            denials: None,
        }
    }

    /// The JSON form (pretty, stable field order).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\":\"cannot serialize the report: {e}\"}}"));
        s.push('\n');
        s
    }

    /// The table form, for people.
    pub fn to_table(&self) -> String {
        let s = &self.summary;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "denytrail: {} denials, {} principals, {} groups — {} records in {} inputs ({}), {} input errors (scope: {})",
            s.denials,
            s.principals,
            s.groups,
            s.records,
            s.files,
            human_bytes(s.bytes),
            s.errors,
            s.scope
        );
        if !s.auth_failures.is_empty() {
            let list: Vec<String> = s
                .auth_failures
                .iter()
                .map(|(k, v)| format!("{k} ×{v}"))
                .collect();
            let _ = writeln!(
                o,
                "authentication failures (not denials): {}",
                list.join(", ")
            );
        }
        if s.out_of_scope > 0 {
            let _ = writeln!(
                o,
                "{} more denials are outside the scope (use --scope all to see them)",
                s.out_of_scope
            );
        }
        let mut last_principal: Option<&str> = None;
        for g in &self.groups {
            if last_principal != Some(g.principal.as_str()) {
                let _ = writeln!(o);
                let sessions = if g.sessions.is_empty() {
                    String::new()
                } else {
                    let n = g.sessions.len();
                    format!("  ({n} session{})", if n == 1 { "" } else { "s" })
                };
                let _ = writeln!(o, "{}{}", g.principal, sessions);
                last_principal = Some(&g.principal);
            }
            let via = if g.via.is_empty() {
                String::new()
            } else {
                format!("  via {}", g.via.join(", "))
            };
            let when = match (&g.first_seen, &g.last_seen) {
                (Some(f), Some(l)) if f != l => format!("  {f} … {l}"),
                (Some(f), _) => format!("  {f}"),
                _ => String::new(),
            };
            let _ = writeln!(o, "  {}  ×{}{}{}", g.action, g.count, via, when);
            for r in g.resources.iter().take(10) {
                let _ = writeln!(o, "    resource  {}  ×{}", r.arn, r.count);
            }
            if g.resources.len() > 10 {
                let _ = writeln!(o, "    … {} more resources", g.resources.len() - 10);
            }
            for r in &g.reasons {
                let _ = writeln!(o, "    reason    {}  ×{}", describe_reason(r), r.count);
            }
            let _ = writeln!(o, "    hint [{}]", g.hint.code.as_str());
            for line in g.hint.text.lines() {
                let _ = writeln!(o, "      {line}");
            }
            for (title, doc) in g.hint.documents() {
                let text = serde_json::to_string_pretty(doc).unwrap_or_default();
                let _ = writeln!(o, "    {title}");
                for line in text.lines() {
                    let _ = writeln!(o, "      {line}");
                }
            }
        }
        if !self.errors.is_empty() {
            let _ = writeln!(o, "\ninput errors (first {}):", self.errors.len().min(20));
            for e in self.errors.iter().take(20) {
                let _ = writeln!(
                    o,
                    "  {}: byte {}: {}: {}",
                    e.origin, e.offset, e.kind, e.detail
                );
            }
        }
        o
    }

    /// The markdown form, for tickets and wikis.
    pub fn to_markdown(&self) -> String {
        let s = &self.summary;
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
            s.scope
        );
        if !self.groups.is_empty() {
            let _ = writeln!(
                o,
                "| principal | action | count | hint | first seen | last seen |"
            );
            let _ = writeln!(o, "|---|---|---:|---|---|---|");
            for g in &self.groups {
                let _ = writeln!(
                    o,
                    "| `{}` | `{}` | {} | `{}` | {} | {} |",
                    md_escape(&g.principal),
                    md_escape(&g.action),
                    g.count,
                    g.hint.code.as_str(),
                    g.first_seen.as_deref().unwrap_or(""),
                    g.last_seen.as_deref().unwrap_or("")
                );
            }
        }
        for g in &self.groups {
            let _ = writeln!(
                o,
                "\n## `{}` — `{}` ×{}\n",
                md_escape(&g.principal),
                md_escape(&g.action),
                g.count
            );
            if !g.via.is_empty() {
                let _ = writeln!(
                    o,
                    "Via: {}\n",
                    g.via
                        .iter()
                        .map(|v| format!("`{v}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            if !g.resources.is_empty() {
                let _ = writeln!(o, "Resources:\n");
                for r in &g.resources {
                    let _ = writeln!(o, "- `{}` ×{}", md_escape(&r.arn), r.count);
                }
                let _ = writeln!(o);
            }
            let _ = writeln!(o, "Reasons:\n");
            for r in &g.reasons {
                let _ = writeln!(o, "- {} ×{}", describe_reason(r), r.count);
            }
            let _ = writeln!(o, "\n**Hint** (`{}`):\n", g.hint.code.as_str());
            for line in g.hint.text.lines() {
                let _ = writeln!(o, "> {line}");
            }
            for (title, doc) in g.hint.documents() {
                let text = serde_json::to_string_pretty(doc).unwrap_or_default();
                let _ = writeln!(o, "\n{title}:\n\n```json\n{text}\n```");
            }
        }
        if !self.errors.is_empty() {
            let _ = writeln!(o, "\n## Input errors\n");
            for e in &self.errors {
                let _ = writeln!(
                    o,
                    "- `{}` byte {}: {}: {}",
                    md_escape(&e.origin),
                    e.offset,
                    e.kind,
                    e.detail
                );
            }
        }
        o
    }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('`', "'")
}

/// One line describing a reason.
pub fn describe_reason(r: &ReasonCount) -> String {
    let mut s = match (r.kind, &r.policy_type) {
        (DenyKind::Explicit, Some(p)) => format!("explicit deny in a {p}"),
        (DenyKind::Implicit, Some(p)) => format!("no {p} allows it"),
        (DenyKind::Explicit, None) => "explicit deny".to_string(),
        (DenyKind::Implicit, None) => "no policy allows it".to_string(),
        (DenyKind::Unknown, _) => "not stated in the message".to_string(),
    };
    if let Some(a) = &r.policy_arn {
        let _ = write!(s, " ({a})");
    }
    s
}

/// `1.2 MB` style sizes.
pub fn human_bytes(b: u64) -> String {
    const U: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1000.0 && i < U.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_234_567), "1.2 MB");
    }

    #[test]
    fn empty_report_round_trips() {
        let r = Report::new(Summary::default(), Vec::new(), &[]);
        let back: Report = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(back, r);
        assert!(r.to_table().contains("0 denials"));
        assert!(r.to_markdown().starts_with("# denytrail report"));
    }
}
