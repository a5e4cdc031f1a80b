//! Group denials by principal and action, drop repeated deliveries, keep the
//! run's counters: the one aggregate that replay, the sidecar (its metrics
//! and `/report`) and `merge` all count with.
//!
//! Pure and synchronous: takes what scanning found ([`Denial`]s,
//! [`AuthFailure`]s, [`InputError`]s, [`ScanStats`]), keeps [`Group`]s and
//! [`Totals`]. Knows nothing of hints, reports or metrics; those read the
//! groups afterwards.
//!
//! Memory follows groups, not denials: a group keeps exact counts and
//! bounded lists ([`group`]); what grows per distinct denial is only the
//! dedup set of replay (about 12 bytes each, [`dedup`]); the sidecar keeps a
//! bounded window instead. The error list is bounded too.
//!
//! | module | holds |
//! |---|---|
//! | [`group`] | one principal/action group: exact counts, bounded lists that are the same whatever the order or split |
//! | [`dedup`] | repeated-delivery detection, exact or a window |
//! | [`totals`] | the counters behind the report's summary |
//! | [`timeline`] | denials over time by action, bounded (the web page's chart) |
//! | [`shard`] | the compact record of a shard's events that `merge` dedups with |

pub mod dedup;
pub mod group;
pub mod shard;
pub mod timeline;
pub mod totals;

use std::collections::{BinaryHeap, VecDeque};
use std::hash::BuildHasher;

use serde::{Deserialize, Serialize};

use crate::classify::{AuthFailure, Denial};
use crate::input::InputError;
use crate::scan::ScanStats;
use crate::source::SourceKind;

pub use dedup::Dedup;
pub use group::{Contribution, Group, List, ListView};
pub use totals::{SkippedFile, Totals};

/// The principal a bounded aggregate (the sidecar past `--max-series`)
/// counts folded principals under.
pub const FOLDED_PRINCIPAL: &str = "__other__";

/// Group number used in dedup entries of authentication failures (they
/// belong to no group).
pub const NO_GROUP: u32 = u32::MAX;

/// How many input errors a report lists one by one (all are counted).
pub const MAX_LISTED_ERRORS: usize = 1000;

/// Which input errors are kept to be listed (all are counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorList {
    /// The first `n` in (origin, offset) order: the same whatever order
    /// parallel workers report them in (replay, merge).
    First(usize),
    /// The `n` most recent (the sidecar).
    Recent(usize),
}

/// The settings of an [`Aggregator`].
#[derive(Debug, Clone)]
pub struct AggregatorBuilder {
    list_max: usize,
    dedup: Option<usize>,
    errors: ErrorList,
}

impl Default for AggregatorBuilder {
    fn default() -> Self {
        AggregatorBuilder {
            list_max: group::DEFAULT_K,
            dedup: None,
            errors: ErrorList::First(MAX_LISTED_ERRORS),
        }
    }
}

impl AggregatorBuilder {
    /// Values listed per list of a group (`--list-max`).
    pub fn list_max(mut self, k: usize) -> Self {
        self.list_max = k;
        self
    }

    /// Remember only the last `n` dedup keys (the sidecar), instead of every
    /// key.
    pub fn dedup_window(mut self, n: usize) -> Self {
        self.dedup = Some(n);
        self
    }

    /// Which input errors to list.
    pub fn errors(mut self, e: ErrorList) -> Self {
        self.errors = e;
        self
    }

    /// Build.
    pub fn build(self) -> Aggregator {
        Aggregator {
            k: self.list_max.clamp(1, group::MAX_K),
            groups: Vec::new(),
            live: 0,
            index: GroupIndex::default(),
            templates: group::Templates::default(),
            timeline: timeline::Timeline::default(),
            dedup: match self.dedup {
                None => Dedup::Exact(dedup::ExactSet::new()),
                Some(n) => Dedup::Window(dedup::Window::new(n)),
            },
            totals: Totals::default(),
            errors: Errors::new(self.errors),
        }
    }
}

/// What [`Aggregator::add`] did with a denial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// Counted in group `group`.
    New {
        /// The group's number.
        group: u32,
    },
    /// A repeated delivery of an event already counted (in `group`, when
    /// that group still exists): dropped, its recording account noted.
    Duplicate {
        /// The group the first copy was counted in.
        group: Option<u32>,
    },
}

