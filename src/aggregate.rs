//! Group denials by principal and action, dedup repeated deliveries.
//!
//! Pure and synchronous: takes [`Denial`]s, keeps [`Group`]s. Knows nothing of
//! hints, reports or metrics; those read the groups afterwards.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::classify::{Denial, PrincipalKind, Reason};

/// The principal a bounded aggregate (the sidecar past `--max-series`)
/// counts folded principals under.
pub const FOLDED_PRINCIPAL: &str = "__other__";

/// All denials of one principal on one action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// The principal (role ARN for assumed-role sessions).
    pub principal: String,
    /// What kind of principal.
    pub principal_kind: PrincipalKind,
    /// The principal's account, when known.
    pub principal_account: Option<String>,
    /// The denied IAM action.
    pub action: String,
    /// Number of distinct denial events.
    pub count: u64,
    /// Resource → count. Denials without a resource are not listed here.
    pub resources: BTreeMap<String, u64>,
    /// Session ARNs seen (assumed-role sessions).
    pub sessions: BTreeSet<String>,
    /// Reason → count.
    pub reasons: BTreeMap<Reason, u64>,
    /// Called APIs when they differ from the action.
    pub via: BTreeSet<String>,
    /// Accounts that recorded the events.
    pub accounts: BTreeSet<String>,
    /// Regions.
    pub regions: BTreeSet<String>,
    /// VPC endpoints the calls went through.
    pub vpc_endpoints: BTreeSet<String>,
    /// Error codes seen.
    pub error_codes: BTreeSet<String>,
    /// Earliest `eventTime` (ISO-8601 strings compare in time order).
    pub first_seen: Option<String>,
    /// Latest `eventTime`.
    pub last_seen: Option<String>,
    /// How many messages were encoded authorization failure messages.
    pub encoded: u64,
    /// How many messages were truncated at 1024 characters.
    pub truncated: u64,
    /// One example message (the first seen), for people.
    pub example_message: Option<String>,
}

impl Group {
    /// An empty group for `principal` / `action`.
    pub fn new(d: &Denial) -> Group {
        Group {
            principal: d.principal.clone(),
            principal_kind: d.principal_kind,
            principal_account: d.principal_account.clone(),
            action: d.action.clone(),
            count: 0,
            resources: BTreeMap::new(),
            sessions: BTreeSet::new(),
            reasons: BTreeMap::new(),
            via: BTreeSet::new(),
            accounts: BTreeSet::new(),
            regions: BTreeSet::new(),
            vpc_endpoints: BTreeSet::new(),
            error_codes: BTreeSet::new(),
            first_seen: None,
            last_seen: None,
            encoded: 0,
            truncated: 0,
            example_message: None,
        }
    }

    /// Count one denial into this group.
    pub fn add(&mut self, d: &Denial) {
        self.count += 1;
        if let Some(r) = &d.resource {
            *self.resources.entry(r.clone()).or_insert(0) += 1;
        }
        if let Some(s) = &d.session {
            self.sessions.insert(s.clone());
        }
        *self.reasons.entry(d.reason.clone()).or_insert(0) += 1;
        if let Some(v) = &d.via {
            self.via.insert(v.clone());
        }
        insert_opt(&mut self.accounts, &d.account);
        insert_opt(&mut self.regions, &d.region);
        insert_opt(&mut self.vpc_endpoints, &d.vpc_endpoint_id);
        insert_opt(&mut self.error_codes, &d.error_code);
        // The example is the message of the earliest event (ties: the
        // smallest message), so it does not depend on the order of arrival.
        if !d.message.is_empty()
            && better_example(
                &self.example_message,
                &self.first_seen,
                &d.message,
                &d.event_time,
            )
        {
            self.example_message = Some(d.message.clone());
        }
        if let Some(t) = &d.event_time {
            if self.first_seen.as_ref().is_none_or(|f| t < f) {
                self.first_seen = Some(t.clone());
            }
            if self.last_seen.as_ref().is_none_or(|l| t > l) {
                self.last_seen = Some(t.clone());
            }
        }
        self.encoded += u64::from(d.encoded);
        self.truncated += u64::from(d.truncated);
    }

