//! One principal/action group: exact counts, bounded lists, compact.
//!
//! # The lists
//!
//! A group keeps eight lists of values (resources, sessions, reasons, via,
//! accounts, regions, VPC endpoints, error codes), each with exact counts
//! for at most `k` values, and for the rest their number of denials and an
//! estimate of how many distinct values they are.
//!
//! Which `k` values are listed does not depend on the order denials arrive
//! in, nor on how the input was split: the listed values are always the `k`
//! values with the smallest [`stable`] hash among every value seen (a
//! bottom-k sketch). A value whose hash is above the `k`-th smallest can
//! never come back once the list is full (the threshold only falls), so
//! every listed value was listed from its first occurrence and its count is
//! exact; and two groups merged list exactly what one group fed everything
//! would have listed. Replay, the sidecar and `merge` of shards therefore
//! list the same values with the same counts. The number of distinct values
//! left out is estimated from the same sketch, `(k − 1) · 2⁶⁴ / h₍ₖ₎ − k` (the
//! KMV estimator: about 1/√k relative error, 13 % at k = 64).
//!
//! # Memory
//!
//! A group holds its strings in one buffer of its own and its list entries
//! in one vector (32 bytes an entry), so a group with one denial costs about
//! a kilobyte, most of it the strings themselves; the example message is
//! kept with the principal and action taken out. Values a full list pushes
//! out leave their bytes behind until the buffer is compacted (when half of
//! it is garbage), so a group never holds more than twice the strings of
//! its `8 · k` listed values, whatever it is fed.
//!
//! [`stable`]: crate::hash::stable

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::classify::{Denial, DenyKind, PolicyType, PrincipalKind, Reason};
use crate::time::earlier;

/// Default number of values listed per list (`--list-max`).
pub const DEFAULT_K: usize = 64;

/// Most values a list may be asked to hold.
pub const MAX_K: usize = 4096;

/// Longest example message kept, in bytes (CloudTrail cuts its messages at
/// 1024 characters; a text log line can be longer).
pub const MAX_EXAMPLE: usize = 4096;

/// Longest list value kept, in bytes: a longer one is cut (at a character
/// boundary) before it is hashed, so every process cuts it the same way.
pub const MAX_VALUE: usize = 2048;

/// The `--list-max` flag's parser.
pub fn parse_list_max(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(k) if (1..=MAX_K).contains(&k) => Ok(k),
        _ => Err(format!("--list-max {s:?}: give a number from 1 to {MAX_K}")),
    }
}

/// The lists of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum List {
    /// Resources.
    Resources = 0,
    /// Session ARNs.
    Sessions = 1,
    /// Reasons.
    Reasons = 2,
    /// Called APIs.
    Via = 3,
    /// Accounts that recorded a copy.
    Accounts = 4,
    /// Regions.
    Regions = 5,
    /// VPC endpoints.
    VpcEndpoints = 6,
    /// Error codes.
    ErrorCodes = 7,
    /// Roles or instance profiles the requests passed when their messages
    /// named no action ([`Denial::passes`]).
    Passes = 8,
}

impl List {
    /// Every list, in order.
    pub const ALL: [List; 9] = [
        List::Resources,
        List::Sessions,
        List::Reasons,
        List::Via,
        List::Accounts,
        List::Regions,
        List::VpcEndpoints,
        List::ErrorCodes,
        List::Passes,
    ];

    /// The list's name in reports (`resources`, `vpc_endpoints`, …).
    pub fn name(self) -> &'static str {
        match self {
            List::Resources => "resources",
            List::Sessions => "sessions",
            List::Reasons => "reasons",
            List::Via => "via",
            List::Accounts => "accounts",
            List::Regions => "regions",
            List::VpcEndpoints => "vpc_endpoints",
            List::ErrorCodes => "error_codes",
            List::Passes => "passes",
        }
    }
}

/// A string in the group's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Str {
    at: u32,
    len: u32,
}

const NONE: Str = Str {
    at: 0,
    len: u32::MAX,
};

/// One listed value: 24 bytes (its list in the top byte of its length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Item {
    hash: u64,
    count: u64,
    at: u32,
    len_list: u32,
}

impl Item {
    fn new(hash: u64, count: u64, value: Str, list: u8) -> Item {
        Item {
            hash,
            count,
            at: value.at,
            len_list: value.len | u32::from(list) << 24,
        }
    }
    fn list(&self) -> u8 {
        (self.len_list >> 24) as u8
    }
    fn value(&self) -> Str {
        Str {
            at: self.at,
            len: self.len_list & 0x00ff_ffff,
        }
    }
    fn set_value(&mut self, v: Str) {
        self.at = v.at;
        self.len_list = v.len | self.len_list & 0xff00_0000;
    }
}

/// Where a group's example message (with its parts taken out) is.
#[derive(Debug, Clone)]
enum Example {
    None,
    /// In the group's buffer.
    Own(Str),
    /// In the group's buffer as it was read: the message itself holds one
    /// of the [`MARKS`], which there are not marks.
    Plain(Str),
    /// Shared with the other groups whose messages read the same once their
    /// principal, action, session and resource are taken out.
    Shared(Arc<str>),
}

/// Example messages shared between groups: most groups' messages are one of
/// a few shapes once their parts are taken out, so each shape is held once.
/// Bounded: past [`MAX_TEMPLATES`] shapes or [`MAX_TEMPLATE_BYTES`], new
/// shapes stay in their group.
#[derive(Debug, Clone, Default)]
pub struct Templates {
    set: HashSet<Arc<str>, foldhash::fast::RandomState>,
    bytes: usize,
}

/// Most example shapes shared.
pub const MAX_TEMPLATES: usize = 1 << 16;
/// Most bytes of example shapes shared.
pub const MAX_TEMPLATE_BYTES: usize = 16 << 20;

impl Templates {
    fn share(&mut self, s: &str) -> Option<Arc<str>> {
        if let Some(a) = self.set.get(s) {
            return Some(a.clone());
        }
        if self.set.len() >= MAX_TEMPLATES || self.bytes + s.len() > MAX_TEMPLATE_BYTES {
            return None;
        }
        let a: Arc<str> = Arc::from(s);
        self.bytes += s.len();
        self.set.insert(a.clone());
        Some(a)
    }
}

/// A kept example message is stored with its principal, action, session
/// and resource taken out (they are held once, in the group), marked by
/// these characters; a message holding any of them is stored whole.
const MARKS: [char; 4] = ['\u{1}', '\u{2}', '\u{3}', '\u{4}'];
const _: () = assert!(
    MARKS[0] as u32 == 1 && MARKS[3] as u32 == 4,
    "has_mark looks for bytes 1 to 4"
);

