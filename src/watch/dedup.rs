//! The dedup window: the most recent event IDs counted, so a repeated
//! delivery (the same event in two files, or the two copies of a
//! cross-account call sharing a `sharedEventID`) is counted once.
//!
//! Bounded: the last `capacity` keys, oldest forgotten first. Keys are kept
//! as 64-bit FNV-1a hashes (8 bytes each instead of a 36-character UUID);
//! with 100 000 keys the chance that two different IDs collide is about
//! 3·10⁻¹⁰. The window is saved in the checkpoint.

use std::collections::{HashSet, VecDeque};

use super::tail::fnv1a;

/// The last N dedup keys.
///
/// ```
/// use denytrail::watch::dedup::DedupWindow;
/// let mut w = DedupWindow::new(2);
/// assert!(w.insert("a") && w.insert("b") && !w.insert("a"));
/// assert!(w.insert("c")); // forgets "a"
/// assert!(w.insert("a"));
/// ```
#[derive(Debug, Clone)]
pub struct DedupWindow {
    capacity: usize,
    order: VecDeque<u64>,
    set: HashSet<u64>,
}

impl DedupWindow {
    /// An empty window of `capacity` keys (0 turns dedup off).
    pub fn new(capacity: usize) -> DedupWindow {
        DedupWindow {
            capacity,
            order: VecDeque::new(),
            set: HashSet::new(),
        }
    }

    /// Record `key`; `false` when it is already in the window.
    pub fn insert(&mut self, key: &str) -> bool {
        self.insert_hash(fnv1a(key.as_bytes()))
    }

    fn insert_hash(&mut self, h: u64) -> bool {
        if self.capacity == 0 {
            return true;
        }
        if !self.set.insert(h) {
            return false;
        }
        self.order.push_back(h);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// No keys held.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The hashed keys, oldest first (what the checkpoint saves).
    pub fn hashes(&self) -> Vec<u64> {
        self.order.iter().copied().collect()
    }

    /// Refill from saved hashes, oldest first.
    pub fn restore(&mut self, hashes: &[u64]) {
        for &h in hashes {
            self.insert_hash(h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_restorable() {
        let mut w = DedupWindow::new(1000);
        for i in 0..5000 {
            assert!(w.insert(&format!("id-{i}")));
        }
        assert_eq!(w.len(), 1000);
        assert!(!w.insert("id-4999"));
        assert!(w.insert("id-0"));
        let mut back = DedupWindow::new(1000);
        back.restore(&w.hashes());
        assert!(!back.insert("id-4999"));
        assert_eq!(back.hashes(), w.hashes());
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let mut w = DedupWindow::new(0);
        assert!(w.insert("a") && w.insert("a"));
        assert!(w.is_empty());
    }
}
