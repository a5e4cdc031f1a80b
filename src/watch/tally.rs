//! What `watch` has counted: the bounded series, the groups `/report`
//! shows, the dedup window and the totals, and how they are saved in and
//! restored from the checkpoint.
//!
//! Every change goes through an internal event ([`crate::events`]), so the
//! Prometheus counters and this tally move together; restoring a checkpoint
//! re-seeds the counters with the saved totals. Synchronous: the runtime
//! holds it behind a mutex shared with the HTTP server.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::dedup::DedupWindow;
use super::series::{SavedSeries, SeriesKey, SeriesTable};
use crate::aggregate::Group;
use crate::classify::{Denial, PrincipalKind, Reason};
use crate::events::{
    AuthFailureSeen, DenialCounted, DuplicateDropped, InputSkippedError, RecordsScanned,
    SeriesChanged, SeriesFolded, SourceRead,
};
use crate::hints;
use crate::input::InputError;
use crate::metrics::{self, Metrics, SourceKind};
use crate::report::{Report, Summary};
use crate::scan::{ScanEvent, ScanStats, Scanner};

/// Items kept per set of a group in `/report` (resources, sessions,
/// accounts, …); counts stay exact, the lists are cut.
pub const MAX_LISTED: usize = 64;

/// Input errors listed in `/report` (the most recent; all are counted).
pub const MAX_RECENT_ERRORS: usize = 100;

/// The counters saved in the checkpoint and re-seeded at start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Records by source kind.
    pub records: BTreeMap<String, u64>,
    /// Bytes by source kind.
    pub bytes: BTreeMap<String, u64>,
    /// Input errors by kind.
    pub input_errors: BTreeMap<String, u64>,
    /// Authentication failures by error-code label.
    pub auth_failures: BTreeMap<String, u64>,
    /// Repeated deliveries dropped.
    pub duplicates: u64,
    /// Denials folded into `__other__`.
    pub folded: u64,
    /// Records the prefilter passed.
    pub candidates: u64,
    /// Denials outside the scope.
    pub out_of_scope: u64,
    /// Records skipped on purpose.
    pub skipped: u64,
    /// Files opened.
    pub files: u64,
}

/// The tally as saved in the checkpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SavedTally {
    /// Totals.
    pub totals: Totals,
    /// Live series with their counts.
    pub series: Vec<SavedSeries>,
    /// The groups of `/report`.
    pub groups: Vec<SavedGroup>,
    /// The dedup window (hashed keys, oldest first).
    pub dedup: Vec<u64>,
}

/// A group as saved: JSON object keys must be strings, so the reasons
/// (keyed by a struct in [`Group`]) are saved as a list beside it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedGroup {
    /// The group, without its reasons.
    pub group: Group,
    /// Its reasons and their counts.
    pub reasons: Vec<(Reason, u64)>,
}

impl SavedGroup {
    fn from_group(g: &Group) -> SavedGroup {
        let mut group = g.clone();
        let reasons = std::mem::take(&mut group.reasons).into_iter().collect();
        SavedGroup { group, reasons }
    }

    fn into_group(self) -> Group {
        let mut g = self.group;
        g.reasons = self.reasons.into_iter().collect();
        g
    }
}

/// A batch of complete lines to count.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// Source kind (metric label).
    pub kind: SourceKind,
    /// Configured source name (metric label).
    pub source: &'a str,
    /// File path or `-` (error origin).
    pub origin: &'a str,
    /// Stream offset of `bytes[0]`.
    pub base: u64,
    /// The lines.
    pub bytes: &'a [u8],
}

/// Where a run of whole messages ([`Tally::scan_messages`]) comes from.
#[derive(Debug, Clone, Copy)]
pub struct MessagesFrom<'a> {
    /// Source kind (metric label).
    pub kind: SourceKind,
    /// Configured source name (metric label).
    pub source: &'a str,
    /// Error origin (`cloudwatch://GROUP`).
    pub origin: &'a str,
    /// Stream offset of the first message; each next one starts one byte
    /// after the previous ends.
    pub base: u64,
}

/// The current time, from the caller's clock.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Monotonic time (series idle time).
    pub mono: Instant,
    /// Unix time in seconds (freshness gauge).
    pub unix: f64,
}

impl Now {
    /// The system clock.
    pub fn system() -> Now {
        Now {
            mono: Instant::now(),
            unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        }
    }
}

/// Everything counted so far.
#[derive(Debug)]
pub struct Tally {
    metrics: Arc<Metrics>,
    series: SeriesTable,
    groups: HashMap<SeriesKey, Group>,
    dedup: DedupWindow,
    totals: Totals,
    errors: VecDeque<InputError>,
    scope: String,
    generation: u64,
}