    /// Fold another group of the same principal/action into this one.
    pub fn merge(&mut self, other: &Group) {
        self.count += other.count;
        for (r, c) in &other.resources {
            *self.resources.entry(r.clone()).or_insert(0) += c;
        }
        self.sessions.extend(other.sessions.iter().cloned());
        for (r, c) in &other.reasons {
            *self.reasons.entry(r.clone()).or_insert(0) += c;
        }
        self.via.extend(other.via.iter().cloned());
        self.accounts.extend(other.accounts.iter().cloned());
        self.regions.extend(other.regions.iter().cloned());
        self.vpc_endpoints
            .extend(other.vpc_endpoints.iter().cloned());
        self.error_codes.extend(other.error_codes.iter().cloned());
        if let Some(m) = &other.example_message {
            if better_example(
                &self.example_message,
                &self.first_seen,
                m,
                &other.first_seen,
            ) {
                self.example_message = Some(m.clone());
            }
        }
        if let Some(f) = &other.first_seen {
            if self.first_seen.as_ref().is_none_or(|s| f < s) {
                self.first_seen = Some(f.clone());
            }
        }
        if let Some(l) = &other.last_seen {
            if self.last_seen.as_ref().is_none_or(|s| l > s) {
                self.last_seen = Some(l.clone());
            }
        }
        self.encoded += other.encoded;
        self.truncated += other.truncated;
    }
}

/// Is `cand` (seen at `cand_time`) a better example than `cur` (the example
/// of a group first seen at `cur_first`)? Earlier wins; ties go to the
/// smaller message.
fn better_example(
    cur: &Option<String>,
    cur_first: &Option<String>,
    cand: &str,
    cand_time: &Option<String>,
) -> bool {
    match (cur, cand_time, cur_first) {
        (None, _, _) => true,
        (Some(_), Some(t), Some(f)) if t < f => true,
        (Some(e), t, f) if t == f => cand < e.as_str(),
        (Some(_), Some(_), None) => true,
        _ => false,
    }
}

fn insert_opt(set: &mut BTreeSet<String>, v: &Option<String>) {
    if let Some(v) = v {
        if !set.contains(v) {
            set.insert(v.clone());
        }
    }
}

/// The key a delivery is deduplicated by: `sharedEventID` when present (the
/// two copies of a cross-account call share it), else `eventID`.
fn dedup_key(d: &Denial) -> Option<&str> {
    d.shared_event_id.as_deref().or(d.event_id.as_deref())
}

/// Groups denials by principal and action, counting each event once.
///
/// ```
/// use denytrail::aggregate::Aggregator;
/// let agg = Aggregator::default();
/// assert_eq!(agg.groups().count(), 0);
/// ```
#[derive(Debug, Default, Clone)]
pub struct Aggregator {
    groups: BTreeMap<(String, String), Group>,
    /// Dedup key → the group it was counted in.
    seen: std::collections::HashMap<String, (String, String)>,
    duplicates: u64,
}

impl Aggregator {
    /// Count one denial. Returns `false` when it was a repeated delivery.
    pub fn add(&mut self, d: &Denial) -> bool {
        if let Some(k) = dedup_key(d) {
            if let Some(gk) = self.seen.get(k) {
                self.duplicates += 1;
                // The other copy of a cross-account call: same event, but its
                // recording account is worth keeping.
                if let (Some(g), Some(acct)) = (self.groups.get_mut(gk), &d.account) {
                    if !g.accounts.contains(acct) {
                        g.accounts.insert(acct.clone());
                    }
                }
                return false;
            }
            self.seen
                .insert(k.to_string(), (d.principal.clone(), d.action.clone()));
        }
        let key = (d.principal.clone(), d.action.clone());
        self.groups
            .entry(key)
            .or_insert_with(|| Group::new(d))
            .add(d);
        true
    }

    /// Repeated deliveries dropped so far.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Distinct events counted so far.
    pub fn denials(&self) -> u64 {
        self.groups.values().map(|g| g.count).sum()
    }