/// Groups, dedup and counters. See the module documentation.
///
/// ```
/// use denytrail::aggregate::Aggregator;
/// let agg = Aggregator::builder().build();
/// assert_eq!(agg.groups().count(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct Aggregator {
    k: usize,
    /// Groups by number; `None` once removed (until [`Aggregator::compact`]).
    groups: Vec<Option<Group>>,
    live: usize,
    /// (principal, action) → group number.
    index: GroupIndex,
    /// Example message shapes shared by the groups.
    templates: group::Templates,
    /// Denials over time by action.
    timeline: timeline::Timeline,
    dedup: Dedup,
    totals: Totals,
    errors: Errors,
}

/// The dedup key of an event: `sharedEventID` when present (the two copies
/// of a cross-account call share it), else `eventID`.
fn dedup_key(shared: Option<&str>, id: Option<&str>) -> Option<u64> {
    shared.or(id).map(|k| crate::hash::stable(k.as_bytes()))
}

impl Aggregator {
    /// Start configuring an aggregator.
    pub fn builder() -> AggregatorBuilder {
        AggregatorBuilder::default()
    }

    /// Values listed per list.
    pub fn list_max(&self) -> usize {
        self.k
    }

    /// The dedup key of a denial, if it has an event ID.
    pub fn key_of(d: &Denial) -> Option<u64> {
        dedup_key(d.shared_event_id.as_deref(), d.event_id.as_deref())
    }

    fn lookup(&self, principal: &str, action: &str) -> Option<u32> {
        self.index.get(&self.groups, principal, action)
    }

    /// Add a group, returning its number.
    fn push_group(&mut self, mut g: Group) -> u32 {
        let id = self.groups.len() as u32;
        g.set_number(id);
        g.share_example(&mut self.templates);
        self.index
            .insert(&self.groups, g.principal(), g.action(), id);
        if self.groups.len() == self.groups.capacity() {
            // A quarter more, not double: groups are the memory that counts.
            self.groups.reserve_exact((self.groups.len() / 4).max(1024));
        }
        self.groups.push(Some(g));
        self.live += 1;
        id
    }

    fn group_id(&mut self, d: &Denial, principal: &str, action: &str, folded: bool) -> u32 {
        if let Some(id) = self.lookup(principal, action) {
            return id;
        }
        let g = if folded {
            Group::empty(principal, action, self.k)
        } else {
            Group::with_list_max(d, self.k)
        };
        self.push_group(g)
    }

    /// Count one denial in its own group.
    pub fn add(&mut self, d: &Denial) -> Added {
        self.add_as(d, &d.principal, &d.action, false)
    }

    /// Count one denial in the group `principal`/`action`, which differs
    /// from the denial's own when `folded` (the sidecar's series cap).
    pub fn add_as(&mut self, d: &Denial, principal: &str, action: &str, folded: bool) -> Added {
        let probe = self.lookup(principal, action);
        if let Some(k) = Self::key_of(d) {
            let first = match probe {
                Some(id) => self.dedup.first_or(k, id),
                None => self.dedup.get(k),
            };
            if let Some(g) = first {
                return self.duplicate(d, g);
            }
            if probe.is_none() {
                let id = self.group_id(d, principal, action, folded);
                self.dedup.first_or(k, id);
                self.count_in(id, d);
                return Added::New { group: id };
            }
        }
        let id = match probe {
            Some(id) => id,
            None => self.group_id(d, principal, action, folded),
        };
        self.count_in(id, d);
        Added::New { group: id }
    }

    fn count_in(&mut self, id: u32, d: &Denial) {
        if let Some(Some(g)) = self.groups.get_mut(id as usize) {
            g.add_shared(d, Some(&mut self.templates));
            self.timeline.record(g.action(), d.event_time.as_deref());
        }
    }

    fn duplicate(&mut self, d: &Denial, first: u32) -> Added {
        self.totals.duplicates += 1;
        match self.groups.get_mut(first as usize) {
            Some(Some(g)) => {
                // The other copy's recording account is worth keeping.
                g.copy_recorded(d.account.as_deref());
                Added::Duplicate { group: Some(first) }
            }
            _ => Added::Duplicate { group: None },
        }
    }

