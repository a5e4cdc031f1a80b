//! One principal/action group: exact counts, bounded lists.

use serde::{Deserialize, Serialize};

use super::counted::{Counted, ListValue};
use crate::classify::{Denial, PrincipalKind, Reason};
use crate::time::earlier;

/// Longest example message kept, in bytes (CloudTrail cuts its messages at
/// 1024 characters; a text log line can be longer).
pub const MAX_EXAMPLE: usize = 4096;

impl ListValue for Reason {
    fn stable_hash(&self) -> u64 {
        let mut key = self.code();
        if let Some(a) = &self.policy_arn {
            key.push('\0');
            key.push_str(a);
        }
        crate::hash::stable(key.as_bytes())
    }
}

/// All denials of one principal on one action.
///
/// The counts are exact. Each list keeps exact counts for at most `k`
/// values, the same ones however the input is ordered or split (see
/// [`Counted`]), and says how many denials and about how many distinct
/// values it left out.
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
    /// Resources and their denials.
    pub resources: Counted<String>,
    /// Session ARNs (assumed-role sessions) and their denials.
    pub sessions: Counted<String>,
    /// Reasons and their denials.
    pub reasons: Counted<Reason>,
    /// Called APIs, when they differ from the action.
    pub via: Counted<String>,
    /// Accounts that recorded a copy of the events (both copies of a
    /// cross-account call, every repeated delivery): deliveries, not
    /// distinct events.
    pub accounts: Counted<String>,
    /// Regions.
    pub regions: Counted<String>,
    /// VPC endpoints the calls went through.
    pub vpc_endpoints: Counted<String>,
    /// Error codes.
    pub error_codes: Counted<String>,
    /// Earliest `eventTime`.
    pub first_seen: Option<String>,
    /// Latest `eventTime`.
    pub last_seen: Option<String>,
    /// How many messages were encoded authorization failure messages.
    pub encoded: u64,
    /// How many messages were truncated at 1024 characters.
    pub truncated: u64,
    /// The message of the earliest event (ties: the smallest message), for
    /// people; at most [`MAX_EXAMPLE`] bytes.
    pub example_message: Option<String>,
}

/// The 32-bit hash prefixes of a denial's list values, as a shard's dedup
/// record keeps them: enough to take one repeated delivery back out of a
/// group when shards are merged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Contribution {
    /// `resources`, `sessions`, `reasons`, `via`, `regions`,
    /// `vpc_endpoints`, `error_codes` (in that order), `None` when the
    /// denial has no such value.
    pub fields: [Option<u32>; 7],
    /// The message was encoded.
    pub encoded: bool,
    /// The message was truncated.
    pub truncated: bool,
}

fn prefix<T: ListValue>(v: &T) -> u32 {
    (v.stable_hash() >> 32) as u32
}

fn prefix_str(v: &str) -> u32 {
    (crate::hash::stable(v.as_bytes()) >> 32) as u32
}

impl Contribution {
    /// What `d` adds to its group's lists.
    pub fn of(d: &Denial) -> Contribution {
        Contribution {
            fields: [
                d.resource.as_deref().map(prefix_str),
                d.session.as_deref().map(prefix_str),
                Some(prefix(&d.reason)),
                d.via.as_deref().map(prefix_str),
                d.region.as_deref().map(prefix_str),
                d.vpc_endpoint_id.as_deref().map(prefix_str),
                d.error_code.as_deref().map(prefix_str),
            ],
            encoded: d.encoded,
            truncated: d.truncated,
        }
    }
}

/// `m`, cut to at most [`MAX_EXAMPLE`] bytes at a character boundary.
fn cut(m: &str) -> &str {
    if m.len() <= MAX_EXAMPLE {
        return m;
    }
    let mut end = MAX_EXAMPLE;
    while !m.is_char_boundary(end) {
        end -= 1;
    }
    &m[..end]
}

impl Group {
    /// An empty group for the principal and action of `d`, its lists
    /// holding at most [`DEFAULT_K`](super::counted::DEFAULT_K) values each.
    pub fn new(d: &Denial) -> Group {
        Group::with_list_max(d, super::counted::DEFAULT_K)
    }