/// How many denials gave each list a value. Most groups give a list a value
/// in every denial or in none, so a list's total is two bits, "none" (0) or
/// "all" (the group's count), and spelt out, in a table the group holds
/// only while some list needs it, when it is neither: 12 bytes a group
/// where nine counters took 72.
#[derive(Debug, Clone, Default)]
struct ListTotals {
    /// Two bits per list: [`NO_DENIAL`], [`EVERY_DENIAL`] or [`SPELT`].
    modes: u32,
    /// The totals of the lists whose mode is [`SPELT`].
    spelt: Option<Box<[u64; 9]>>,
}

const NO_DENIAL: u32 = 0;
const EVERY_DENIAL: u32 = 1;
const SPELT: u32 = 2;

impl ListTotals {
    fn mode(&self, l: usize) -> u32 {
        self.modes >> (2 * l) & 3
    }

    fn set_mode(&mut self, l: usize, m: u32) {
        self.modes = self.modes & !(3 << (2 * l)) | m << (2 * l);
    }

    /// The total of `list` in a group of `count` denials.
    fn get(&self, list: List, count: u64) -> u64 {
        let l = list as usize;
        match self.mode(l) {
            NO_DENIAL => 0,
            EVERY_DENIAL => count,
            _ => self.spelt.as_ref().map_or(0, |t| t[l]),
        }
    }

    /// Set `list`'s total in a group of `count` denials.
    fn set(&mut self, list: List, total: u64, count: u64) {
        let l = list as usize;
        let mode = if total == 0 {
            NO_DENIAL
        } else if total == count {
            EVERY_DENIAL
        } else {
            SPELT
        };
        if mode == SPELT {
            self.spelt.get_or_insert_with(Default::default)[l] = total;
        }
        self.set_mode(l, mode);
        if self.spelt.is_some() && (0..9).all(|l| self.mode(l) != SPELT) {
            self.spelt = None;
        }
    }

    /// `n` more denials gave `list` a value (the count stays `count`).
    fn add(&mut self, list: List, n: u64, count: u64) {
        let t = self.get(list, count).saturating_add(n);
        self.set(list, t, count);
    }

    /// One denial fewer gave `list` a value.
    fn take(&mut self, list: List, count: u64) {
        let t = self.get(list, count).saturating_sub(1);
        self.set(list, t, count);
    }

    /// The group's count goes from `old` to `new`, every total unchanged.
    fn recount(&mut self, old: u64, new: u64) {
        if old == new {
            return;
        }
        for list in List::ALL {
            let t = self.get(list, old);
            self.set(list, t, new);
        }
    }

    /// One more denial, which gives a value to the lists whose bits are set
    /// in `given`; the group's count goes from `count` to `count + 1`. The
    /// per-denial path: no table unless a list becomes neither none nor all.
    #[inline]
    fn step(&mut self, given: u16, count: u64) {
        for list in List::ALL {
            let l = list as usize;
            let has = given >> l & 1 == 1;
            match (self.mode(l), has) {
                (NO_DENIAL, false) | (EVERY_DENIAL, true) => {}
                (NO_DENIAL, true) => self.set(list, 1, count + 1),
                (EVERY_DENIAL, false) => self.set(list, count, count + 1),
                (_, true) => self.set(list, self.get(list, count) + 1, count + 1),
                (_, false) => self.set(list, self.get(list, count), count + 1),
            }
        }
    }
}

/// All denials of one principal on one action. See the module
/// documentation.
#[derive(Debug, Clone)]
pub struct Group {
    principal: Str,
    action: Str,
    /// What kind of principal.
    pub principal_kind: PrincipalKind,
    /// Number of distinct denial events.
    pub count: u64,
    /// How many messages were encoded authorization failure messages.
    pub encoded: u64,
    /// How many messages were truncated at 1024 characters.
    pub truncated: u64,
    /// The group's strings.
    strs: String,
    /// Bytes of `strs` no longer referred to.
    garbage: u32,
    /// Every list's values, sorted by (list, hash, value).
    items: Vec<Item>,
    /// Denials with a value, per list, listed or not.
    totals: ListTotals,
    /// Lists that left a value out (bit per list).
    cut: u16,
    k: u16,
    /// The group's number in its aggregate.
    number: u32,
    principal_account: Str,
    first_seen: Str,
    last_seen: Str,
    example: Example,
    /// The session and resource taken out of the example.
    example_session: Str,
    example_resource: Str,
}

impl PartialEq for Group {
    fn eq(&self, o: &Group) -> bool {
        self.principal() == o.principal()
            && self.action() == o.action()
            && self.principal_kind == o.principal_kind
            && self.count == o.count
            && self.encoded == o.encoded
            && self.truncated == o.truncated
            && self.principal_account() == o.principal_account()
            && self.first_seen() == o.first_seen()
            && self.last_seen() == o.last_seen()
            && self.example_message() == o.example_message()
            && List::ALL.iter().all(|&l| {
                let (a, b) = (self.list(l), o.list(l));
                a.total() == b.total() && a.is_cut() == b.is_cut() && a.counts().eq(b.counts())
            })
    }
}

impl Eq for Group {}

/// Does `s` hold one of the [`MARKS`] (bytes 1 to 4)? A byte loop the
/// compiler vectorises, where `str::contains` of a char set decodes chars.
fn has_mark(s: &str) -> bool {
    s.bytes().any(is_mark)
}

/// Is `b` one of the [`MARKS`] (bytes 1 to 4)?
fn is_mark(b: u8) -> bool {
    b.wrapping_sub(1) < MARKS.len() as u8
}

/// `s` with every `part` (left to right, not overlapping) replaced by
/// `mark`, as `str::replace` does; `s` itself back when `part` is absent.
fn replace_all(s: String, part: &str, mark: char) -> String {
    let (h, p) = (s.as_bytes(), part.as_bytes());
    let mut hits = Vec::new();
    match p.first() {
        None => return s,
        // A message is a few hundred bytes: candidates by their first
        // byte cost less than building a searcher (`memmem` builds one per
        // call) for every example offered. Longer texts, where a naive
        // match could be slow, take the searcher.
        Some(&first) if h.len() <= 1024 => {
            let mut i = 0;
            while let Some(off) = memchr::memchr(first, &h[i..]) {
                let at = i + off;
                if h[at..].starts_with(p) {
                    hits.push(at);
                    i = at + p.len();
                } else {
                    i = at + 1;
                }
            }
        }
        Some(_) => hits.extend(memchr::memmem::find_iter(h, p)),
    }
    if hits.is_empty() {
        return s;
    }
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for at in hits {
        out.push_str(&s[last..at]);
        out.push(mark);
        last = at + part.len();
    }
    out.push_str(&s[last..]);
    out
}

