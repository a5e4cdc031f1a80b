//! Deduplication of repeated deliveries: the same event in two files, or
//! the two copies of a cross-account call sharing a `sharedEventID`, is
//! counted once. Keys are the [`stable`] hash of the event's dedup key; two
//! different IDs sharing a 64-bit hash would be taken for one event (a
//! chance of about 3·10⁻⁴ in 10⁸ events). Each key remembers the group its
//! event was counted in, so that the other copy's recording account is
//! added there.
//!
//! - [`ExactSet`] (replay, merge): every key, exact, in about 12 bytes per
//!   distinct event (a 64-bit hash and a 32-bit group, kept in sorted
//!   buckets that split as they fill; measured in `benches/compare.sh
//!   --memory`);
//! - [`Window`] (the sidecar): the last `capacity` keys, oldest forgotten
//!   first, saved in the checkpoint.
//!
//! [`stable`]: crate::hash::stable

use std::collections::{HashMap, VecDeque};

/// How repeated deliveries are found.
#[derive(Debug, Clone)]
pub enum Dedup {
    /// Every key, exactly.
    Exact(ExactSet),
    /// The last N keys.
    Window(Window),
}

impl Dedup {
    /// Remember `key` as counted in group `group`; when it was seen before,
    /// the group its first copy was counted in.
    pub fn first_or(&mut self, key: u64, group: u32) -> Option<u32> {
        match self {
            Dedup::Exact(s) => s.insert(key, group),
            Dedup::Window(w) => w.insert(key, group),
        }
    }

    /// The group a `key` already seen was counted in.
    pub fn get(&self, key: u64) -> Option<u32> {
        match self {
            Dedup::Exact(s) => s.get(key),
            Dedup::Window(w) => w.groups.get(&key).copied(),
        }
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        match self {
            Dedup::Exact(s) => s.len(),
            Dedup::Window(w) => w.len(),
        }
    }

    /// No key held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Give every key counted in a group a new group number (after groups
    /// were removed and the rest renumbered); keys of removed groups point
    /// nowhere (`u32::MAX`).
    pub fn renumber(&mut self, map: &dyn Fn(u32) -> u32) {
        match self {
            Dedup::Exact(s) => s.renumber(map),
            Dedup::Window(w) => w.renumber(map),
        }
    }
}

/// Keys per bucket past which the buckets split in two.
const SPLIT_AT: usize = 256;
/// Buckets to start with (a power of two).
const START_BUCKETS: usize = 1 << 10;

/// Every key, with its group: sorted buckets chosen by the top bits of the
/// key. A bucket is two parallel sorted vectors (keys, groups: 12 bytes per
/// key, no padding); when the average bucket holds [`SPLIT_AT`] keys, every
/// bucket splits in two by the next bit. Growth never copies the whole set
/// at once, so memory grows smoothly with the keys held.
///
/// ```
/// use denytrail::aggregate::dedup::ExactSet;
/// let mut s = ExactSet::new();
/// assert_eq!(s.insert(42, 7), None);
/// assert_eq!(s.insert(42, 9), Some(7));
/// assert_eq!(s.len(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct ExactSet {
    /// log2 of the number of buckets.
    bits: u32,
    keys: Vec<Vec<u64>>,
    groups: Vec<Vec<u32>>,
    len: usize,
}

impl Default for ExactSet {
    fn default() -> Self {
        ExactSet::new()
    }
}

impl ExactSet {
    /// An empty set.
    pub fn new() -> ExactSet {
        ExactSet {
            bits: START_BUCKETS.trailing_zeros(),
            keys: vec![Vec::new(); START_BUCKETS],
            groups: vec![Vec::new(); START_BUCKETS],
            len: 0,
        }
    }

    fn bucket(&self, key: u64) -> usize {
        (key >> (64 - self.bits)) as usize
    }

    /// Insert `key` counted in `group`; `Some(first group)` when present.
    pub fn insert(&mut self, key: u64, group: u32) -> Option<u32> {
        let b = self.bucket(key);
        let keys = &mut self.keys[b];
        match keys.binary_search(&key) {
            Ok(i) => Some(self.groups[b][i]),
            Err(i) => {
                grow(keys);
                keys.insert(i, key);
                let groups = &mut self.groups[b];
                grow(groups);
                groups.insert(i, group);
                self.len += 1;
                if self.len > self.keys.len() * SPLIT_AT {
                    self.split();
                }
                None
            }
        }
    }

    /// Is `key` present?
    pub fn contains(&self, key: u64) -> bool {
        self.get(key).is_some()
    }

