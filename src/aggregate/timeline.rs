//! Denials over time by action: a bounded histogram of event times, for the
//! chart of the web page and the HTML report.
//!
//! Part of the aggregate ([`crate::aggregate::Aggregator`] keeps one, so
//! replay, the sidecar and merge give the same chart): it takes an action
//! and an event time per counted denial and knows nothing of sources or
//! sinks.
//!
//! **Bounded.** At most [`MAX_BUCKETS`] time buckets per action and
//! [`MAX_ACTIONS`] actions (the next ones count under `__other__`), so at
//! most `180 × 33` counters (about 50 kB) whatever the input. Buckets start
//! one minute wide; when the events span more than `MAX_BUCKETS` buckets the
//! width steps up the ladder [`WIDTHS`] (1 min, 5 min, 15 min, 1 h, 6 h,
//! 1 day, 1 week, then doubling) and neighbouring buckets are added
//! together. Each width is a multiple of the one before and buckets are
//! aligned on the Unix epoch, so the result depends only on the set of
//! events, not on their order (the width is the smallest that fits the whole
//! span), and [`Timeline::merge`] of two parts equals the whole. Past
//! `MAX_ACTIONS` distinct actions, the ones with a series of their own are
//! those with the smallest [`stable`] hash of their name (as a group's lists
//! choose their values), so that too is the same whatever the order.
//!
//! [`stable`]: crate::hash::stable
//!
//! Denials without a readable event time, or with one outside 2000–2099
//! (a bad clock would otherwise stretch the chart over centuries), are
//! counted in [`Timeline::untimed`].
//!
//! ```
//! use denytrail::aggregate::timeline::Timeline;
//! let mut t = Timeline::default();
//! t.record("iam:PassRole", Some("2024-05-01T12:00:30Z"));
//! t.record("iam:PassRole", Some("2024-05-01T12:00:59.999Z"));
//! t.record("iam:PassRole", None);
//! assert_eq!(t.bucket_seconds(), 60);
//! assert_eq!(t.points("iam:PassRole"), vec![(1_714_564_800, 2)]);
//! assert_eq!(t.untimed(), 1);
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aggregate::FOLDED_PRINCIPAL;

/// Most time buckets kept (per action).
pub const MAX_BUCKETS: i64 = 180;

/// Most actions with a series of their own; later ones count under
/// `__other__`.
pub const MAX_ACTIONS: usize = 32;

/// Bucket widths in seconds, smallest first; past the last one the width
/// doubles.
pub const WIDTHS: [i64; 7] = [60, 300, 900, 3600, 21_600, 86_400, 604_800];

/// Event times accepted: from 2000-01-01 to the end of 2099 (Unix seconds).
const TIME_RANGE: std::ops::Range<i64> = 946_684_800..4_102_444_800;

/// Denials per action per time bucket, bounded (see the module doc).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "TimelineData", into = "TimelineData")]
pub struct Timeline {
    width: i64,
    /// Actions in the order they were first seen; the index is the key in
    /// `cells`.
    actions: Vec<String>,
    /// Their stable hashes (`u64::MAX` for `__other__`).
    hashes: Vec<u64>,
    /// (bucket start, action index) → denials.
    cells: BTreeMap<(i64, usize), u64>,
    untimed: u64,
}

impl Default for Timeline {
    fn default() -> Timeline {
        Timeline {
            width: WIDTHS[0],
            actions: Vec::new(),
            hashes: Vec::new(),
            cells: BTreeMap::new(),
            untimed: 0,
        }
    }
}

/// Equal when they count the same: the order actions were first seen in
/// does not matter.
impl PartialEq for Timeline {
    fn eq(&self, other: &Timeline) -> bool {
        self.width == other.width
            && self.untimed == other.untimed
            && self.actions() == other.actions()
            && self
                .actions()
                .iter()
                .all(|a| self.points(a) == other.points(a))
    }
}

impl Eq for Timeline {}

/// The next width up the ladder.
fn wider(w: i64) -> i64 {
    match WIDTHS.iter().position(|&x| x == w) {
        Some(i) if i + 1 < WIDTHS.len() => WIDTHS[i + 1],
        _ => w.saturating_mul(2),
    }
}

/// Is `w` a width of the ladder?
fn is_width(w: i64) -> bool {
    let mut x = WIDTHS[0];
    while x < w {
        x = wider(x);
    }
    x == w
}

