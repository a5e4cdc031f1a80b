//! The bounded label sets of `denytrail_denials_total`.
//!
//! Cardinality policy: at most `max` principal/action pairs get their own
//! series. Past that, a new pair's principal is folded into `__other__`
//! (the action stays, for at most `max` actions; past that the action is
//! folded too), so there are never more than `2·max + 1` principal/action
//! pairs, each with the few hint/reason combinations of a closed set. A pair
//! that sees no denial for `ttl` is removed, which frees its place.
//! Resource ARNs and session names are never labels.
//!
//! Pure: time is passed in; the caller removes expired label sets from the
//! Prometheus counter.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::metrics::OTHER;

/// A principal/action label pair.
pub type SeriesKey = (String, String);

/// One hint/reason combination of a series and its count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelCount {
    /// `hint` label.
    pub hint: String,
    /// `reason` label.
    pub reason: String,
    /// Denials counted under it.
    pub count: u64,
}

/// A series as saved in the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSeries {
    /// `principal` label (may be `__other__`).
    pub principal: String,
    /// `action` label (may be `__other__`).
    pub action: String,
    /// Its hint/reason combinations.
    pub labels: Vec<LabelCount>,
}

#[derive(Debug)]
struct Entry {
    last_seen: Instant,
    labels: Vec<LabelCount>,
}

/// Where a denial was counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// The label pair it went to.
    pub key: SeriesKey,
    /// The principal was folded into `__other__`.
    pub folded: bool,
}

/// The live principal/action series.
///
/// ```
/// use std::time::{Duration, Instant};
/// use denytrail::watch::series::SeriesTable;
/// let mut t = SeriesTable::new(1, Some(Duration::from_secs(60)));
/// let now = Instant::now();
/// assert!(!t.count("p1", "iam:PassRole", "allow-passrole", "implicit-identity", now).folded);
/// let p = t.count("p2", "iam:PassRole", "allow-passrole", "implicit-identity", now);
/// assert!(p.folded && p.key.0 == "__other__");
/// assert_eq!(t.expire(now + Duration::from_secs(61)).len(), 2);
/// ```
#[derive(Debug)]
pub struct SeriesTable {
    max: usize,
    ttl: Option<Duration>,
    live: HashMap<SeriesKey, Entry>,
    /// Pairs with a real principal.
    real: usize,
    /// Pairs `(__other__, action)` with a real action.
    other_actions: usize,
}

impl SeriesTable {
    /// A table of at most `max` real principal/action pairs; idle pairs
    /// expire after `ttl` (never when `None`).
    pub fn new(max: usize, ttl: Option<Duration>) -> SeriesTable {
        SeriesTable {
            max,
            ttl,
            live: HashMap::new(),
            real: 0,
            other_actions: 0,
        }
    }

    /// Live principal/action pairs.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// No live pairs.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Where a denial of `principal` on `action` goes, without counting it.
    pub fn place(&self, principal: &str, action: &str) -> Placed {
        let key = (principal.to_string(), action.to_string());
        if self.live.contains_key(&key) || (self.real < self.max && principal != OTHER) {
            return Placed { key, folded: false };
        }
        let folded_action = (OTHER.to_string(), action.to_string());
        if self.live.contains_key(&folded_action) || self.other_actions < self.max {
            return Placed {
                key: folded_action,
                folded: true,
            };
        }
        Placed {
            key: (OTHER.to_string(), OTHER.to_string()),
            folded: true,
        }
    }

    /// Count one denial; returns the label pair it was counted under.
    pub fn count(
        &mut self,
        principal: &str,
        action: &str,
        hint: &str,
        reason: &str,
        now: Instant,
    ) -> Placed {
        let placed = self.place(principal, action);
        self.add(&placed.key, hint, reason, 1, now);
        placed
    }

    fn add(&mut self, key: &SeriesKey, hint: &str, reason: &str, n: u64, now: Instant) {
        let e = match self.live.get_mut(key) {
            Some(e) => e,
            None => {
                if key.0 != OTHER {
                    self.real += 1;
                } else if key.1 != OTHER {
                    self.other_actions += 1;
                }
                self.live.entry(key.clone()).or_insert(Entry {
                    last_seen: now,
                    labels: Vec::new(),
                })
            }
        };
        e.last_seen = now;
        match e
            .labels
            .iter_mut()
            .find(|l| l.hint == hint && l.reason == reason)
        {
            Some(l) => l.count += n,
            None => e.labels.push(LabelCount {
                hint: hint.to_string(),
                reason: reason.to_string(),
                count: n,
            }),
        }
    }

    /// Remove the pairs idle for longer than the TTL; returns them with
    /// their label combinations, for removal from the counter.
    pub fn expire(&mut self, now: Instant) -> Vec<(SeriesKey, Vec<LabelCount>)> {
        let Some(ttl) = self.ttl else {
            return Vec::new();
        };
        let old: Vec<SeriesKey> = self
            .live
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.last_seen) > ttl)
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::with_capacity(old.len());
        for k in old {
            if let Some(e) = self.live.remove(&k) {
                if k.0 != OTHER {
                    self.real -= 1;
                } else if k.1 != OTHER {
                    self.other_actions -= 1;
                }
                out.push((k, e.labels));
            }
        }
        out
    }

    /// Everything, for the checkpoint (sorted, so checkpoints are stable).
    pub fn save(&self) -> Vec<SavedSeries> {
        let mut v: Vec<SavedSeries> = self
            .live
            .iter()
            .map(|(k, e)| SavedSeries {
                principal: k.0.clone(),
                action: k.1.clone(),
                labels: e.labels.clone(),
            })
            .collect();
        v.sort_by(|a, b| (&a.principal, &a.action).cmp(&(&b.principal, &b.action)));
        v
    }

    /// Reload saved series; their idle time restarts at `now`.
    pub fn restore(&mut self, saved: &[SavedSeries], now: Instant) {
        for s in saved {
            let key = (s.principal.clone(), s.action.clone());
            for l in &s.labels {
                self.add(&key, &l.hint, &l.reason, l.count, now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_past_the_cap_and_stays_bounded() {
        let now = Instant::now();
        let mut t = SeriesTable::new(3, None);
        let mut folded = 0;
        for i in 0..1000 {
            let p = t.count(&format!("p{i}"), &format!("a{}", i % 10), "h", "r", now);
            folded += u64::from(p.folded);
        }
        assert_eq!(folded, 997);
        assert!(t.len() <= 2 * 3 + 1, "{}", t.len());
        // A pair that has a series keeps it.
        assert!(!t.count("p0", "a0", "h", "r2", now).folded);
        // __other__ as a real principal name is folded too.
        assert!(t.place(OTHER, "a0").key.0 == OTHER);
    }

    #[test]
    fn expiry_frees_places_and_save_restore_round_trips() {
        let t0 = Instant::now();
        let mut t = SeriesTable::new(1, Some(Duration::from_secs(10)));
        t.count("a", "x", "h", "r", t0);
        t.count("a", "x", "h", "r", t0);
        assert!(
            t.count("b", "x", "h", "r", t0 + Duration::from_secs(5))
                .folded
        );
        let gone = t.expire(t0 + Duration::from_secs(11));
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].1[0].count, 2);
        assert!(
            !t.count("b", "x", "h", "r", t0 + Duration::from_secs(12))
                .folded
        );
        let saved = t.save();
        let mut back = SeriesTable::new(1, None);
        back.restore(&saved, t0);
        assert_eq!(back.save(), saved);
        assert!(back.place("c", "x").folded);
    }
}