/// `v` cut to at most `max` bytes at a character boundary.
fn cut(v: &str, max: usize) -> &str {
    if v.len() <= max {
        return v;
    }
    let mut end = max;
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    &v[..end]
}

/// The hash a list value is chosen and identified by.
pub fn value_hash(v: &str) -> u64 {
    crate::hash::stable(cut(v, MAX_VALUE).as_bytes())
}

/// A reason, as a list value: its code, and the policy ARN after a NUL.
fn reason_value(r: &Reason) -> String {
    let mut v = r.code();
    if let Some(a) = &r.policy_arn {
        v.push('\0');
        v.push_str(a);
    }
    v
}

/// The reason a list value names.
pub fn reason_of(v: &str) -> Reason {
    let (code, arn) = match v.split_once('\0') {
        Some((c, a)) => (c, Some(a.to_string())),
        None => (v, None),
    };
    let (kind, rest) = match code.split_once('-') {
        Some(("implicit", p)) => (DenyKind::Implicit, Some(p)),
        Some(("explicit", p)) => (DenyKind::Explicit, Some(p)),
        _ => match code {
            "implicit" => (DenyKind::Implicit, None),
            "explicit" => (DenyKind::Explicit, None),
            _ => (DenyKind::Unknown, None),
        },
    };
    Reason {
        kind,
        policy_type: rest.and_then(|p| PolicyType::ALL.into_iter().find(|t| t.code() == p)),
        policy_arn: arn,
    }
}

/// The 32-bit hash prefixes of a denial's list values, as a shard's dedup
/// record keeps them: enough to take one repeated delivery back out of a
/// group when shards are merged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Contribution {
    /// `resources`, `sessions`, `reasons`, `via`, `regions`,
    /// `vpc_endpoints`, `error_codes`, `passes` (in that order), `None` when
    /// the denial has no such value.
    pub fields: [Option<u32>; 8],
    /// The message was encoded.
    pub encoded: bool,
    /// The message was truncated.
    pub truncated: bool,
}

/// The lists a [`Contribution`]'s fields are, in order.
const CONTRIBUTED: [List; 8] = [
    List::Resources,
    List::Sessions,
    List::Reasons,
    List::Via,
    List::Regions,
    List::VpcEndpoints,
    List::ErrorCodes,
    List::Passes,
];

fn prefix(v: &str) -> u32 {
    (value_hash(v) >> 32) as u32
}

impl Contribution {
    /// What `d` adds to its group's lists.
    pub fn of(d: &Denial) -> Contribution {
        Contribution {
            fields: [
                d.resource.as_deref().map(prefix),
                d.session.as_deref().map(prefix),
                Some(prefix(&reason_value(&d.reason))),
                d.via.as_deref().map(prefix),
                d.region.as_deref().map(prefix),
                d.vpc_endpoint_id.as_deref().map(prefix),
                d.error_code.as_deref().map(prefix),
                d.passes.as_deref().map(prefix),
            ],
            encoded: d.encoded,
            truncated: d.truncated,
        }
    }

    /// The 32-bit hash prefix of an account, as a record keeps it.
    pub fn account(a: &str) -> u32 {
        prefix(a)
    }
}

impl Group {
    /// An empty group for the principal and action of `d`, its lists
    /// holding at most [`DEFAULT_K`] values each.
    pub fn new(d: &Denial) -> Group {
        Group::with_list_max(d, DEFAULT_K)
    }

    /// An empty group for the principal and action of `d`, its lists
    /// holding at most `k` values each.
    pub fn with_list_max(d: &Denial, k: usize) -> Group {
        let mut g = Group::empty(&d.principal, &d.action, k);
        g.principal_kind = d.principal_kind;
        g.principal_account = match &d.principal_account {
            Some(a) => g.push_str(a),
            None => NONE,
        };
        g
    }

    /// An empty group of `principal` on `action`.
    pub fn empty(principal: &str, action: &str, k: usize) -> Group {
        let mut strs = String::with_capacity(principal.len() + action.len());
        strs.push_str(principal);
        strs.push_str(action);
        Group {
            principal: Str {
                at: 0,
                len: principal.len() as u32,
            },
            action: Str {
                at: principal.len() as u32,
                len: action.len() as u32,
            },
            principal_kind: PrincipalKind::Other,
            count: 0,
            encoded: 0,
            truncated: 0,
            strs,
            garbage: 0,
            items: Vec::new(),
            totals: ListTotals::default(),
            cut: 0,
            k: k.clamp(1, MAX_K) as u16,
            number: 0,
            principal_account: NONE,
            first_seen: NONE,
            last_seen: NONE,
            example: Example::None,
            example_session: NONE,
            example_resource: NONE,
        }
    }

    /// Change the count, every list's total kept as it is.
    fn set_count(&mut self, count: u64) {
        self.totals.recount(self.count, count);
        self.count = count;
    }

    /// The principal (role ARN for assumed-role sessions).
    pub fn principal(&self) -> &str {
        self.get(self.principal).unwrap_or("")
    }

    /// The denied IAM action.
    pub fn action(&self) -> &str {
        self.get(self.action).unwrap_or("")
    }

    /// Values listed per list.
    pub fn list_max(&self) -> usize {
        usize::from(self.k)
    }

    /// The group's number in the aggregate that holds it.
    pub fn number(&self) -> u32 {
        self.number
    }

    pub(crate) fn set_number(&mut self, n: u32) {
        self.number = n;
    }

    fn get(&self, s: Str) -> Option<&str> {
        (s.len != u32::MAX).then(|| &self.strs[s.at as usize..(s.at + s.len) as usize])
    }

    fn push_str(&mut self, v: &str) -> Str {
        if self.strs.capacity() - self.strs.len() < v.len() {
            // Grow by a quarter, not by doubling: most groups stay small.
            self.strs
                .reserve_exact(v.len().max(self.strs.len() / 4).max(16));
        }
        let at = self.strs.len() as u32;
        self.strs.push_str(v);
        Str {
            at,
            len: v.len() as u32,
        }
    }

    /// The bytes of `v` if the group already holds them in a named string
    /// or as a value of `list`.
    fn held(&self, v: &str, list: Option<List>) -> Option<Str> {
        for s in [
            self.first_seen,
            self.last_seen,
            self.principal_account,
            self.example_session,
            self.example_resource,
        ] {
            if self.get(s) == Some(v) {
                return Some(s);
            }
        }
        let l = list? as u8;
        let h = value_hash(v);
        let i = self
            .items
            .binary_search_by(|it| self.cmp_item(it, l, h, v))
            .ok()?;
        Some(self.items[i].value())
    }