    /// Count an authentication failure; `false` when it was a repeated
    /// delivery.
    pub fn auth_failure(&mut self, a: &AuthFailure) -> bool {
        if let Some(k) = dedup_key(None, a.event_id.as_deref())
            && self.dedup.first_or(k, NO_GROUP).is_some()
        {
            self.totals.duplicates += 1;
            return false;
        }
        *self
            .totals
            .auth_failures
            .entry(a.error_code.clone())
            .or_insert(0) += 1;
        true
    }

    /// Count what scanning a piece of a `kind` source found.
    pub fn scanned(&mut self, kind: SourceKind, s: &ScanStats) {
        self.totals.scanned(kind, s);
    }

    /// Count one input error and keep it for the list.
    pub fn error(&mut self, e: InputError) {
        self.totals.error(e.kind);
        self.errors.push(e);
    }

    /// One more input read.
    pub fn input_read(&mut self) {
        self.totals.files += 1;
    }

    /// One whole input skipped on purpose.
    pub fn input_skipped(&mut self, why: SkippedFile) {
        self.totals.skipped_file(why);
    }

    /// The counters.
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Repeated deliveries dropped so far.
    pub fn duplicates(&self) -> u64 {
        self.totals.duplicates
    }

    /// Distinct denials counted so far.
    pub fn denials(&self) -> u64 {
        self.groups().map(|g| g.count).sum()
    }

    /// The live groups, by number.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.iter().flatten()
    }

    /// The group numbered `id`, if it still exists.
    pub fn group(&self, id: u32) -> Option<&Group> {
        self.groups.get(id as usize).and_then(Option::as_ref)
    }

    /// Live groups.
    pub fn groups_len(&self) -> usize {
        self.live
    }

    /// Dedup keys held.
    pub fn dedup_len(&self) -> usize {
        self.dedup.len()
    }

    /// The input errors kept for the list, in the list's order.
    pub fn errors(&self) -> Vec<InputError> {
        self.errors.listed()
    }

    /// Remove a group (the sidecar's idle series); its number is not reused
    /// until [`compact`](Aggregator::compact).
    pub fn remove(&mut self, principal: &str, action: &str) -> Option<Group> {
        let id = self.lookup(principal, action)?;
        self.index.remove(principal, action, id);
        self.live -= 1;
        self.groups.get_mut(id as usize).and_then(Option::take)
    }

    /// Renumber the groups without the gaps removed ones left (the dedup
    /// entries follow).
    pub fn compact(&mut self) {
        if self.live == self.groups.len() {
            return;
        }
        let mut map = vec![NO_GROUP; self.groups.len()];
        let mut kept = Vec::with_capacity(self.live);
        for (old, g) in std::mem::take(&mut self.groups).into_iter().enumerate() {
            if let Some(mut g) = g {
                map[old] = kept.len() as u32;
                g.set_number(map[old]);
                kept.push(Some(g));
            }
        }
        self.groups = kept;
        self.index.renumber(&map);
        self.dedup
            .renumber(&|g| map.get(g as usize).copied().unwrap_or(NO_GROUP));
    }

    /// Fold in the groups and counters of another run over other inputs
    /// (repeated deliveries between the two must have been taken back).
    pub fn absorb(&mut self, totals: &Totals, groups: Vec<Group>, errors: Vec<InputError>) {
        self.totals.merge(totals);
        for e in errors {
            self.errors.push(e);
        }
        for g in groups {
            match self.lookup(g.principal(), g.action()) {
                Some(id) => {
                    if let Some(have) = &mut self.groups[id as usize] {
                        have.merge_shared(&g, Some(&mut self.templates));
                    }
                }
                None => {
                    self.push_group(g);
                }
            }
        }
    }

    /// Add `n` more dropped repeated deliveries (found between shards).
    pub fn add_duplicates(&mut self, n: u64) {
        self.totals.duplicates += n;
    }

    /// Denials over time by action.
    pub fn timeline(&self) -> &timeline::Timeline {
        &self.timeline
    }

    /// Fold in another run's timeline (see [`absorb`](Aggregator::absorb)).
    pub fn absorb_timeline(&mut self, t: &timeline::Timeline) {
        self.timeline.merge(t);
    }

    /// What has been counted so far, as [`finish`](Aggregator::finish)
    /// gives it, leaving the aggregate as it is (the sidecar's `/report`).
    pub fn snapshot(&self) -> Finished {
        let mut groups: Vec<Group> = self.groups().cloned().collect();
        groups.sort_by(report_order);
        Finished {
            totals: self.totals.clone(),
            groups,
            position: Vec::new(),
            errors: self.errors.listed(),
            timeline: self.timeline.clone(),
        }
    }

    /// Everything counted: the groups sorted the way reports show them
    /// (where they are: no second copy of them is made), with the
    /// position each group number ended at.
    pub fn finish(self) -> Finished {
        let errors = self.errors.listed();
        let n = self.groups.len();
        for (i, g) in self.groups.iter().enumerate() {
            debug_assert!(g.as_ref().is_none_or(|g| g.number() == i as u32));
        }
        // An identity filter_map is collected in place (`flatten` is not):
        // no second copy of every group. The order is total (a group is
        // one principal/action), so the unstable sort, which needs no
        // buffer, gives the one result.
        #[allow(clippy::filter_map_identity)]
        let mut groups: Vec<Group> = self.groups.into_iter().filter_map(|g| g).collect();
        groups.sort_unstable_by(report_order);
        let mut position = vec![u32::MAX; n];
        for (pos, g) in groups.iter().enumerate() {
            position[g.number() as usize] = pos as u32;
        }
        Finished {
            totals: self.totals,
            groups,
            position,
            errors,
            timeline: self.timeline,
        }
    }

    /// What the sidecar's checkpoint saves: the groups in number order, the
    /// dedup window and the counters.
    pub fn save(&mut self) -> Saved {
        self.compact();
        Saved {
            totals: self.totals.clone(),
            timeline: self.timeline.clone(),
            groups: self.groups().cloned().collect(),
            dedup: match &self.dedup {
                Dedup::Window(w) => w.entries(),
                Dedup::Exact(_) => Vec::new(),
            },
            recent_errors: self.errors.listed(),
        }
    }

    /// Restore what [`save`](Aggregator::save) saved into this empty
    /// aggregator.
    pub fn restore(&mut self, s: Saved) {
        self.totals = s.totals;
        self.timeline = s.timeline;
        self.groups.clear();
        self.index = GroupIndex::default();
        self.live = 0;
        for g in s.groups {
            self.push_group(g);
        }
        if let Dedup::Window(w) = &mut self.dedup {
            w.restore(&s.dedup);
        }
        for e in s.recent_errors {
            self.errors.push(e);
        }
    }
}

