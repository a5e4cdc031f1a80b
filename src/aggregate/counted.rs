//! A bounded, counted list of values: exact counts for at most `k` values,
//! and for the rest their number of denials and an estimate of how many
//! distinct values they are.
//!
//! Which `k` are listed does not depend on the order values arrive in, nor
//! on how the input was split: the listed values are always the `k` values
//! with the smallest [`stable`] hash among every value seen (a bottom-k
//! sketch). A value whose hash is above the `k`-th smallest can never come
//! back once the list is full (the threshold only falls), so every listed
//! value was listed from its first occurrence and its count is exact; and
//! two lists merged keep exactly the values one list fed everything would
//! have kept. Replay, the sidecar and `merge` of shards therefore list the
//! same values with the same counts. The number of distinct values left out
//! is estimated from the same sketch, `(k - 1) · 2⁶⁴ / h₍ₖ₎ − k` (the KMV
//! estimator: about 1/√k relative error, 13 % at k = 64).
//!
//! [`stable`]: crate::hash::stable

use std::borrow::Borrow;

use serde::{Deserialize, Serialize};

/// A value a [`Counted`] list can hold: hashed with a fixed algorithm so
/// that every process chooses the same values.
pub trait ListValue: Clone + Ord {
    /// The value's stable hash.
    fn stable_hash(&self) -> u64;
}

impl ListValue for String {
    fn stable_hash(&self) -> u64 {
        crate::hash::stable(self.as_bytes())
    }
}

/// One listed value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Item<T> {
    hash: u64,
    value: T,
    count: u64,
}

/// Default number of values listed per list (`--list-max`).
pub const DEFAULT_K: usize = 64;

/// Most values a list may be asked to hold.
pub const MAX_K: usize = 4096;

/// The `--list-max` flag's parser.
pub fn parse_list_max(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(k) if (1..=MAX_K).contains(&k) => Ok(k),
        _ => Err(format!("--list-max {s:?}: give a number from 1 to {MAX_K}")),
    }
}

/// A bounded counted list. See the module documentation.
///
/// ```
/// use denytrail::aggregate::counted::Counted;
/// let mut l: Counted<String> = Counted::new(2);
/// for v in ["a", "b", "a", "c", "d"] {
///     l.add(v.to_string(), 1);
/// }
/// assert_eq!(l.len(), 2);
/// assert_eq!(l.total(), 5);
/// assert!(l.is_cut());
/// assert_eq!(l.counts().map(|(_, c)| c).sum::<u64>() + l.unlisted(), 5);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "T: Serialize", deserialize = "T: Deserialize<'de>"))]
pub struct Counted<T> {
    /// Listed values, sorted by hash (then value).
    items: Vec<Item<T>>,
    /// Largest number of listed values.
    k: u32,
    /// Denials with a value, listed or not.
    total: u64,
    /// A value was ever left out.
    cut: bool,
}

impl<T: ListValue> Default for Counted<T> {
    fn default() -> Self {
        Counted::new(DEFAULT_K)
    }
}

impl<T: ListValue> Counted<T> {
    /// An empty list of at most `k` values (`k` is clamped to 1..=[`MAX_K`]).
    pub fn new(k: usize) -> Counted<T> {
        Counted {
            items: Vec::new(),
            k: k.clamp(1, MAX_K) as u32,
            total: 0,
            cut: false,
        }
    }

    fn find(&self, hash: u64, value: &T) -> Result<usize, usize> {
        self.items
            .binary_search_by(|it| (it.hash, &it.value).cmp(&(hash, value)))
    }

    /// Count `n` more denials with `value`.
    pub fn add(&mut self, value: T, n: u64) {
        let hash = value.stable_hash();
        self.add_hashed(hash, value, n);
    }

    /// Count `n` more denials with a borrowed `value`, copying it only when
    /// it is newly listed.
    pub fn add_ref<Q>(&mut self, value: &Q, n: u64)
    where
        T: Borrow<Q>,
        Q: ?Sized + Ord + ToOwned<Owned = T>,
        Q: HashAs,
    {
        let hash = value.hash_as();
        let pos = self
            .items
            .binary_search_by(|it| (it.hash, it.value.borrow()).cmp(&(hash, value)));
        match pos {
            Ok(i) => {
                self.items[i].count += n;
                self.total += n;
            }
            Err(_) => self.add_hashed(hash, value.to_owned(), n),
        }
    }

    fn add_hashed(&mut self, hash: u64, value: T, n: u64) {
        self.total += n;
        match self.find(hash, &value) {
            Ok(i) => self.items[i].count += n,
            Err(i) => {
                if self.items.len() < self.k as usize {
                    self.items.insert(
                        i,
                        Item {
                            hash,
                            value,
                            count: n,
                        },
                    );
                } else if i < self.items.len() {
                    // Below the threshold: it takes the place of the largest.
                    self.items.pop();
                    self.items.insert(
                        i,
                        Item {
                            hash,
                            value,
                            count: n,
                        },
                    );
                    self.cut = true;
                } else {
                    self.cut = true;
                }
            }
        }
    }