    fn set(&mut self, which: fn(&mut Group) -> &mut Str, v: &str, list: Option<List>) {
        let old = *which(self);
        if old.len != u32::MAX {
            self.garbage += old.len;
        }
        let s = match self.held(v, list) {
            Some(s) => s,
            None => self.push_str(v),
        };
        *which(self) = s;
        self.maybe_compact();
    }

    /// The principal's account, when known.
    pub fn principal_account(&self) -> Option<&str> {
        self.get(self.principal_account)
    }

    /// Earliest `eventTime`.
    pub fn first_seen(&self) -> Option<&str> {
        self.get(self.first_seen)
    }

    /// Latest `eventTime`.
    pub fn last_seen(&self) -> Option<&str> {
        self.get(self.last_seen)
    }

    /// The message of the earliest event (ties: the smallest message), for
    /// people; at most [`MAX_EXAMPLE`] bytes.
    pub fn example_message(&self) -> Option<String> {
        if let Example::Plain(s) = self.example {
            return self.get(s).map(str::to_string);
        }
        let t = self.example_template()?;
        let mut out = Vec::with_capacity(t.len() + 128);
        self.example_pieces(t, |p| {
            out.extend_from_slice(p);
            true
        });
        // The pieces are whole strings and the text between marks (ASCII
        // bytes 1 to 4, never inside a UTF-8 sequence).
        Some(
            String::from_utf8(out)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        )
    }

    /// Does [`Group::example_message`] contain `needle`? Without spelling
    /// the example out: the pieces are searched with the end of the ones
    /// before them, so a match across two pieces is found too.
    pub fn example_contains(&self, needle: &str) -> bool {
        if let Example::Plain(s) = self.example {
            return self.get(s).is_some_and(|m| m.contains(needle));
        }
        let Some(t) = self.example_template() else {
            return false;
        };
        let n = needle.as_bytes();
        let finder = memchr::memmem::Finder::new(n);
        let keep = n.len().saturating_sub(1);
        let mut window: Vec<u8> = Vec::new();
        let mut found = n.is_empty();
        self.example_pieces(t, |p| {
            window.extend_from_slice(p);
            found = finder.find(&window).is_some();
            let cut = window.len().saturating_sub(keep);
            window.drain(..cut);
            !found
        });
        found
    }

    /// Hand the example's pieces to `f` in order: the template's text
    /// between its marks, and the part each mark stands for; stops when
    /// `f` returns `false`.
    fn example_pieces(&self, t: &str, mut f: impl FnMut(&[u8]) -> bool) {
        let parts = [
            self.principal(),
            self.action(),
            self.get(self.example_session).unwrap_or(""),
            self.get(self.example_resource).unwrap_or(""),
        ];
        let mut rest = t.as_bytes();
        while let Some(at) = rest.iter().position(|&b| is_mark(b)) {
            let part = parts[usize::from(rest[at] - 1)].as_bytes();
            if !f(&rest[..at]) || !f(part) {
                return;
            }
            rest = &rest[at + 1..];
        }
        f(rest);
    }

    /// `m` compared with [`Group::example_message`], without spelling the
    /// example out: a tie in time compares them for each denial.
    fn example_cmp(&self, m: &str) -> Option<std::cmp::Ordering> {
        use std::cmp::Ordering;
        if let Example::Plain(s) = self.example {
            return self.get(s).map(|t| m.cmp(t));
        }
        let t = self.example_template()?;
        let mut rest = m.as_bytes();
        let mut order = Ordering::Equal;
        self.example_pieces(t, |piece| {
            let n = piece.len().min(rest.len());
            order = match rest[..n].cmp(&piece[..n]) {
                Ordering::Equal if rest.len() < piece.len() => Ordering::Less,
                Ordering::Equal => {
                    rest = &rest[n..];
                    return true;
                }
                o => o,
            };
            false
        });
        Some(match order {
            Ordering::Equal if !rest.is_empty() => Ordering::Greater,
            o => o,
        })
    }

    fn example_template(&self) -> Option<&str> {
        match &self.example {
            Example::None => None,
            Example::Own(s) | Example::Plain(s) => self.get(*s),
            Example::Shared(a) => Some(a),
        }
    }

    /// Hold the example's shape once among all groups (see [`Templates`]).
    pub fn share_example(&mut self, t: &mut Templates) {
        if let Example::Own(s) = self.example
            && let Some(a) = self.get(s).and_then(|m| t.share(m))
        {
            self.garbage += s.len;
            self.example = Example::Shared(a);
            self.maybe_compact();
        }
    }