    /// The group `key` was counted in, if present.
    pub fn get(&self, key: u64) -> Option<u32> {
        let b = self.bucket(key);
        self.keys[b]
            .binary_search(&key)
            .ok()
            .map(|i| self.groups[b][i])
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No key held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held by the keys and groups (capacity, not length).
    pub fn heap_bytes(&self) -> usize {
        self.keys.iter().map(|v| v.capacity() * 8).sum::<usize>()
            + self.groups.iter().map(|v| v.capacity() * 4).sum::<usize>()
            + self.keys.capacity() * 48
    }

    /// Double the buckets: bucket `i` becomes `2i` (next bit 0) and `2i+1`.
    fn split(&mut self) {
        let bit = 63 - self.bits;
        let n = self.keys.len();
        let mut keys = Vec::with_capacity(n * 2);
        let mut groups = Vec::with_capacity(n * 2);
        for (mut k, mut g) in std::mem::take(&mut self.keys)
            .into_iter()
            .zip(std::mem::take(&mut self.groups))
        {
            let at = k.partition_point(|&key| key >> bit & 1 == 0);
            let (k_hi, g_hi) = (k.split_off(at), g.split_off(at));
            k.shrink_to_fit();
            g.shrink_to_fit();
            keys.push(k);
            keys.push(k_hi);
            groups.push(g);
            groups.push(g_hi);
        }
        self.keys = keys;
        self.groups = groups;
        self.bits += 1;
    }

    fn renumber(&mut self, map: &dyn Fn(u32) -> u32) {
        for g in self.groups.iter_mut().flatten() {
            *g = map(*g);
        }
    }
}

/// Grow a bucket by a quarter when full (instead of doubling), so that a
/// bucket wastes at most a fifth of its bytes.
fn grow<T>(v: &mut Vec<T>) {
    if v.len() == v.capacity() {
        v.reserve_exact((v.len() / 4).max(4));
    }
}

/// The last `capacity` keys and their groups.
///
/// ```
/// use denytrail::aggregate::dedup::Window;
/// let mut w = Window::new(2);
/// assert_eq!(w.insert(1, 0), None);
/// assert_eq!(w.insert(2, 0), None);
/// assert_eq!(w.insert(1, 5), Some(0));
/// assert_eq!(w.insert(3, 0), None); // forgets 1
/// assert_eq!(w.insert(1, 0), None);
/// ```
#[derive(Debug, Clone)]
pub struct Window {
    capacity: usize,
    order: VecDeque<u64>,
    groups: HashMap<u64, u32>,
}

impl Window {
    /// An empty window of `capacity` keys (0 turns dedup off).
    pub fn new(capacity: usize) -> Window {
        Window {
            capacity,
            order: VecDeque::new(),
            groups: HashMap::new(),
        }
    }

    /// Insert `key` counted in `group`; `Some(first group)` when present.
    pub fn insert(&mut self, key: u64, group: u32) -> Option<u32> {
        if self.capacity == 0 {
            return None;
        }
        if let Some(&g) = self.groups.get(&key) {
            return Some(g);
        }
        self.groups.insert(key, group);
        self.order.push_back(key);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.groups.remove(&old);
            }
        }
        None
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// No key held.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The keys and their groups, oldest first (what the checkpoint saves).
    pub fn entries(&self) -> Vec<(u64, u32)> {
        self.order
            .iter()
            .map(|k| (*k, self.groups.get(k).copied().unwrap_or(u32::MAX)))
            .collect()
    }

    /// Refill from saved entries, oldest first.
    pub fn restore(&mut self, entries: &[(u64, u32)]) {
        for &(k, g) in entries {
            self.insert(k, g);
        }
    }

    fn renumber(&mut self, map: &dyn Fn(u32) -> u32) {
        for g in self.groups.values_mut() {
            *g = map(*g);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_set_is_exact_across_splits() {
        let mut s = ExactSet::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut keys = Vec::new();
        for i in 0..600_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            keys.push(x);
            assert_eq!(s.insert(x, i), None);
        }
        assert!(s.bits > START_BUCKETS.trailing_zeros(), "it split");
        assert_eq!(s.len(), keys.len());
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(s.insert(*k, 0), Some(i as u32));
        }
        assert!(!s.contains(1));
        // About 12 bytes a key, plus what the buckets hold spare.
        let per_key = s.heap_bytes() as f64 / s.len() as f64;
        assert!(per_key < 16.0, "{per_key} bytes per key");
    }

    #[test]
    fn window_is_bounded_and_restorable() {
        let mut w = Window::new(1000);
        for i in 0..5000u64 {
            assert_eq!(w.insert(i, i as u32), None);
        }
        assert_eq!(w.len(), 1000);
        assert_eq!(w.insert(4999, 0), Some(4999));
        assert_eq!(w.insert(0, 0), None);
        let mut back = Window::new(1000);
        back.restore(&w.entries());
        assert_eq!(back.insert(4999, 1), Some(4999));
        assert_eq!(back.entries(), w.entries());
    }

    #[test]
    fn window_of_zero_keeps_nothing() {
        let mut w = Window::new(0);
        assert_eq!(w.insert(1, 0), None);
        assert_eq!(w.insert(1, 0), None);
        assert!(w.is_empty());
    }
}