/// Group numbers by (principal, action). The table holds only the numbers
/// (4 bytes each): a key is hashed from its strings, which the groups
/// hold, and compared with the group's own. Hashed with a per-process seed,
/// so that crafted principals cannot pile up in one bucket.
#[derive(Debug, Clone, Default)]
struct GroupIndex {
    table: hashbrown::HashTable<u32>,
    seed: foldhash::fast::RandomState,
}

impl GroupIndex {
    fn hash(&self, principal: &str, action: &str) -> u64 {
        self.seed.hash_one((principal, action))
    }

    fn is(groups: &[Option<Group>], id: u32, principal: &str, action: &str) -> bool {
        groups
            .get(id as usize)
            .and_then(Option::as_ref)
            .is_some_and(|g| g.principal() == principal && g.action() == action)
    }

    fn get(&self, groups: &[Option<Group>], principal: &str, action: &str) -> Option<u32> {
        self.table
            .find(self.hash(principal, action), |&id| {
                Self::is(groups, id, principal, action)
            })
            .copied()
    }

    /// Index group `id` (already in `groups`, or about to be) under its
    /// key, unless the key is indexed already.
    fn insert(&mut self, groups: &[Option<Group>], principal: &str, action: &str, id: u32) {
        let h = self.hash(principal, action);
        if self
            .table
            .find(h, |&other| Self::is(groups, other, principal, action))
            .is_some()
        {
            return;
        }
        let seed = &self.seed;
        self.table.insert_unique(h, id, |&other| {
            let g = groups.get(other as usize).and_then(Option::as_ref);
            g.map_or(0, |g| seed.hash_one((g.principal(), g.action())))
        });
    }