    /// A list of the group.
    pub fn list(&self, list: List) -> ListView<'_> {
        let l = list as u8;
        let start = self.items.partition_point(|it| it.list() < l);
        let end = self.items.partition_point(|it| it.list() <= l);
        ListView {
            group: self,
            items: &self.items[start..end],
            total: self.totals.get(list, self.count),
            cut: self.cut & (1 << l) != 0,
        }
    }

    /// Resources and their denials.
    pub fn resources(&self) -> ListView<'_> {
        self.list(List::Resources)
    }
    /// Session ARNs (assumed-role sessions) and their denials.
    pub fn sessions(&self) -> ListView<'_> {
        self.list(List::Sessions)
    }
    /// Reasons (as list values: read them with [`ListView::reasons`]).
    pub fn reasons(&self) -> ListView<'_> {
        self.list(List::Reasons)
    }
    /// Called APIs, when they differ from the action.
    pub fn via(&self) -> ListView<'_> {
        self.list(List::Via)
    }
    /// Accounts that recorded a copy of the events (both copies of a
    /// cross-account call, every repeated delivery): deliveries, not
    /// distinct events.
    pub fn accounts(&self) -> ListView<'_> {
        self.list(List::Accounts)
    }
    /// Regions.
    pub fn regions(&self) -> ListView<'_> {
        self.list(List::Regions)
    }
    /// VPC endpoints the calls went through.
    pub fn vpc_endpoints(&self) -> ListView<'_> {
        self.list(List::VpcEndpoints)
    }
    /// Error codes.
    pub fn error_codes(&self) -> ListView<'_> {
        self.list(List::ErrorCodes)
    }
    /// Roles or instance profiles the requests passed when their messages
    /// named no action.
    pub fn passes(&self) -> ListView<'_> {
        self.list(List::Passes)
    }

    /// Count `n` more denials with `value` in `list`.
    pub fn add_value(&mut self, list: List, value: &str, n: u64) {
        self.totals.add(list, n, self.count);
        self.list_value(list, value, n);
    }

    /// List `value` in `list` for `n` more denials, the list's total left
    /// to the caller.
    fn list_value(&mut self, list: List, value: &str, n: u64) {
        let value = cut(value, MAX_VALUE);
        self.add_hashed(list, value_hash(value), value, n);
    }

    fn cmp_item(&self, it: &Item, list: u8, hash: u64, value: &str) -> std::cmp::Ordering {
        (it.list(), it.hash)
            .cmp(&(list, hash))
            .then_with(|| self.get(it.value()).unwrap_or("").cmp(value))
    }

    fn add_hashed(&mut self, list: List, hash: u64, value: &str, n: u64) {
        let l = list as u8;
        let pos = self
            .items
            .binary_search_by(|it| self.cmp_item(it, l, hash, value));
        let i = match pos {
            Ok(i) => {
                self.items[i].count += n;
                return;
            }
            Err(i) => i,
        };
        let start = self.items.partition_point(|it| it.list() < l);
        let end = self.items.partition_point(|it| it.list() <= l);
        let mut i = i;
        if end - start >= usize::from(self.k) {
            self.cut |= 1 << l;
            if i >= end {
                // Above the threshold: not listed.
                return;
            }
            // Below it: it takes the place of the largest.
            let gone = self.items.remove(end - 1);
            self.garbage += gone.value().len;
            if i > end - 1 {
                i = end - 1;
            }
        }
        let s = match self.held(value, None) {
            Some(s) => s,
            None => self.push_str(value),
        };
        if self.items.len() == self.items.capacity() {
            self.items.reserve_exact((self.items.len() / 4).max(1));
        }
        self.items.insert(i, Item::new(hash, n, s, l));
        self.maybe_compact();
    }

    /// Rewrite the string buffer without its garbage, when half of it is.
    fn maybe_compact(&mut self) {
        if (self.garbage as usize) < 1024 || (self.garbage as usize) * 2 < self.strs.len() {
            return;
        }
        let mut strs = String::with_capacity(self.strs.len() - self.garbage as usize);
        let mut move_str = |s: Str, old: &str| -> Str {
            if s.len == u32::MAX {
                return s;
            }
            let at = strs.len() as u32;
            strs.push_str(&old[s.at as usize..(s.at + s.len) as usize]);
            Str { at, len: s.len }
        };
        let old = std::mem::take(&mut self.strs);
        for it in &mut self.items {
            let v = move_str(it.value(), &old);
            it.set_value(v);
        }
        self.principal = move_str(self.principal, &old);
        self.action = move_str(self.action, &old);
        self.principal_account = move_str(self.principal_account, &old);
        self.first_seen = move_str(self.first_seen, &old);
        self.last_seen = move_str(self.last_seen, &old);
        match self.example {
            Example::Own(s) => self.example = Example::Own(move_str(s, &old)),
            Example::Plain(s) => self.example = Example::Plain(move_str(s, &old)),
            Example::None | Example::Shared(_) => {}
        }
        self.example_session = move_str(self.example_session, &old);
        self.example_resource = move_str(self.example_resource, &old);
        self.strs = strs;
        self.garbage = 0;
    }

    /// Count one denial into this group.
    pub fn add(&mut self, d: &Denial) {
        self.add_shared(d, None);
    }

    /// Count one denial into this group, holding its example message's
    /// shape in `templates` when it becomes the example.
    pub fn add_shared(&mut self, d: &Denial, templates: Option<&mut Templates>) {
        if self.count == 0 && self.strs.is_empty() {
            // A group's first denial brings most of the strings it will
            // ever hold: take them in one allocation.
            fn opt<S: AsRef<str>>(s: &Option<S>) -> usize {
                s.as_ref().map_or(0, |s| s.as_ref().len())
            }
            let need = opt(&d.resource)
                + opt(&d.session)
                + 24
                + opt(&d.via)
                + opt(&d.account)
                + opt(&d.region)
                + opt(&d.vpc_endpoint_id)
                + opt(&d.error_code)
                + opt(&d.passes)
                + 2 * opt(&d.event_time)
                + d.message.len().min(MAX_EXAMPLE);
            self.strs.reserve_exact(need);
            let values = 1 + [
                d.resource.is_some(),
                d.session.is_some(),
                d.via.is_some(),
                d.account.is_some(),
                d.region.is_some(),
                d.vpc_endpoint_id.is_some(),
                d.error_code.is_some(),
                d.passes.is_some(),
            ]
            .iter()
            .filter(|&&v| v)
            .count();
            self.items.reserve_exact(values);
        }
        let values = [
            (List::Resources, d.resource.as_deref()),
            (List::Sessions, d.session.as_deref()),
            (List::Via, d.via.as_deref()),
            (List::Accounts, d.account.as_deref()),
            (List::Regions, d.region.as_deref()),
            (List::VpcEndpoints, d.vpc_endpoint_id.as_deref()),
            (List::ErrorCodes, d.error_code.as_deref()),
            (List::Passes, d.passes.as_deref()),
        ];
        let given = values
            .iter()
            .filter(|(_, v)| v.is_some())
            .fold(1 << List::Reasons as u16, |m, (l, _)| m | 1 << *l as u16);
        self.totals.step(given, self.count);
        self.count += 1;
        self.list_value(List::Reasons, &reason_value(&d.reason), 1);
        for (list, v) in values {
            if let Some(v) = v {
                self.list_value(list, v, 1);
            }
        }
        let m = cut(&d.message, MAX_EXAMPLE);
        if !m.is_empty() {
            self.offer_example(
                m,
                d.event_time.as_deref(),
                d.session.as_deref(),
                d.resource.as_deref(),
                templates,
            );
        }
        if let Some(t) = &d.event_time {
            self.seen_at(t, t);
        }
        self.encoded += u64::from(d.encoded);
        self.truncated += u64::from(d.truncated);
        if self.count == 1 && self.strs.capacity() > self.strs.len() + 32 {
            // The first denial's estimate was for the whole message.
            self.strs.shrink_to_fit();
        }
    }

    /// Keep `m` (seen at `time`, about `session` and `resource`) as the
    /// example if it is a better one: earlier wins; ties go to the smaller
    /// message.
    fn offer_example(
        &mut self,
        m: &str,
        time: Option<&str>,
        session: Option<&str>,
        resource: Option<&str>,
        templates: Option<&mut Templates>,
    ) {
        let better = matches!(self.example, Example::None)
            || match (time, self.first_seen()) {
                (Some(t), Some(f)) if earlier(t, f) => true,
                (t, f) if t == f => self.example_cmp(m) == Some(std::cmp::Ordering::Less),
                (Some(_), None) => true,
                _ => false,
            };
        if !better {
            return;
        }
        let session = session.filter(|s| !s.is_empty());
        let resource = resource.filter(|s| !s.is_empty());
        let (principal, action) = (self.principal().to_string(), self.action().to_string());
        let parts = [
            Some(principal.as_str()).filter(|s| !s.is_empty()),
            Some(action.as_str()).filter(|s| !s.is_empty()),
            session,
            resource,
        ];
        let plain = has_mark(m) || parts.iter().flatten().any(|p| has_mark(p));
        let kept = if plain {
            m.to_string()
        } else {
            // Longest first, so that a part inside another is not cut out
            // of it.
            let mut order: Vec<usize> = (0..4).filter(|&i| parts[i].is_some()).collect();
            order.sort_by_key(|&i| std::cmp::Reverse(parts[i].map_or(0, str::len)));
            let mut k = m.to_string();
            for i in order {
                if let Some(p) = parts[i] {
                    k = replace_all(k, p, MARKS[i]);
                }
            }
            k
        };
        if let Example::Own(old) | Example::Plain(old) = self.example {
            self.garbage += old.len;
        }
        self.example = if plain {
            Example::Plain(self.push_str(&kept))
        } else {
            match templates.and_then(|t| t.share(&kept)) {
                Some(a) => Example::Shared(a),
                None => Example::Own(self.push_str(&kept)),
            }
        };
        match session.filter(|_| !plain) {
            Some(s) => self.set(|g| &mut g.example_session, s, Some(List::Sessions)),
            None => self.example_session = NONE,
        }
        match resource.filter(|_| !plain) {
            Some(r) => self.set(|g| &mut g.example_resource, r, Some(List::Resources)),
            None => self.example_resource = NONE,
        }
    }

    /// Another copy of an event counted here was recorded in `account`.
    pub fn copy_recorded(&mut self, account: Option<&str>) {
        if let Some(a) = account {
            self.add_value(List::Accounts, a, 1);
        }
    }

    fn seen_at(&mut self, first: &str, last: &str) {
        if self.first_seen().is_none_or(|f| earlier(first, f)) {
            self.set(|g| &mut g.first_seen, first, None);
        }
        if self.last_seen().is_none_or(|l| earlier(l, last)) {
            self.set(|g| &mut g.last_seen, last, None);
        }
    }

    /// Fold another group of the same principal/action into this one: the
    /// result is the group one aggregate fed both groups' denials would hold.
    pub fn merge(&mut self, other: &Group) {
        self.merge_shared(other, None);
    }

    /// As [`merge`](Group::merge), holding the example's shape in
    /// `templates`.
    pub fn merge_shared(&mut self, other: &Group, templates: Option<&mut Templates>) {
        for &list in &List::ALL {
            let view = other.list(list);
            self.totals.add(list, view.total, self.count);
            for it in view.items {
                let v = other.get(it.value()).unwrap_or("");
                self.add_hashed(list, it.hash, v, it.count);
            }
            if view.cut {
                self.cut |= 1 << list as u8;
            }
        }
        self.set_count(self.count + other.count);
        if self.principal_account().is_none()
            && let Some(a) = other.principal_account()
        {
            let a = a.to_string();
            self.set(|g| &mut g.principal_account, &a, None);
        }
        if let Some(m) = other.example_message() {
            self.offer_example(
                &m,
                other.first_seen(),
                other.get(other.example_session),
                other.get(other.example_resource),
                templates,
            );
        }
        let (f, l) = (
            other.first_seen().map(str::to_string),
            other.last_seen().map(str::to_string),
        );
        match (f, l) {
            (Some(f), Some(l)) => self.seen_at(&f, &l),
            (Some(t), None) | (None, Some(t)) => self.seen_at(&t, &t),
            (None, None) => {}
        }
        self.encoded += other.encoded;
        self.truncated += other.truncated;
    }

    /// Take one denial with contribution `c` back out (a repeated delivery
    /// that another shard also counted).
    pub fn take_back(&mut self, c: &Contribution) {
        self.set_count(self.count.saturating_sub(1));
        for (list, f) in CONTRIBUTED.into_iter().zip(c.fields) {
            if let Some(p) = f {
                self.take_back_value(list, p);
            }
        }
        self.encoded = self.encoded.saturating_sub(u64::from(c.encoded));
        self.truncated = self.truncated.saturating_sub(u64::from(c.truncated));
    }

    /// Take one denial back from the value of `list` whose hash starts with
    /// the 32 bits `prefix`: from its count when it is listed, else from the
    /// unlisted denials. Returns the value when it was listed.
    pub fn take_back_value(&mut self, list: List, prefix: u32) -> Option<String> {
        let l = list as u8;
        self.totals.take(list, self.count);
        let i = self
            .items
            .iter()
            .position(|it| it.list() == l && (it.hash >> 32) as u32 == prefix && it.count > 0)?;
        self.items[i].count -= 1;
        self.get(self.items[i].value()).map(str::to_string)
    }

    /// Drop listed values left at zero by [`take_back`](Group::take_back).
    pub fn drop_empty(&mut self) {
        let before = self.items.len();
        let mut freed = 0;
        self.items.retain(|it| {
            if it.count == 0 {
                freed += it.value().len;
            }
            it.count > 0
        });
        if self.items.len() != before {
            self.garbage += freed;
            self.maybe_compact();
        }
    }

    /// Bytes the group holds on the heap (strings and list entries,
    /// capacity included).
    pub fn heap_bytes(&self) -> usize {
        self.strs.capacity() + self.items.capacity() * std::mem::size_of::<Item>()
    }
}