/// Unix seconds of an event time: RFC 3339 (`2024-05-01T12:00:00Z`,
/// fractions and offsets allowed) or a log line's `2024-05-01 12:00:00,123`
/// (taken as UTC). `None` when unreadable or outside 2000–2099.
pub fn event_seconds(t: &str) -> Option<i64> {
    let secs = match chrono::DateTime::parse_from_rfc3339(t) {
        Ok(d) => d.timestamp(),
        Err(_) => {
            let head = t.get(..19)?.replacen(' ', "T", 1);
            chrono::NaiveDateTime::parse_from_str(&head, "%Y-%m-%dT%H:%M:%S")
                .ok()?
                .and_utc()
                .timestamp()
        }
    };
    TIME_RANGE.contains(&secs).then_some(secs)
}

impl Timeline {
    /// Count one denial of `action` at `event_time` (as the record gives it).
    pub fn record(&mut self, action: &str, event_time: Option<&str>) {
        match event_time.and_then(event_seconds) {
            Some(t) => self.add(action, t, 1),
            None => self.untimed += 1,
        }
    }

    /// Count `n` denials of `action` at Unix second `at`.
    pub fn add(&mut self, action: &str, at: i64, n: u64) {
        if n == 0 {
            return;
        }
        let a = self.action_index(action);
        while !self.fits(at) {
            self.widen();
        }
        let start = at.div_euclid(self.width) * self.width;
        *self.cells.entry((start, a)).or_insert(0) += n;
    }

    /// Add everything counted in `other`.
    pub fn merge(&mut self, other: &Timeline) {
        while self.width < other.width {
            self.widen();
        }
        for (&(start, a), &n) in &other.cells {
            self.add(&other.actions[a], start, n);
        }
        self.untimed += other.untimed;
    }

    fn push_action(&mut self, action: &str) -> usize {
        self.actions.push(action.to_string());
        self.hashes.push(if action == FOLDED_PRINCIPAL {
            u64::MAX
        } else {
            crate::hash::stable(action.as_bytes())
        });
        self.actions.len() - 1
    }

    fn action_index(&mut self, action: &str) -> usize {
        if let Some(i) = self.actions.iter().position(|a| a == action) {
            return i;
        }
        let own = self
            .actions
            .iter()
            .filter(|a| a.as_str() != FOLDED_PRINCIPAL)
            .count();
        if own < MAX_ACTIONS || action == FOLDED_PRINCIPAL {
            return self.push_action(action);
        }
        let h = crate::hash::stable(action.as_bytes());
        let (worst, &worst_hash) = self
            .hashes
            .iter()
            .enumerate()
            .filter(|(i, _)| self.actions[*i] != FOLDED_PRINCIPAL)
            .max_by_key(|(_, h)| **h)
            .expect("MAX_ACTIONS > 0 actions are held");
        if h >= worst_hash {
            return self.action_index(FOLDED_PRINCIPAL);
        }
        // It takes the place of the action with the largest hash, whose
        // counts go to `__other__`.
        let other = self.action_index(FOLDED_PRINCIPAL);
        let moved: Vec<((i64, usize), u64)> = self
            .cells
            .iter()
            .filter(|((_, a), _)| *a == worst)
            .map(|(&k, &n)| (k, n))
            .collect();
        for ((start, _), n) in moved {
            self.cells.remove(&(start, worst));
            *self.cells.entry((start, other)).or_insert(0) += n;
        }
        self.actions[worst] = action.to_string();
        self.hashes[worst] = h;
        worst
    }