    fn remove(&mut self, principal: &str, action: &str, id: u32) {
        if let Ok(e) = self
            .table
            .find_entry(self.hash(principal, action), |&other| other == id)
        {
            e.remove();
        }
    }

    fn renumber(&mut self, map: &[u32]) {
        for id in self.table.iter_mut() {
            *id = map.get(*id as usize).copied().unwrap_or(NO_GROUP);
        }
    }
}

/// What an aggregate counted, once it is done.
#[derive(Debug)]
pub struct Finished {
    /// The counters.
    pub totals: Totals,
    /// The groups, in report order.
    pub groups: Vec<Group>,
    /// By group number, the position the group ended at (`u32::MAX` for
    /// removed groups).
    pub position: Vec<u32>,
    /// The listed input errors.
    pub errors: Vec<InputError>,
    /// Denials over time by action.
    pub timeline: timeline::Timeline,
}

/// An aggregate as the sidecar's checkpoint saves it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Saved {
    /// The counters.
    pub totals: Totals,
    /// Denials over time by action.
    #[serde(default)]
    pub timeline: timeline::Timeline,
    /// The groups, numbered by position.
    pub groups: Vec<Group>,
    /// The dedup window, oldest first: key and group number.
    pub dedup: Vec<(u64, u32)>,
    /// The input errors listed in `/report`.
    #[serde(default)]
    pub recent_errors: Vec<InputError>,
}

/// Sort groups the way reports show them: count descending, then principal,
/// then action.
pub fn sort_groups(v: &mut [Group]) {
    v.sort_by(report_order);
}

fn report_order(a: &Group, b: &Group) -> std::cmp::Ordering {
    b.count
        .cmp(&a.count)
        .then_with(|| a.principal().cmp(b.principal()))
        .then_with(|| a.action().cmp(b.action()))
}

/// The listed input errors.
#[derive(Debug, Clone)]
struct Errors {
    policy: ErrorList,
    /// `First`: a max-heap of the smallest by (origin, offset).
    first: BinaryHeap<Ordered>,
    /// `Recent`: the most recent.
    recent: VecDeque<InputError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Ordered(InputError);

impl Ord for Ordered {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (&self.0.origin, self.0.offset, self.0.kind, &self.0.detail).cmp(&(
            &o.0.origin,
            o.0.offset,
            o.0.kind,
            &o.0.detail,
        ))
    }
}

impl PartialOrd for Ordered {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Errors {
    fn new(policy: ErrorList) -> Errors {
        Errors {
            policy,
            first: BinaryHeap::new(),
            recent: VecDeque::new(),
        }
    }

    fn push(&mut self, e: InputError) {
        match self.policy {
            ErrorList::First(n) => {
                if self.first.len() < n {
                    self.first.push(Ordered(e));
                } else if self
                    .first
                    .peek()
                    .is_some_and(|top| Ordered(e.clone()) < *top)
                {
                    self.first.pop();
                    self.first.push(Ordered(e));
                }
            }
            ErrorList::Recent(n) => {
                if n == 0 {
                    return;
                }
                if self.recent.len() == n {
                    self.recent.pop_front();
                }
                self.recent.push_back(e);
            }
        }
    }