/// One list of a group: its listed values with their counts, and what it
/// left out.
#[derive(Debug, Clone, Copy)]
pub struct ListView<'g> {
    group: &'g Group,
    items: &'g [Item],
    total: u64,
    cut: bool,
}

impl<'g> ListView<'g> {
    /// Listed values and their counts, in value order.
    pub fn counts(&self) -> impl Iterator<Item = (&'g str, u64)> + 'g {
        let g = self.group;
        let mut v: Vec<(&'g str, u64)> = self
            .items
            .iter()
            .map(|it| (g.get(it.value()).unwrap_or(""), it.count))
            .collect();
        v.sort_unstable();
        v.into_iter()
    }

    /// Listed values, in value order.
    pub fn iter(&self) -> impl Iterator<Item = &'g str> + 'g {
        self.counts().map(|(v, _)| v)
    }

    /// Listed values, in value order (as [`iter`](ListView::iter)).
    pub fn keys(&self) -> impl Iterator<Item = &'g str> + 'g {
        self.iter()
    }

    /// The reasons of a [`List::Reasons`] view, with their counts.
    pub fn reasons(&self) -> impl Iterator<Item = (Reason, u64)> + 'g {
        self.counts().map(|(v, c)| (reason_of(v), c))
    }

    /// Is `value` listed?
    pub fn contains(&self, value: &str) -> bool {
        let h = value_hash(value);
        self.items
            .iter()
            .any(|it| it.hash == h && self.group.get(it.value()) == Some(cut(value, MAX_VALUE)))
    }

    /// Number of listed values.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Nothing listed.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Denials with a value, listed or not.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Was a value ever left out?
    pub fn is_cut(&self) -> bool {
        self.cut
    }

    /// Denials whose value is not listed.
    pub fn unlisted(&self) -> u64 {
        self.total - self.items.iter().map(|it| it.count).sum::<u64>()
    }

    /// Estimated number of distinct values left out (0 when none was).
    pub fn unlisted_distinct(&self) -> u64 {
        if !self.cut || self.items.is_empty() {
            return 0;
        }
        let k = self.items.len() as f64;
        let h = self.items.last().map_or(u64::MAX, |it| it.hash) as f64 + 1.0;
        let est = ((k - 1.0).max(1.0) * 18_446_744_073_709_551_616.0 / h).round();
        (est - k).max(1.0) as u64
    }

    /// The single listed value, when there is exactly one and nothing was
    /// left out.
    pub fn single(&self) -> Option<&'g str> {
        match (self.items, self.cut) {
            ([only], false) => self.group.get(only.value()),
            _ => None,
        }
    }
}