impl Tally {
    /// An empty tally.
    pub fn new(
        metrics: Arc<Metrics>,
        series: SeriesTable,
        dedup: DedupWindow,
        scope: String,
    ) -> Tally {
        Tally {
            metrics,
            series,
            groups: HashMap::new(),
            dedup,
            totals: Totals::default(),
            errors: VecDeque::new(),
            scope,
            generation: 0,
        }
    }

    /// Changes whenever anything counted changes.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Scan and count a batch of complete lines.
    pub fn scan(&mut self, scanner: &Scanner, b: Batch<'_>, now: Now) {
        let stats = scanner.scan_lines(b.bytes, b.origin, b.base, &mut |ev| {
            self.event(ev, now);
        });
        self.scanned(b.kind, b.source, stats, now);
    }

    /// Scan and count whole messages (CloudWatch Logs events: one record
    /// each, newlines inside included). Returns how many were denials or
    /// authentication failures (repeated deliveries included), as
    /// `denytrail_cloudwatch_events_matched_total` counts them.
    pub fn scan_messages<'m>(
        &mut self,
        scanner: &Scanner,
        from: MessagesFrom<'_>,
        messages: impl IntoIterator<Item = &'m [u8]>,
        now: Now,
    ) -> u64 {
        let mut stats = ScanStats::default();
        let mut matched = 0u64;
        let mut offset = from.base;
        for m in messages {
            stats += scanner.scan_message(m, from.origin, offset, &mut |ev| {
                if matches!(ev, ScanEvent::Denial(_) | ScanEvent::AuthFailure(_)) {
                    matched += 1;
                }
                self.event(ev, now);
            });
            offset += m.len() as u64 + 1;
        }
        self.scanned(from.kind, from.source, stats, now);
        matched
    }

    fn event(&mut self, ev: ScanEvent, now: Now) {
        match ev {
            ScanEvent::Denial(d) => self.denial(&d, now),
            ScanEvent::AuthFailure(a) => {
                let dup = a.event_id.as_deref().is_some_and(|k| !self.dedup.insert(k));
                if dup {
                    self.totals.duplicates += 1;
                    DuplicateDropped {
                        key: a.event_id.as_deref().unwrap_or_default(),
                    }
                    .emit(&self.metrics);
                } else {
                    let label = metrics::auth_failure_label(&a.error_code);
                    *self
                        .totals
                        .auth_failures
                        .entry(label.to_string())
                        .or_insert(0) += 1;
                    AuthFailureSeen { label }.emit(&self.metrics);
                }
            }
            ScanEvent::Error(e) => self.error(e),
        }
    }

    fn scanned(&mut self, kind: SourceKind, source: &str, stats: ScanStats, now: Now) {
        let k = kind.as_str().to_string();
        *self.totals.records.entry(k.clone()).or_insert(0) += stats.records;
        *self.totals.bytes.entry(k).or_insert(0) += stats.bytes;
        self.totals.candidates += stats.candidates;
        self.totals.out_of_scope += stats.out_of_scope;
        self.totals.skipped += stats.skipped;
        self.generation += 1;
        RecordsScanned {
            kind,
            records: stats.records,
            bytes: stats.bytes,
        }
        .emit(&self.metrics);
        if stats.records > 0 {
            SourceRead {
                source,
                at: now.unix,
            }
            .emit(&self.metrics);
        }
    }

    /// Count an input error found outside scanning (oversized line,
    /// unreadable file).
    pub fn error(&mut self, e: InputError) {
        *self
            .totals
            .input_errors
            .entry(e.kind.as_str().to_string())
            .or_insert(0) += 1;
        InputSkippedError { error: &e }.emit(&self.metrics);
        if self.errors.len() == MAX_RECENT_ERRORS {
            self.errors.pop_front();
        }
        self.errors.push_back(e);
        self.generation += 1;
    }

    /// A file was opened (the report's `files` total).
    pub fn file_opened(&mut self) {
        self.totals.files += 1;
        self.generation += 1;
    }

    fn denial(&mut self, d: &Denial, now: Now) {
        if let Some(k) = d.shared_event_id.as_deref().or(d.event_id.as_deref()) {
            if !self.dedup.insert(k) {
                self.totals.duplicates += 1;
                DuplicateDropped { key: k }.emit(&self.metrics);
                return;
            }
        }
        let hint = {
            let mut g = Group::new(d);
            g.add(d);
            hints::hint_for(&g).code.as_str()
        };
        let reason = d.reason.code();
        let before = self.series.len();
        let placed = self
            .series
            .count(&d.principal, &d.action, hint, &reason, now.mono);
        if placed.folded {
            self.totals.folded += 1;
            SeriesFolded {
                principal: &d.principal,
                action: &d.action,
            }
            .emit(&self.metrics);
        }
        DenialCounted {
            principal: &placed.key.0,
            action: &placed.key.1,
            hint,
            reason: &reason,
        }
        .emit(&self.metrics);
        if self.series.len() != before {
            SeriesChanged {
                live: self.series.len(),
                expired: 0,
            }
            .emit(&self.metrics);
        }
        let g = self.groups.entry(placed.key).or_insert_with_key(|key| {
            let mut g = Group::new(d);
            if placed.folded {
                g.principal = key.0.clone();
                g.action = key.1.clone();
                g.principal_kind = PrincipalKind::Other;
                g.principal_account = None;
            }
            g
        });
        g.add(d);
        cap_group(g);
    }

    /// Remove series idle past the TTL (from the counter and `/report`).
    pub fn expire(&mut self, now: Now) {
        let gone = self.series.expire(now.mono);
        if gone.is_empty() {
            return;
        }
        for (key, labels) in &gone {
            for l in labels {
                let _ = self
                    .metrics
                    .denials
                    .remove_label_values(&[&key.0, &key.1, &l.hint, &l.reason]);
            }
            self.groups.remove(key);
        }
        self.generation += 1;
        SeriesChanged {
            live: self.series.len(),
            expired: gone.len(),
        }
        .emit(&self.metrics);
    }

    /// The report `/report` serves: same JSON as `replay --format json`.
    pub fn report(&self) -> Report {
        let t = &self.totals;
        let summary = Summary {
            records: t.records.values().sum(),
            files: t.files,
            bytes: t.bytes.values().sum(),
            errors: t.input_errors.values().sum(),
            errors_by_kind: t.input_errors.clone(),
            candidates: t.candidates,
            auth_failures: t.auth_failures.clone(),
            duplicates: t.duplicates,
            out_of_scope: t.out_of_scope,
            skipped_records: t.skipped,
            scope: self.scope.clone(),
            ..Summary::default()
        };
        let errors: Vec<InputError> = self.errors.iter().cloned().collect();
        Report::new(summary, self.groups.values().cloned().collect(), &errors)
    }

    /// The totals so far.
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Live series.
    pub fn series_len(&self) -> usize {
        self.series.len()
    }

    /// Groups held for `/report`.
    pub fn groups_len(&self) -> usize {
        self.groups.len()
    }

    /// Event IDs in the dedup window.
    pub fn dedup_len(&self) -> usize {
        self.dedup.len()
    }

    /// What the checkpoint saves.
    pub fn save(&self) -> SavedTally {
        let mut groups: Vec<SavedGroup> =
            self.groups.values().map(SavedGroup::from_group).collect();
        groups.sort_by(|a, b| {
            (&a.group.principal, &a.group.action).cmp(&(&b.group.principal, &b.group.action))
        });
        SavedTally {
            totals: self.totals.clone(),
            series: self.series.save(),
            groups,
            dedup: self.dedup.hashes(),
        }
    }

    /// Restore a saved tally into this (empty) one and re-seed the
    /// Prometheus counters with its totals.
    pub fn restore(&mut self, s: SavedTally, now: Now) {
        let m = &self.metrics;
        for (k, v) in &s.totals.records {
            m.records_scanned.with_label_values(&[k]).inc_by(*v);
        }
        for (k, v) in &s.totals.bytes {
            m.bytes_scanned.with_label_values(&[k]).inc_by(*v);
        }
        for (k, v) in &s.totals.input_errors {
            m.input_errors.with_label_values(&[k]).inc_by(*v);
        }
        for (k, v) in &s.totals.auth_failures {
            m.auth_failures.with_label_values(&[k]).inc_by(*v);
        }
        m.duplicates.inc_by(s.totals.duplicates);
        m.series_folded.inc_by(s.totals.folded);
        for ser in &s.series {
            for l in &ser.labels {
                m.denials
                    .with_label_values(&[&ser.principal, &ser.action, &l.hint, &l.reason])
                    .inc_by(l.count);
            }
        }
        self.series.restore(&s.series, now.mono);
        for g in s.groups {
            let g = g.into_group();
            self.groups
                .insert((g.principal.clone(), g.action.clone()), g);
        }
        self.dedup.restore(&s.dedup);
        self.totals = s.totals;
        SeriesChanged {
            live: self.series.len(),
            expired: 0,
        }
        .emit(&self.metrics);
    }
}