    fn listed(&self) -> Vec<InputError> {
        match self.policy {
            ErrorList::First(_) => {
                let mut v: Vec<Ordered> = self.first.clone().into_vec();
                v.sort();
                v.into_iter().map(|o| o.0).collect()
            }
            ErrorList::Recent(_) => self.recent.iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{DenyKind, PolicyType, PrincipalKind, Reason};

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
            event_time: Some(format!("2024-01-01T00:00:0{}Z", id.len() % 10).into()),
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
        for window in [None, Some(100)] {
            let mut b = Aggregator::builder();
            if let Some(n) = window {
                b = b.dedup_window(n);
            }
            let mut a = b.build();
            assert!(matches!(
                a.add(&denial("p1", "iam:PassRole", "e1")),
                Added::New { .. }
            ));
            assert!(matches!(
                a.add(&denial("p1", "iam:PassRole", "e1")),
                Added::Duplicate { group: Some(0) }
            ));
            a.add(&denial("p1", "iam:PassRole", "e2"));
            a.add(&denial("p2", "iam:PassRole", "e3"));
            let mut shared = denial("p2", "iam:PassRole", "e4");
            shared.shared_event_id = Some("s1".into());
            a.add(&shared);
            // The other copy, recorded in another account, under another
            // principal name: counted once, its account kept with the first.
            shared.event_id = Some("e5".into());
            shared.account = Some("222222222222".into());
            shared.principal = "p3".into();
            assert!(matches!(
                a.add(&shared),
                Added::Duplicate { group: Some(1) }
            ));
            assert_eq!(a.duplicates(), 2);
            assert_eq!(a.denials(), 4);
            let g = a.finish().groups;
            assert_eq!(g.len(), 2, "no group for the copy's principal");
            assert_eq!((g[0].principal(), g[0].count), ("p1", 2));
            assert_eq!((g[1].principal(), g[1].count), ("p2", 2));
            assert_eq!(g[1].accounts().len(), 2);
            assert_eq!(g[0].accounts().total(), 3, "each delivery recorded");
            assert_eq!(g[0].resources().total(), 2);
        }
    }

    #[test]
    fn absorbing_parts_equals_adding_all() {
        let ds: Vec<Denial> = (0..200)
            .map(|i| {
                let mut d = denial(&format!("p{}", i % 3), "iam:PassRole", &format!("e{i}"));
                d.resource = Some(format!("arn:aws:iam::1:role/r{}", i % 90));
                d
            })
            .collect();
        let build = || Aggregator::builder().list_max(8).build();
        let mut whole = build();
        ds.iter().for_each(|d| {
            whole.add(d);
        });
        let mut merged = build();
        for part in 0..3 {
            let mut p = build();
            ds.iter().skip(part).step_by(3).for_each(|d| {
                p.add(d);
            });
            let f = p.finish();
            merged.absorb(&f.totals, f.groups, f.errors);
            merged.absorb_timeline(&f.timeline);
        }
        let w = whole.finish();
        let m = merged.finish();
        assert_eq!(m.groups, w.groups);
        assert_eq!(m.totals, w.totals);
        assert_eq!(m.timeline, w.timeline);
        let gw = w.groups;
        assert!(
            gw.iter()
                .all(|g| g.resources().is_cut() && g.resources().len() == 8)
        );
    }

    #[test]
    fn removed_groups_leave_no_trace_after_compact() {
        let mut a = Aggregator::builder().dedup_window(10).build();
        a.add(&denial("p1", "a:B", "e1"));
        a.add(&denial("p2", "a:B", "e2"));
        assert!(a.remove("p1", "a:B").is_some());
        assert_eq!(a.groups_len(), 1);
        a.compact();
        // e2 now points at group 0; a repeat still lands there.
        assert!(matches!(
            a.add(&denial("p2", "a:B", "e2")),
            Added::Duplicate { group: Some(0) }
        ));
        // e1's group is gone: the repeat is still a duplicate.
        assert!(matches!(
            a.add(&denial("p1", "a:B", "e1")),
            Added::Duplicate { group: None }
        ));
        let saved = a.save();
        let mut back = Aggregator::builder().dedup_window(10).build();
        back.restore(serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap());
        assert_eq!(
            back.groups().collect::<Vec<_>>(),
            a.groups().collect::<Vec<_>>()
        );
        assert!(matches!(
            back.add(&denial("p2", "a:B", "e2")),
            Added::Duplicate { group: Some(0) }
        ));
    }

    #[test]
    fn the_first_errors_are_listed_whatever_the_order() {
        let e = |o: &str, off: u64| InputError {
            origin: o.into(),
            offset: off,
            kind: crate::input::InputErrorKind::InvalidJson,
            detail: String::new(),
        };
        let mut a = Aggregator::builder().errors(ErrorList::First(3)).build();
        for (o, off) in [("b", 5), ("a", 9), ("c", 1), ("a", 2), ("b", 1)] {
            a.error(e(o, off));
        }
        let listed: Vec<(String, u64)> = a
            .errors()
            .into_iter()
            .map(|e| (e.origin, e.offset))
            .collect();
        assert_eq!(
            listed,
            vec![("a".into(), 2), ("a".into(), 9), ("b".into(), 1)]
        );
        assert_eq!(a.totals().errors_all(), 5);
    }
}