    /// An empty group for the principal and action of `d`, its lists
    /// holding at most `k` values each.
    pub fn with_list_max(d: &Denial, k: usize) -> Group {
        Group {
            principal: d.principal.clone(),
            principal_kind: d.principal_kind,
            principal_account: d.principal_account.clone(),
            action: d.action.clone(),
            count: 0,
            resources: Counted::new(k),
            sessions: Counted::new(k),
            reasons: Counted::new(k),
            via: Counted::new(k),
            accounts: Counted::new(k),
            regions: Counted::new(k),
            vpc_endpoints: Counted::new(k),
            error_codes: Counted::new(k),
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
            self.resources.add_ref(r.as_str(), 1);
        }
        if let Some(s) = &d.session {
            self.sessions.add_ref(s.as_str(), 1);
        }
        self.reasons.add(d.reason.clone(), 1);
        if let Some(v) = &d.via {
            self.via.add_ref(v.as_str(), 1);
        }
        self.copy_recorded(d.account.as_deref());
        if let Some(r) = &d.region {
            self.regions.add_ref(r.as_str(), 1);
        }
        if let Some(v) = &d.vpc_endpoint_id {
            self.vpc_endpoints.add_ref(v.as_str(), 1);
        }
        if let Some(c) = &d.error_code {
            self.error_codes.add_ref(c.as_str(), 1);
        }
        let m = cut(&d.message);
        if !m.is_empty()
            && better_example(
                self.example_message.as_deref(),
                self.first_seen.as_deref(),
                m,
                d.event_time.as_deref(),
            )
        {
            self.example_message = Some(m.to_string());
        }
        if let Some(t) = &d.event_time {
            self.seen_at(t, t);
        }
        self.encoded += u64::from(d.encoded);
        self.truncated += u64::from(d.truncated);
    }

    /// Another copy of an event counted here was recorded in `account`.
    pub fn copy_recorded(&mut self, account: Option<&str>) {
        if let Some(a) = account {
            self.accounts.add_ref(a, 1);
        }
    }

    fn seen_at(&mut self, first: &str, last: &str) {
        if self.first_seen.as_deref().is_none_or(|f| earlier(first, f)) {
            self.first_seen = Some(first.to_string());
        }
        if self.last_seen.as_deref().is_none_or(|l| earlier(l, last)) {
            self.last_seen = Some(last.to_string());
        }
    }

    /// Fold another group of the same principal/action into this one: the
    /// result is the group one aggregate fed both groups' denials would hold.
    pub fn merge(&mut self, other: &Group) {
        self.count += other.count;
        self.resources.merge(&other.resources);
        self.sessions.merge(&other.sessions);
        self.reasons.merge(&other.reasons);
        self.via.merge(&other.via);
        self.accounts.merge(&other.accounts);
        self.regions.merge(&other.regions);
        self.vpc_endpoints.merge(&other.vpc_endpoints);
        self.error_codes.merge(&other.error_codes);
        if let Some(m) = &other.example_message {
            if better_example(
                self.example_message.as_deref(),
                self.first_seen.as_deref(),
                m,
                other.first_seen.as_deref(),
            ) {
                self.example_message = Some(m.clone());
            }
        }
        match (&other.first_seen, &other.last_seen) {
            (Some(f), Some(l)) => self.seen_at(f, l),
            (Some(t), None) | (None, Some(t)) => self.seen_at(t, t),
            (None, None) => {}
        }
        self.encoded += other.encoded;
        self.truncated += other.truncated;
    }

    /// Take one denial with contribution `c` back out (a repeated delivery
    /// that another shard also counted).
    pub fn take_back(&mut self, c: &Contribution) {
        self.count = self.count.saturating_sub(1);
        let lists: [&mut dyn TakeBack; 7] = [
            &mut self.resources,
            &mut self.sessions,
            &mut self.reasons,
            &mut self.via,
            &mut self.regions,
            &mut self.vpc_endpoints,
            &mut self.error_codes,
        ];
        for (list, f) in lists.into_iter().zip(c.fields) {
            if let Some(p) = f {
                list.take_back_one(p);
            }
        }
        self.encoded = self.encoded.saturating_sub(u64::from(c.encoded));
        self.truncated = self.truncated.saturating_sub(u64::from(c.truncated));
    }

    /// Drop listed values left at zero by [`take_back`](Group::take_back).
    pub fn drop_empty(&mut self) {
        self.resources.drop_empty();
        self.sessions.drop_empty();
        self.reasons.drop_empty();
        self.via.drop_empty();
        self.accounts.drop_empty();
        self.regions.drop_empty();
        self.vpc_endpoints.drop_empty();
        self.error_codes.drop_empty();
    }
}

/// A list a repeated delivery can be taken back from.
trait TakeBack {
    fn take_back_one(&mut self, prefix: u32);
}

impl<T: ListValue> TakeBack for Counted<T> {
    fn take_back_one(&mut self, prefix: u32) {
        self.take_back(prefix);
    }
}

/// Is `cand` (seen at `cand_time`) a better example than `cur` (the example
/// of a group first seen at `cur_first`)? Earlier wins; ties go to the
/// smaller message.
fn better_example(
    cur: Option<&str>,
    cur_first: Option<&str>,
    cand: &str,
    cand_time: Option<&str>,
) -> bool {
    match (cur, cand_time, cur_first) {
        (None, _, _) => true,
        (Some(_), Some(t), Some(f)) if earlier(t, f) => true,
        (Some(e), t, f) if t == f => cand < e,
        (Some(_), Some(_), None) => true,
        _ => false,
    }
}