fn cap_set(s: &mut BTreeSet<String>) {
    while s.len() > MAX_LISTED {
        s.pop_last();
    }
}

/// Keep a group's lists bounded (a folded group gathers many principals).
fn cap_group(g: &mut Group) {
    while g.resources.len() > MAX_LISTED {
        g.resources.pop_last();
    }
    while g.reasons.len() > MAX_LISTED {
        g.reasons.pop_last();
    }
    cap_set(&mut g.sessions);
    cap_set(&mut g.via);
    cap_set(&mut g.accounts);
    cap_set(&mut g.regions);
    cap_set(&mut g.vpc_endpoints);
    cap_set(&mut g.error_codes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(principal: &str, id: &str) -> String {
        format!(
            concat!(
                r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","arn":"{p}","accountId":"123456789012"}},"#,
                r#""eventTime":"2024-05-01T00:00:00Z","eventSource":"iam.amazonaws.com","eventName":"PassRole","awsRegion":"us-east-1","#,
                r#""errorCode":"AccessDenied","errorMessage":"User: {p} is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/x-{id} because no identity-based policy allows the iam:PassRole action","#,
                r#""eventID":"{id}","recipientAccountId":"123456789012"}}"#,
                "\n"
            ),
            p = principal,
            id = id
        )
    }

    fn tally(max: usize) -> Tally {
        Tally::new(
            Arc::new(Metrics::new().unwrap()),
            SeriesTable::new(max, None),
            DedupWindow::new(1000),
            "default".into(),
        )
    }

    fn feed(t: &mut Tally, s: &Scanner, text: &str) {
        t.scan(
            s,
            Batch {
                kind: SourceKind::File,
                source: "src",
                origin: "f",
                base: 0,
                bytes: text.as_bytes(),
            },
            Now::system(),
        );
    }

    #[test]
    fn a_message_is_one_record_even_with_newlines() {
        let s = Scanner::builder().build().unwrap();
        let mut t = tally(10);
        let one = line("arn:aws:iam::123456789012:user/u1", "m1");
        let two = format!("{}\n", line("arn:aws:iam::123456789012:user/u2", "m2"));
        let msgs = [
            one.trim_end().as_bytes(),
            two.as_bytes(),
            b"plain\nlines".as_slice(),
        ];
        let matched = t.scan_messages(
            &s,
            MessagesFrom {
                kind: SourceKind::Cloudwatch,
                source: "grp",
                origin: "cloudwatch://grp",
                base: 0,
            },
            msgs,
            Now::system(),
        );
        assert_eq!(t.totals().records["cloudwatch"], 3);
        if t.report().summary.denials == 0 {
            // The classifier is still being written.
            return;
        }
        assert_eq!(matched, 2);
        assert_eq!(t.report().summary.denials, 2);
        let text = t.metrics.encode().unwrap();
        assert!(
            text.contains(r#"denytrail_last_event_timestamp_seconds{source="grp"}"#),
            "{text}"
        );
    }

    #[test]
    fn counts_dedups_folds_and_round_trips() {
        let s = Scanner::builder().build().unwrap();
        let mut t = tally(2);
        let mut text = String::new();
        for i in 0..10 {
            text += &line(
                &format!("arn:aws:iam::123456789012:user/u{}", i % 5),
                &format!("e{i}"),
            );
        }
        text += &line("arn:aws:iam::123456789012:user/u0", "e0");
        text += "{\"errorCode\":\"AccessDenied\", broken\n";
        feed(&mut t, &s, &text);
        let r = t.report();
        if r.summary.denials == 0 {
            // The classifier is still being written.
            return;
        }
        assert_eq!(r.summary.denials, 10);
        assert_eq!(r.summary.duplicates, 1);
        assert_eq!(r.summary.errors, 1);
        assert_eq!(t.totals().folded, 6);
        assert!(
            r.groups
                .iter()
                .any(|g| g.principal == metrics::OTHER && g.count == 6)
        );
        assert!(r.groups.iter().all(|g| g.resources.len() <= MAX_LISTED));
        let saved = t.save();
        // Through JSON, as the checkpoint does.
        let saved: SavedTally =
            serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap();
        let mut back = tally(2);
        back.restore(saved, Now::system());
        // Everything but the list of recent errors (not saved) comes back.
        let again = back.report();
        assert_eq!((&again.summary, &again.groups), (&r.summary, &r.groups));
        let text = back.metrics.encode().unwrap();
        assert!(text.contains("denytrail_series_folded_total 6"), "{text}");
        // The window came back: the same event is a duplicate after restore.
        feed(
            &mut back,
            &s,
            &line("arn:aws:iam::123456789012:user/u0", "e3"),
        );
        assert_eq!(back.report().summary.denials, 10);
    }
}