    /// The groups, in principal/action order.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// Distinct principals.
    pub fn principals(&self) -> usize {
        let mut n = 0;
        let mut last: Option<&str> = None;
        for (p, _) in self.groups.keys() {
            if last != Some(p.as_str()) {
                n += 1;
                last = Some(p);
            }
        }
        n
    }

    /// The groups sorted for reports: by count descending, then principal
    /// and action.
    pub fn into_sorted(self) -> Vec<Group> {
        let mut v: Vec<Group> = self.groups.into_values().collect();
        sort_groups(&mut v);
        v
    }

    /// Forget dedup keys (the sidecar bounds its memory this way); groups
    /// are kept.
    pub fn clear_seen(&mut self) {
        self.seen.clear();
    }

    /// Number of dedup keys held.
    pub fn seen_len(&self) -> usize {
        self.seen.len()
    }
}

/// Sort groups the way reports show them: count descending, then principal,
/// then action.
pub fn sort_groups(v: &mut [Group]) {
    v.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.principal.cmp(&b.principal))
            .then_with(|| a.action.cmp(&b.action))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{DenyKind, PolicyType};

    fn denial(principal: &str, action: &str, id: &str) -> Denial {
        Denial {
            principal: principal.into(),
            principal_kind: PrincipalKind::Role,
            principal_account: Some("111111111111".into()),
            session: Some(format!("{principal}/s")),
            action: action.into(),
            via: None,
            resource: Some("arn:aws:iam::111111111111:role/r".into()),
            reason: Reason {
                kind: DenyKind::Implicit,
                policy_type: Some(PolicyType::IdentityBased),
                policy_arn: None,
            },
            account: Some("111111111111".into()),
            region: Some("us-east-1".into()),
            event_time: Some(format!("2024-01-01T00:00:0{}Z", id.len() % 10)),
            event_id: Some(id.into()),
            shared_event_id: None,
            vpc_endpoint_id: None,
            error_code: Some("AccessDenied".into()),
            event_source: Some("iam.amazonaws.com".into()),
            encoded: false,
            truncated: false,
            message: "m".into(),
        }
    }

    #[test]
    fn groups_and_dedups() {
        let mut a = Aggregator::default();
        assert!(a.add(&denial("p1", "iam:PassRole", "e1")));
        assert!(!a.add(&denial("p1", "iam:PassRole", "e1")));
        assert!(a.add(&denial("p1", "iam:PassRole", "e2")));
        assert!(a.add(&denial("p2", "iam:PassRole", "e3")));
        let mut shared = denial("p2", "iam:PassRole", "e4");
        shared.shared_event_id = Some("s1".into());
        assert!(a.add(&shared));
        shared.event_id = Some("e5".into());
        shared.account = Some("222222222222".into());
        assert!(!a.add(&shared));
        assert_eq!(a.duplicates(), 2);
        assert_eq!(a.denials(), 4);
        assert_eq!(a.principals(), 2);
        let g = a.into_sorted();
        assert_eq!(g[0].principal, "p1");
        assert_eq!(g[0].count, 2);
        assert_eq!(g[1].count, 2);
        assert_eq!(g[1].accounts.len(), 2);
        assert_eq!(g[0].resources.values().sum::<u64>(), 2);
    }

    #[test]
    fn merge_equals_adding_all() {
        let ds: Vec<Denial> = (0..20)
            .map(|i| denial(&format!("p{}", i % 3), "iam:PassRole", &format!("e{i}")))
            .collect();
        let mut whole = Aggregator::default();
        ds.iter().for_each(|d| {
            whole.add(d);
        });
        let mut left = Aggregator::default();
        let mut right = Aggregator::default();
        for (i, d) in ds.iter().enumerate() {
            if i % 2 == 0 {
                left.add(d)
            } else {
                right.add(d)
            };
        }
        let mut merged: BTreeMap<(String, String), Group> = BTreeMap::new();
        for g in left.groups().chain(right.groups()) {
            merged
                .entry((g.principal.clone(), g.action.clone()))
                .and_modify(|m| m.merge(g))
                .or_insert_with(|| g.clone());
        }
        let mut m: Vec<Group> = merged.into_values().collect();
        sort_groups(&mut m);
        assert_eq!(m, whole.into_sorted());
    }
}