    /// Fold `other` in: the result lists what one list fed both inputs
    /// would list, with the same counts.
    pub fn merge(&mut self, other: &Counted<T>) {
        let other_listed: u64 = other.items.iter().map(|it| it.count).sum();
        for it in &other.items {
            self.add_hashed(it.hash, it.value.clone(), it.count);
        }
        self.total += other.total - other_listed;
        self.cut |= other.cut;
    }

    /// Take back one denial whose value has a hash starting with the 32 bits
    /// `prefix` (a repeated delivery found when merging shards): from that
    /// value's count when it is listed, else from the unlisted denials.
    pub fn take_back(&mut self, prefix: u32) {
        self.total = self.total.saturating_sub(1);
        if let Some(it) = self
            .items
            .iter_mut()
            .find(|it| (it.hash >> 32) as u32 == prefix && it.count > 0)
        {
            it.count -= 1;
        }
    }

    /// Drop listed values whose count fell to zero (after [`take_back`]).
    ///
    /// [`take_back`]: Counted::take_back
    pub fn drop_empty(&mut self) {
        self.items.retain(|it| it.count > 0);
    }

    /// Listed values and their counts, in value order.
    pub fn counts(&self) -> impl Iterator<Item = (&T, u64)> + '_ {
        let mut v: Vec<(&T, u64)> = self.items.iter().map(|it| (&it.value, it.count)).collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v.into_iter()
    }

    /// Listed values, in value order.
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.counts().map(|(v, _)| v)
    }

    /// Listed values, in value order (as [`iter`](Counted::iter)).
    pub fn values(&self) -> impl Iterator<Item = &T> + '_ {
        self.iter()
    }

    /// Listed values, in value order (as [`iter`](Counted::iter)).
    pub fn keys(&self) -> impl Iterator<Item = &T> + '_ {
        self.iter()
    }

    /// Is `value` listed?
    pub fn contains(&self, value: &T) -> bool {
        self.find(value.stable_hash(), value).is_ok()
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
    pub fn single(&self) -> Option<&T> {
        match (&self.items[..], self.cut) {
            ([only], false) => Some(&only.value),
            _ => None,
        }
    }
}

impl<'a, T: ListValue> IntoIterator for &'a Counted<T> {
    type Item = &'a T;
    type IntoIter = std::vec::IntoIter<&'a T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter().collect::<Vec<_>>().into_iter()
    }
}

/// Hashing a borrowed value the way its owned form hashes.
pub trait HashAs {
    /// The stable hash of the value.
    fn hash_as(&self) -> u64;
}

impl HashAs for str {
    fn hash_as(&self) -> u64 {
        crate::hash::stable(self.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(k: usize, vals: &[&str]) -> Counted<String> {
        let mut l = Counted::new(k);
        for v in vals {
            l.add_ref(*v, 1);
        }
        l
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
        let whole = list(16, &refs);
        let mut rev: Vec<&str> = refs.clone();
        rev.reverse();
        assert_eq!(list(16, &rev), whole);
        for parts in [2, 3, 7] {
            let mut merged: Counted<String> = Counted::new(16);
            for p in 0..parts {
                let part: Vec<&str> = refs.iter().skip(p).step_by(parts).copied().collect();
                merged.merge(&list(16, &part));
            }
            assert_eq!(
                merged.counts().collect::<Vec<_>>(),
                whole.counts().collect::<Vec<_>>()
            );
            assert_eq!(
                (merged.total(), merged.unlisted()),
                (whole.total(), whole.unlisted())
            );
            assert_eq!(merged.unlisted_distinct(), whole.unlisted_distinct());
        }
    }

    #[test]
    fn listed_counts_are_exact() {
        let all = words(5000);
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let l = list(16, &refs);
        for (v, c) in l.counts() {
            assert_eq!(c, all.iter().filter(|w| *w == v).count() as u64, "{v}");
        }
        assert_eq!(l.total(), 5000);
        assert!(l.is_cut());
        // 1000 distinct values, 16 listed: the estimate is near 984.
        let est = l.unlisted_distinct() as f64;
        assert!((500.0..2000.0).contains(&est), "{est}");
    }

    #[test]
    fn short_lists_are_whole() {
        let l = list(64, &["a", "b", "a"]);
        assert!(!l.is_cut());
        assert_eq!((l.unlisted(), l.unlisted_distinct()), (0, 0));
        assert_eq!(l.values().cloned().collect::<Vec<_>>(), vec!["a", "b"]);
        assert_eq!(
            list(64, &["x", "x"]).single().map(String::as_str),
            Some("x")
        );
        assert_eq!(l.single(), None);
    }

    #[test]
    fn take_back_undoes_one_denial() {
        let mut l = list(64, &["a", "b", "a"]);
        let h = (crate::hash::stable(b"a") >> 32) as u32;
        l.take_back(h);
        assert_eq!(l.counts().find(|(v, _)| *v == "a").map(|(_, c)| c), Some(1));
        l.take_back(h);
        l.drop_empty();
        assert_eq!(l.values().cloned().collect::<Vec<_>>(), vec!["b"]);
        assert_eq!(l.total(), 1);
    }
}
