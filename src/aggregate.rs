//! Group denials by principal and action, dedup repeated deliveries.
//!
//! Pure and synchronous: takes [`Denial`]s, keeps [`Group`]s. Knows nothing of
//! hints, reports or metrics; those read the groups afterwards.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};

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
    /// Roles or instance profiles the requests passed when their messages
    /// named no action ([`Denial::passes`]).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub passes: BTreeSet<String>,
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
            passes: BTreeSet::new(),
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
        if let Some(p) = &d.passes {
            self.passes.insert(p.clone());
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
            if self.first_seen.as_ref().is_none_or(|f| earlier(t, f)) {
                self.first_seen = Some(t.clone());
            }
            if self.last_seen.as_ref().is_none_or(|l| earlier(l, t)) {
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
        self.passes.extend(other.passes.iter().cloned());
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
            if self.first_seen.as_ref().is_none_or(|s| earlier(f, s)) {
                self.first_seen = Some(f.clone());
            }
        }
        if let Some(l) = &other.last_seen {
            if self.last_seen.as_ref().is_none_or(|s| earlier(s, l)) {
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
        (Some(_), Some(t), Some(f)) if earlier(t, f) => true,
        (Some(e), t, f) if t == f => cand < e.as_str(),
        (Some(_), Some(_), None) => true,
        _ => false,
    }
}

/// A sortable form of an event time: `2024-05-01T10:00:00Z`,
/// `2024-05-01T10:00:00.123Z` and a log line's `2024-05-01 10:00:00,123`
/// become `2024-05-01T10:00:00.000000000` and so on, so that precision and
/// separators do not decide the order (as plain string order would:
/// `…:00.5Z` sorts before `…:00Z`). Times are taken as UTC.
fn time_key(t: &str) -> String {
    let (Some(head), Some(rest)) = (t.get(..19), t.get(19..)) else {
        return t.to_string();
    };
    let frac: String = rest
        .strip_prefix(['.', ','])
        .unwrap_or("")
        .chars()
        .take_while(char::is_ascii_digit)
        .take(9)
        .collect();
    let mut key = head.replacen(' ', "T", 1);
    key.push('.');
    key.push_str(&format!("{frac:0<9}"));
    key
}

/// Is event time `a` strictly before `b`?
fn earlier(a: &str, b: &str) -> bool {
    time_key(a) < time_key(b)
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
/// Memory grows with the distinct groups and, for exact deduplication,
/// with one 64-bit hash and one index per distinct event (not a copy of its
/// ID): two different IDs sharing a 64-bit hash would be taken for one event,
/// a chance of about 3·10⁻⁸ in a million events.
///
/// ```
/// use denytrail::aggregate::Aggregator;
/// let agg = Aggregator::default();
/// assert_eq!(agg.groups().count(), 0);
/// ```
#[derive(Debug, Default, Clone)]
pub struct Aggregator {
    groups: Vec<Group>,
    /// principal → action → index in `groups`.
    index: HashMap<String, HashMap<String, usize>>,
    /// Hash of the dedup key → the group it was counted in.
    seen: HashMap<u64, usize>,
    duplicates: u64,
}

fn key_hash(k: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    k.hash(&mut h);
    h.finish()
}

impl Aggregator {
    /// Count one denial. Returns `false` when it was a repeated delivery.
    pub fn add(&mut self, d: &Denial) -> bool {
        let key = dedup_key(d).map(key_hash);
        if let Some(k) = key {
            if let Some(&gi) = self.seen.get(&k) {
                self.duplicates += 1;
                // The other copy of a cross-account call: same event, but its
                // recording account is worth keeping.
                if let (Some(g), Some(acct)) = (self.groups.get_mut(gi), &d.account) {
                    if !g.accounts.contains(acct) {
                        g.accounts.insert(acct.clone());
                    }
                }
                return false;
            }
        }
        let gi = match self
            .index
            .get(d.principal.as_str())
            .and_then(|m| m.get(d.action.as_str()))
        {
            Some(&gi) => gi,
            None => {
                let gi = self.groups.len();
                self.groups.push(Group::new(d));
                self.index
                    .entry(d.principal.clone())
                    .or_default()
                    .insert(d.action.clone(), gi);
                gi
            }
        };
        self.groups[gi].add(d);
        if let Some(k) = key {
            self.seen.insert(k, gi);
        }
        true
    }

    /// Repeated deliveries dropped so far.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Distinct events counted so far.
    pub fn denials(&self) -> u64 {
        self.groups.iter().map(|g| g.count).sum()
    }

    /// The groups, in the order they were first seen.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.iter()
    }

    /// Distinct principals.
    pub fn principals(&self) -> usize {
        self.index.len()
    }

    /// The groups sorted for reports: by count descending, then principal
    /// and action.
    pub fn into_sorted(self) -> Vec<Group> {
        let mut v = self.groups;
        sort_groups(&mut v);
        v
    }

    /// Forget dedup keys (to bound memory); groups are kept.
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
            passes: None,
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
    fn times_of_different_precision_order_by_time() {
        assert!(earlier("2024-05-01T00:00:36Z", "2024-05-01T00:00:36.471Z"));
        assert!(earlier("2024-05-01 00:00:35,999", "2024-05-01T00:00:36Z"));
        assert!(!earlier("2024-05-01T00:00:36.000Z", "2024-05-01T00:00:36Z"));
        assert!(earlier(
            "2024-05-01T00:00:36.4Z",
            "2024-05-01T00:00:36.471Z"
        ));
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
