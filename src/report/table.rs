//! The table rendering of a report, for a terminal: the summary, the top
//! principals and actions when there are many groups, then the largest
//! groups in detail. Every value from a log goes through [`shown`].

use std::fmt::Write as _;

use super::{View, describe_reason, human_bytes, shown};

/// Principals and actions listed in the summary of a big report.
const ROLLUP_ROWS: usize = 10;

/// Render a report's view: the summary, the rollup when not every group is
/// shown, the groups shown.
pub(crate) fn render(r: &View<'_>) -> String {
    let s = r.summary;
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
        shown(&s.scope)
    );
    if !s.auth_failures.is_empty() {
        let list: Vec<String> = s
            .auth_failures
            .iter()
            .map(|(k, v)| format!("{} ×{v}", shown(k)))
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
    if s.out_of_range > 0 {
        let _ = writeln!(
            o,
            "{} more denials or authentication failures are outside --since/--until",
            s.out_of_range
        );
    }
    let shown_groups = r.shown.len();
    if shown_groups < r.total {
        rollup(&mut o, r);
        let _ = writeln!(
            o,
            "\nthe {shown_groups} largest of {} groups; the other {} are in the JSON report (--format json), or list them all with --top 0",
            r.total,
            r.total - shown_groups
        );
    }
    let mut last_principal: Option<&str> = None;
    for g in r.shown {
        if last_principal != Some(g.principal.as_str()) {
            let _ = writeln!(o);
            let sessions = match g.sessions.len()
                + g.unlisted
                    .get("sessions")
                    .map_or(0, |u| u.distinct_estimate as usize)
            {
                0 => String::new(),
                n => format!("  ({n} session{})", if n == 1 { "" } else { "s" }),
            };
            let _ = writeln!(o, "{}{}", shown(&g.principal), sessions);
            last_principal = Some(&g.principal);
        }
        let via = if g.via.is_empty() {
            String::new()
        } else {
            let v: Vec<String> = g.via.iter().map(|v| shown(v).into_owned()).collect();
            format!("  via {}", v.join(", "))
        };
        let when = match (&g.first_seen, &g.last_seen) {
            (Some(f), Some(l)) if f != l => format!("  {} … {}", shown(f), shown(l)),
            (Some(f), _) => format!("  {}", shown(f)),
            _ => String::new(),
        };
        let _ = writeln!(o, "  {}  ×{}{}{}", shown(&g.action), g.count, via, when);
        for res in g.resources.iter().take(10) {
            let _ = writeln!(o, "    resource  {}  ×{}", shown(&res.arn), res.count);
        }
        let more_listed = g.resources.len().saturating_sub(10);
        match (more_listed, g.unlisted.get("resources")) {
            (0, None) => {}
            (n, None) => {
                let _ = writeln!(o, "    … {n} more resources");
            }
            (n, Some(u)) => {
                let _ = writeln!(
                    o,
                    "    … about {} more resources ({} denials on resources not listed)",
                    n as u64 + u.distinct_estimate,
                    u.count
                );
            }
        }
        for reason in &g.reasons {
            let _ = writeln!(
                o,
                "    reason    {}  ×{}",
                shown(&describe_reason(reason)),
                reason.count
            );
        }
        let _ = writeln!(o, "    hint [{}]", g.hint.code.as_str());
        for line in g.hint.advice(r.notes).lines() {
            let _ = writeln!(o, "      {}", shown(line));
        }
        for (title, doc) in g.hint.documents_in(r.policies) {
            let text = serde_json::to_string_pretty(doc).unwrap_or_default();
            let _ = writeln!(o, "    {title}");
            for line in text.lines() {
                let _ = writeln!(o, "      {}", shown(line));
            }
        }
    }
    if !r.errors.is_empty() {
        let _ = writeln!(o, "\ninput errors (first {}):", r.errors.len().min(20));
        for e in r.errors.iter().take(20) {
            let _ = writeln!(
                o,
                "  {}: byte {}: {}: {}",
                shown(&e.origin),
                e.offset,
                e.kind,
                shown(&e.detail)
            );
        }
    }
    o
}

fn rollup(o: &mut String, r: &View<'_>) {
    let roll = &r.rollup;
    let _ = writeln!(
        o,
        "\ntop principals ({} of {}):\n  {:>8}  {:>6}  principal",
        roll.principals.len().min(ROLLUP_ROWS),
        roll.principals.len(),
        "denials",
        "groups"
    );
    for (p, d, n) in roll.principals.iter().take(ROLLUP_ROWS) {
        let _ = writeln!(o, "  {d:>8}  {n:>6}  {}", shown(p));
    }
    let _ = writeln!(
        o,
        "\ntop actions ({} of {}):\n  {:>8}  {:>10}  action",
        roll.actions.len().min(ROLLUP_ROWS),
        roll.actions.len(),
        "denials",
        "principals"
    );
    for (a, d, n) in roll.actions.iter().take(ROLLUP_ROWS) {
        let _ = writeln!(o, "  {d:>8}  {n:>10}  {}", shown(a));
    }
}