    /// Take one denial of `action` at `event_time` back out (a repeated
    /// delivery another shard also counted).
    pub fn take_back(&mut self, action: &str, at: Option<i64>) {
        let Some(at) = at else {
            self.untimed = self.untimed.saturating_sub(1);
            return;
        };
        let a = match self.actions.iter().position(|x| x == action) {
            Some(i) => i,
            None => match self.actions.iter().position(|x| x == FOLDED_PRINCIPAL) {
                Some(i) => i,
                None => return,
            },
        };
        let key = (at.div_euclid(self.width) * self.width, a);
        if let Some(n) = self.cells.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.cells.remove(&key);
            }
        }
    }

    /// Would a bucket for `at` keep the span within [`MAX_BUCKETS`]?
    fn fits(&self, at: i64) -> bool {
        let b = at.div_euclid(self.width);
        let (Some((&(first, _), _)), Some((&(last, _), _))) =
            (self.cells.first_key_value(), self.cells.last_key_value())
        else {
            return true;
        };
        let lo = b.min(first.div_euclid(self.width));
        let hi = b.max(last.div_euclid(self.width));
        hi - lo < MAX_BUCKETS
    }

    fn widen(&mut self) {
        let w = wider(self.width);
        let mut cells = BTreeMap::new();
        for ((start, a), n) in std::mem::take(&mut self.cells) {
            *cells.entry((start.div_euclid(w) * w, a)).or_insert(0) += n;
        }
        self.width = w;
        self.cells = cells;
    }

    /// Width of a bucket, in seconds.
    pub fn bucket_seconds(&self) -> i64 {
        self.width
    }

    /// Denials without a usable event time.
    pub fn untimed(&self) -> u64 {
        self.untimed
    }

    /// Denials in the buckets (without [`Timeline::untimed`]).
    pub fn timed(&self) -> u64 {
        self.cells.values().sum()
    }

    /// The actions that have a series, sorted.
    pub fn actions(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.actions.iter().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// `(bucket start, denials)` of one action, oldest first; empty buckets
    /// are left out.
    pub fn points(&self, action: &str) -> Vec<(i64, u64)> {
        let Some(a) = self.actions.iter().position(|x| x == action) else {
            return Vec::new();
        };
        self.cells
            .iter()
            .filter(|((_, i), _)| *i == a)
            .map(|(&(start, _), &n)| (start, n))
            .collect()
    }
}

/// The JSON form: `{"bucket_seconds": 60, "untimed": 0, "series":
/// [{"action": "iam:PassRole", "points": [[1714564800, 2]]}]}`, series
/// sorted by action, points by time, empty buckets left out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimelineData {
    bucket_seconds: i64,
    untimed: u64,
    series: Vec<SeriesData>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeriesData {
    action: String,
    points: Vec<(i64, u64)>,
}

impl From<Timeline> for TimelineData {
    fn from(t: Timeline) -> TimelineData {
        TimelineData {
            bucket_seconds: t.width,
            untimed: t.untimed,
            series: t
                .actions()
                .into_iter()
                .map(|a| SeriesData {
                    action: a.to_string(),
                    points: t.points(a),
                })
                .collect(),
        }
    }
}

/// Why a saved timeline was refused.
#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    /// The width is not one of the ladder's.
    #[error("bucket_seconds {0} is not a bucket width denytrail uses")]
    Width(i64),
    /// More actions or a wider span than the bounds allow, or a bucket
    /// start not on the width.
    #[error("the timeline is outside its bounds ({0})")]
    Bounds(&'static str),
}

impl TryFrom<TimelineData> for Timeline {
    type Error = TimelineError;

