//! Group denials by principal and action, dedup repeated deliveries.
//!
//! Pure and synchronous: takes [`Denial`]s, keeps [`Group`]s. Knows nothing of
//! hints, reports or metrics; those read the groups afterwards.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::classify::{Denial, PrincipalKind, Reason};

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
        if self.example_message.is_none() && !d.message.is_empty() {
            self.example_message = Some(d.message.clone());
        }
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
        self.vpc_endpoints.extend(other.vpc_endpoints.iter().cloned());
        self.error_codes.extend(other.error_codes.iter().cloned());
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
        if self.example_message.is_none() {
            self.example_message = other.example_message.clone();
        }
    }
}

fn insert_opt(set: &mut BTreeSet<String>, v: &Option<String>) {
    if let Some(v) = v {
        if !set.contains(v) {
            set.insert(v.clone());
        }
    }
}