impl<'g> IntoIterator for ListView<'g> {
    type Item = &'g str;
    type IntoIter = std::vec::IntoIter<&'g str>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter().collect::<Vec<_>>().into_iter()
    }
}

/// One list as saved: listed values and counts, denials with a value, and
/// whether a value was left out.
type SavedList = (Vec<(String, u64)>, u64, bool);

/// A group as it is saved (checkpoints, shard states): plain strings.
#[derive(Serialize, Deserialize)]
struct Saved {
    principal: String,
    action: String,
    principal_kind: PrincipalKind,
    principal_account: Option<String>,
    count: u64,
    encoded: u64,
    truncated: u64,
    first_seen: Option<String>,
    last_seen: Option<String>,
    example_message: Option<String>,
    list_max: usize,
    /// Per list: listed values and counts, denials with a value, cut.
    lists: Vec<SavedList>,
}

impl Serialize for Group {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Saved {
            principal: self.principal().to_string(),
            action: self.action().to_string(),
            principal_kind: self.principal_kind,
            principal_account: self.principal_account().map(str::to_string),
            count: self.count,
            encoded: self.encoded,
            truncated: self.truncated,
            first_seen: self.first_seen().map(str::to_string),
            last_seen: self.last_seen().map(str::to_string),
            example_message: self.example_message(),
            list_max: self.list_max(),
            lists: List::ALL
                .iter()
                .map(|&l| {
                    let v = self.list(l);
                    (
                        v.counts().map(|(s, c)| (s.to_string(), c)).collect(),
                        v.total(),
                        v.is_cut(),
                    )
                })
                .collect(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Group {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Group, D::Error> {
        let s = Saved::deserialize(d)?;
        if s.lists.len() != List::ALL.len() {
            return Err(serde::de::Error::custom(format!(
                "a group has {} lists, expected {}",
                s.lists.len(),
                List::ALL.len()
            )));
        }
        let mut g = Group::empty(&s.principal, &s.action, s.list_max);
        g.principal_kind = s.principal_kind;
        g.set_count(s.count);
        g.encoded = s.encoded;
        g.truncated = s.truncated;
        if let Some(a) = &s.principal_account {
            g.principal_account = g.push_str(a);
        }
        if let Some(t) = &s.first_seen {
            g.first_seen = g.push_str(t);
        }
        if let Some(t) = &s.last_seen {
            g.last_seen = g.push_str(t);
        }
        if let Some(m) = &s.example_message {
            g.offer_example(m, s.first_seen.as_deref(), None, None, None);
        }
        for (&list, (values, total, was_cut)) in List::ALL.iter().zip(s.lists) {
            g.totals.add(list, total, g.count);
            for (v, c) in values {
                g.list_value(list, &v, c);
            }
            if was_cut {
                g.cut |= 1 << list as u8;
            }
        }
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two-bit totals agree with nine plain counters through every
    /// operation, and hold no table once every list is none or all again.
    #[test]
    fn list_totals_are_nine_counters() {
        let mut t = ListTotals::default();
        let mut plain = [0u64; 9];
        let mut count = 0u64;
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let r = next();
            let list = List::ALL[(r % 9) as usize];
            match r >> 8 & 7 {
                // Mostly denials that give the same lists, as real groups.
                0..=3 => {
                    let given = if r >> 12 & 7 == 0 {
                        (r >> 16) as u16 & 0x1ff
                    } else {
                        0x0b5
                    };
                    t.step(given, count);
                    count += 1;
                    for (l, p) in plain.iter_mut().enumerate() {
                        *p += u64::from(given >> l & 1);
                    }
                }
                4 => {
                    let n = r >> 20 & 3;
                    t.add(list, n, count);
                    plain[list as usize] += n;
                }
                5 => {
                    t.take(list, count);
                    plain[list as usize] = plain[list as usize].saturating_sub(1);
                }
                _ => {
                    let new = if r >> 20 & 1 == 0 {
                        count + (r >> 24 & 3)
                    } else {
                        count.saturating_sub(1)
                    };
                    t.recount(count, new);
                    count = new;
                }
            }
            for l in List::ALL {
                assert_eq!(t.get(l, count), plain[l as usize], "{l:?} of {count}");
            }
            let spelt = (0..9).any(|l| t.mode(l) == SPELT);
            assert_eq!(t.spelt.is_some(), spelt);
        }
    }

    #[test]
    fn replace_all_is_str_replace() {
        let cases = [
            ("", "a"),
            ("aaaa", "aa"),
            ("abcabc", "abc"),
            ("xabcx", "b"),
            ("ünï-ünï", "ünï"),
            ("no match here", "zzz"),
            (
                "arn:aws:iam::1:role/r is not arn:aws:iam::1:role/r",
                "arn:aws:iam::1:role/r",
            ),
        ];
        for (s, p) in cases {
            assert_eq!(
                replace_all(s.to_string(), p, '\u{1}'),
                s.replace(p, "\u{1}"),
                "{s:?} {p:?}"
            );
        }
    }

    #[test]
    fn replace_all_is_str_replace_on_long_texts() {
        let s = format!("{}abc{}abcab", "ab".repeat(700), "c".repeat(10));
        for p in ["abc", "ab", "cab", "zz"] {
            assert_eq!(replace_all(s.clone(), p, '\u{1}'), s.replace(p, "\u{1}"));
        }
    }

    #[test]
    fn example_contains_is_contains_on_the_spelt_out_example() {
        let mut g = Group::empty("arn:aws:iam::1:user/u", "config:PutConfigRule", 8);
        g.offer_example(
            "User: arn:aws:iam::1:user/u is not authorized to perform: config:PutConfigRule on resource: arn:aws:config:us-east-1:1:config-rule/managed-rule-x",
            Some("2024-01-01T00:00:00Z"),
            None,
            Some("arn:aws:config:us-east-1:1:config-rule/managed-rule-x"),
            None,
        );
        let e = g.example_message().expect("an example");
        assert!(g.example_template().is_some_and(has_mark));
        // Within a part, across a part and the text, absent, empty.
        for n in [
            "managed-rule",
            "u is not",
            "PutConfigRule on",
            ": arn:aws:config",
            "nothing",
            "",
            &e,
        ] {
            assert_eq!(g.example_contains(n), e.contains(n), "{n:?}");
        }
        assert!(!Group::empty("p", "a", 8).example_contains("x"));
    }

    #[test]
    fn a_message_holding_mark_bytes_is_shown_as_it_was_read() {
        let mut g = Group::empty("arn:aws:iam::1:user/u", "s3:GetObject", 8);
        let m = "User: arn:aws:iam::1:user/u \u{1}\u{4} is not authorized to perform: s3:GetObject";
        g.offer_example(m, Some("2024-01-01T00:00:00Z"), None, None, None);
        assert_eq!(g.example_message().as_deref(), Some(m));
        assert_eq!(g.example_cmp(m), Some(std::cmp::Ordering::Equal));
        assert_eq!(g.example_cmp("A"), Some(std::cmp::Ordering::Less));
    }

    #[test]
    fn example_cmp_is_the_spelt_out_comparison() {
        let mut g = Group::empty("arn:aws:iam::1:user/u", "s3:GetObject", 8);
        g.offer_example(
            "User: arn:aws:iam::1:user/u is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::b/k",
            Some("2024-01-01T00:00:00Z"),
            None,
            Some("arn:aws:s3:::b/k"),
            None,
        );
        assert!(g.example_template().is_some_and(has_mark));
        let e = g.example_message().expect("an example");
        let cut = e[..e.len() - 1].to_string();
        for m in [
            e.clone(),
            format!("{e}x"),
            cut,
            String::new(),
            "User: arn:aws:iam::1:user/a".to_string(),
            "User: arn:aws:iam::1:user/z".to_string(),
            "User: arn:aws:iam::1:user/u is not".to_string(),
            "zzz".to_string(),
        ] {
            assert_eq!(g.example_cmp(&m), Some(m.as_str().cmp(&e)), "{m:?}");
        }
    }

    fn group_of(k: usize, vals: &[&str]) -> Group {
        let mut g = Group::empty("p", "a:B", k);
        for v in vals {
            g.add_value(List::Resources, v, 1);
        }
        g
    }

    fn words(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("value-{}", (i * 7919) % 1000))
            .collect()
    }

    #[test]
    fn order_and_splits_do_not_change_the_list() {
        let all = words(5000);
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let whole = group_of(16, &refs);
        let mut rev = refs.clone();
        rev.reverse();
        assert_eq!(group_of(16, &rev), whole);
        for parts in [2, 3, 7] {
            let mut merged = Group::empty("p", "a:B", 16);
            for p in 0..parts {
                let part: Vec<&str> = refs.iter().skip(p).step_by(parts).copied().collect();
                merged.merge(&group_of(16, &part));
            }
            assert_eq!(merged, whole, "{parts} parts");
            assert_eq!(
                merged.resources().unlisted_distinct(),
                whole.resources().unlisted_distinct()
            );
        }
    }

    #[test]
    fn listed_counts_are_exact_and_memory_is_bounded() {
        let all = words(5000);
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let g = group_of(16, &refs);
        let l = g.resources();
        for (v, c) in l.counts() {
            assert_eq!(
                c,
                all.iter().filter(|w| w.as_str() == v).count() as u64,
                "{v}"
            );
        }
        assert_eq!((l.total(), l.len()), (5000, 16));
        assert!(l.is_cut());
        // 1000 distinct values, 16 listed: the estimate is near 984.
        let est = l.unlisted_distinct() as f64;
        assert!((500.0..2000.0).contains(&est), "{est}");
        // Pushed-out values do not pile up.
        assert!(g.heap_bytes() < 4096, "{}", g.heap_bytes());
    }

    #[test]
    fn short_lists_are_whole() {
        let g = group_of(64, &["a", "b", "a"]);
        let l = g.resources();
        assert!(!l.is_cut());
        assert_eq!((l.unlisted(), l.unlisted_distinct()), (0, 0));
        assert_eq!(l.iter().collect::<Vec<_>>(), vec!["a", "b"]);
        assert_eq!(group_of(64, &["x", "x"]).resources().single(), Some("x"));
        assert_eq!(l.single(), None);
        assert!(g.sessions().is_empty());
    }

    #[test]
    fn take_back_undoes_one_denial() {
        let mut g = group_of(64, &["a", "b", "a"]);
        let p = prefix("a");
        assert_eq!(g.take_back_value(List::Resources, p).as_deref(), Some("a"));
        assert_eq!(
            g.resources().counts().find(|(v, _)| *v == "a"),
            Some(("a", 1))
        );
        g.take_back_value(List::Resources, p);
        g.drop_empty();
        assert_eq!(g.resources().iter().collect::<Vec<_>>(), vec!["b"]);
        assert_eq!(g.resources().total(), 1);
    }

    #[test]
    fn reasons_round_trip_through_their_list_values() {
        for r in [
            Reason::UNKNOWN,
            Reason {
                kind: DenyKind::Explicit,
                policy_type: Some(PolicyType::ServiceControlPolicy),
                policy_arn: Some("arn:aws:organizations::1:policy/o-1/p-1".into()),
            },
            Reason {
                kind: DenyKind::Implicit,
                policy_type: None,
                policy_arn: None,
            },
        ] {
            assert_eq!(reason_of(&reason_value(&r)), r);
        }
    }

    #[test]
    fn saved_groups_come_back_equal() {
        let all = words(300);
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let mut g = group_of(8, &refs);
        g.add_value(List::Regions, "us-east-1", 3);
        let back: Group = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
        assert_eq!(back, g);
        assert_eq!(
            back.resources().unlisted_distinct(),
            g.resources().unlisted_distinct()
        );
    }
}