    fn try_from(d: TimelineData) -> Result<Timeline, TimelineError> {
        if !is_width(d.bucket_seconds) {
            return Err(TimelineError::Width(d.bucket_seconds));
        }
        if d.series.len() > MAX_ACTIONS + 1 {
            return Err(TimelineError::Bounds("too many actions"));
        }
        let mut t = Timeline {
            width: d.bucket_seconds,
            untimed: d.untimed,
            ..Timeline::default()
        };
        for s in d.series {
            let a = t.push_action(&s.action);
            for (start, n) in s.points {
                if start.rem_euclid(t.width) != 0 {
                    return Err(TimelineError::Bounds("a bucket starts off its width"));
                }
                if !t.fits(start) {
                    return Err(TimelineError::Bounds("more buckets than allowed"));
                }
                *t.cells.entry((start, a)).or_insert(0) += n;
            }
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn event_times() {
        for (text, want) in [
            ("2024-05-01T12:00:00Z", Some(1_714_564_800)),
            ("2024-05-01T12:00:00.5Z", Some(1_714_564_800)),
            ("2024-05-01T14:00:00+02:00", Some(1_714_564_800)),
            ("2024-05-01 12:00:00,123 ERROR", Some(1_714_564_800)),
            ("2024-05-01T12:00:00", Some(1_714_564_800)),
            ("1970-01-01T00:00:00Z", None),
            ("2150-01-01T00:00:00Z", None),
            ("yesterday", None),
            ("", None),
        ] {
            assert_eq!(event_seconds(text), want, "{text}");
        }
    }

    #[test]
    fn widens_and_stays_bounded() {
        let mut t = Timeline::default();
        let t0 = 1_714_564_800;
        // One denial a minute for three hours fits at one minute...
        for m in 0..MAX_BUCKETS {
            t.add("iam:PassRole", t0 + m * 60, 1);
        }
        assert_eq!(t.bucket_seconds(), 60);
        // ...one more minute does not: five-minute buckets.
        t.add("iam:PassRole", t0 + MAX_BUCKETS * 60, 1);
        assert_eq!(t.bucket_seconds(), 300);
        assert_eq!(t.timed(), MAX_BUCKETS as u64 + 1);
        // Ten years: weeks, doubled.
        t.add("iam:PassRole", t0 + 10 * 365 * 86_400, 1);
        assert!(t.bucket_seconds() > 604_800);
        assert!(t.points("iam:PassRole").len() as i64 <= MAX_BUCKETS);
        assert_eq!(t.timed(), MAX_BUCKETS as u64 + 2);
    }

    #[test]
    fn actions_past_the_cap_fold_whatever_the_order() {
        let names: Vec<String> = (0..MAX_ACTIONS + 5)
            .map(|i| format!("svc:Action{i}"))
            .collect();
        let mut t = Timeline::default();
        for n in &names {
            t.add(n, 1_714_564_800, 1);
        }
        assert_eq!(t.actions().len(), MAX_ACTIONS + 1);
        assert_eq!(t.points(FOLDED_PRINCIPAL), vec![(1_714_564_800, 5)]);
        let mut r = Timeline::default();
        for n in names.iter().rev() {
            r.add(n, 1_714_564_800, 1);
        }
        assert_eq!(r, t);
    }

    #[test]
    fn json_round_trips_and_bad_json_is_refused() {
        let mut t = Timeline::default();
        t.record("iam:PassRole", Some("2024-05-01T12:00:00Z"));
        t.record(
            "codeguru-profiler:PostAgentProfile",
            Some("2024-05-01T12:07:00Z"),
        );
        t.record("iam:PassRole", Some("bad"));
        let text = serde_json::to_string(&t).unwrap();
        assert_eq!(
            text,
            r#"{"bucket_seconds":60,"untimed":1,"series":[{"action":"codeguru-profiler:PostAgentProfile","points":[[1714565220,1]]},{"action":"iam:PassRole","points":[[1714564800,1]]}]}"#
        );
        assert_eq!(serde_json::from_str::<Timeline>(&text).unwrap(), t);
        for bad in [
            r#"{"bucket_seconds":61,"untimed":0,"series":[]}"#,
            r#"{"bucket_seconds":60,"untimed":0,"series":[{"action":"a","points":[[1714564801,1]]}]}"#,
            r#"{"bucket_seconds":60,"untimed":0,"series":[{"action":"a","points":[[0,1],[1714564800,1]]}]}"#,
        ] {
            assert!(serde_json::from_str::<Timeline>(bad).is_err(), "{bad}");
        }
    }

    fn events() -> impl Strategy<Value = Vec<(u8, i64)>> {
        // Spans from minutes to years, a few actions.
        prop::collection::vec((0u8..4, 0i64..400_000_000), 0..200)
    }

    fn build(ev: &[(u8, i64)]) -> Timeline {
        let mut t = Timeline::default();
        for &(a, at) in ev {
            t.add(&format!("svc:A{a}"), 1_000_000_000 + at, 1);
        }
        t
    }

    proptest! {
        /// Order does not matter, and merged parts equal the whole.
        #[test]
        fn order_free_and_mergeable(ev in events(), cut in 0usize..200) {
            let whole = build(&ev);
            let mut rev = ev.clone();
            rev.reverse();
            let cut = cut.min(ev.len());
            let mut merged = build(&ev[..cut]);
            merged.merge(&build(&ev[cut..]));
            prop_assert_eq!(&whole, &build(&rev));
            prop_assert_eq!(&whole, &merged);
            prop_assert_eq!(whole.timed(), ev.len() as u64);
            for a in whole.actions() {
                prop_assert!(whole.points(a).len() as i64 <= MAX_BUCKETS);
            }
        }
    }
}
