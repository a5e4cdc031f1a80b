//! What `watch` has counted: the one aggregate ([`crate::aggregate`], with
//! a bounded dedup window) behind `/report`, the bounded series of
//! `denytrail_denials_total`, and how both are saved in and restored from
//! the checkpoint.
//!
//! Every change goes through an internal event ([`crate::events`]), so the
//! Prometheus counters and the aggregate move together; restoring a
//! checkpoint re-seeds the counters with the saved totals. Synchronous: the
//! runtime holds it behind a mutex shared with the HTTP server.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::series::{SavedSeries, SeriesTable};
use crate::aggregate::shard::{REPLICA, STATE_VERSION, ShardState};
use crate::aggregate::{self, Added, Aggregator, ErrorList, Group};
use crate::classify::Denial;
use crate::events::{
    AuthFailureSeen, DenialCounted, DuplicateDropped, InputSkippedError, RecordsScanned,
    SeriesChanged, SeriesFolded, SourceRead,
};
use crate::hints;
use crate::input::InputError;
use crate::metrics::{self, Metrics};
use crate::report::{Report, Run};
use crate::scan::{ScanEvent, ScanStats, Scanner};
use crate::source::SourceKind;

/// Input errors listed in `/report` (the most recent; all are counted).
pub const MAX_RECENT_ERRORS: usize = 100;

/// The tally as saved in the checkpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SavedTally {
    /// The aggregate: counters, groups, dedup window, recent errors.
    pub aggregate: aggregate::Saved,
    /// Live series with their counts.
    pub series: Vec<SavedSeries>,
    /// Denials folded into `__other__`.
    pub folded: u64,
    /// Per configured source, when it was last read from (Unix seconds):
    /// `/report`'s `last_event` and the last-event gauge, kept across a
    /// restart so the page does not show a source as never read.
    #[serde(default)]
    pub last_event: BTreeMap<String, f64>,
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
    agg: Aggregator,
    folded: u64,
    scope: String,
    generation: u64,
    /// Per configured source, Unix time of the newest record read.
    last_event: BTreeMap<String, f64>,
    /// `/report` carries the state `merge` needs.
    replica: bool,
}

impl Tally {
    /// An empty tally: at most `dedup_window` recent event IDs, `list_max`
    /// values per list of a group.
    pub fn new(
        metrics: Arc<Metrics>,
        series: SeriesTable,
        dedup_window: usize,
        list_max: usize,
        scope: String,
    ) -> Tally {
        Tally {
            metrics,
            series,
            agg: Aggregator::builder()
                .dedup_window(dedup_window)
                .list_max(list_max)
                .errors(ErrorList::Recent(MAX_RECENT_ERRORS))
                .build(),
            folded: 0,
            scope,
            generation: 0,
            last_event: BTreeMap::new(),
            replica: false,
        }
    }

    /// Changes whenever anything counted changes.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Count what scanning found: one event.
    pub fn event(&mut self, ev: ScanEvent, now: Now) {
        match ev {
            ScanEvent::Denial(d) => self.denial(&d, now),
            ScanEvent::AuthFailure(a) => {
                if self.agg.auth_failure(&a) {
                    AuthFailureSeen {
                        label: metrics::auth_failure_label(&a.error_code),
                    }
                    .emit(&self.metrics);
                } else {
                    DuplicateDropped {
                        key: a.event_id.as_deref().unwrap_or_default(),
                    }
                    .emit(&self.metrics);
                }
                self.generation += 1;
            }
            ScanEvent::Error(e) => self.error(e),
        }
    }

    /// Count what scanning a piece of a `kind` source called `source` found
    /// besides its events.
    pub fn scanned(&mut self, kind: SourceKind, source: &str, stats: ScanStats, now: Now) {
        self.agg.scanned(kind, &stats);
        self.generation += 1;
        RecordsScanned {
            kind,
            records: stats.records,
            bytes: stats.bytes,
        }
        .emit(&self.metrics);
        if stats.records > 0 {
            match self.last_event.get_mut(source) {
                Some(at) => *at = now.unix,
                None => {
                    self.last_event.insert(source.to_string(), now.unix);
                }
            }
            SourceRead {
                source,
                at: now.unix,
            }
            .emit(&self.metrics);
        }
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

    /// Scan and count one whole input held in memory (an S3 object a queue
    /// announced), as replay scans a file: decompressed, its format
    /// detected, framed. Returns whether it was damaged (any input error
    /// found in it, all counted).
    pub fn scan_object(
        &mut self,
        scanner: &Scanner,
        from: MessagesFrom<'_>,
        bytes: &[u8],
        now: Now,
    ) -> bool {
        let mut damaged = false;
        let summary = scanner.scan_stream(bytes, from.origin, &mut |ev| {
            damaged |= matches!(ev, ScanEvent::Error(_));
            self.event(ev, now);
        });
        self.agg.input_read();
        if let Some(why) = crate::scan::skip_reason(summary.format) {
            self.agg.input_skipped(why);
        }
        self.scanned(from.kind, from.source, summary.stats, now);
        damaged
    }

    /// Count an input error found outside scanning (an unreadable file).
    pub fn error(&mut self, e: InputError) {
        InputSkippedError { error: &e }.emit(&self.metrics);
        self.agg.error(e);
        self.generation += 1;
    }

    /// A file was opened (the report's `files` total).
    pub fn file_opened(&mut self) {
        self.agg.input_read();
        self.generation += 1;
    }

    fn denial(&mut self, d: &Denial, now: Now) {
        let placed = self.series.place(&d.principal, &d.action);
        let added = self
            .agg
            .add_as(d, &placed.key.0, &placed.key.1, placed.folded);
        self.generation += 1;
        if let Added::Duplicate { .. } = added {
            DuplicateDropped {
                key: d
                    .shared_event_id
                    .as_deref()
                    .or(d.event_id.as_deref())
                    .unwrap_or_default(),
            }
            .emit(&self.metrics);
            return;
        }
        let hint = {
            let mut g = Group::new(d);
            g.add(d);
            hints::hint_for(&g).code.as_str()
        };
        let reason = d.reason.code();
        let before = self.series.len();
        self.series
            .count(&placed.key.0, &placed.key.1, hint, &reason, now.mono);
        if placed.folded {
            self.folded += 1;
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
    }

    /// Remove series idle past the TTL (from the counter and `/report`).
    pub fn expire(&mut self, now: Now) {
        let gone = self.series.expire(now.mono);
        if gone.is_empty() {
            return;
        }
        for (key, labels) in &gone {
            for l in labels {
                let _ = self.metrics.denials.remove_label_values(&[
                    metrics::label(&key.0).as_ref(),
                    metrics::label(&key.1).as_ref(),
                    l.hint.as_str(),
                    l.reason.as_str(),
                ]);
            }
            self.agg.remove(&key.0, &key.1);
        }
        self.generation += 1;
        SeriesChanged {
            live: self.series.len(),
            expired: gone.len(),
        }
        .emit(&self.metrics);
    }

    /// The report `/report` serves: built as `replay --format json` builds
    /// its report, from the same aggregate.
    pub fn report(&self) -> Report {
        let mut run = Run::new(self.agg.snapshot(), self.scope.clone(), None);
        run.last_event = self.last_event.clone();
        run.report()
    }

    /// The report `/report` serves: [`Tally::report`], and for a replica
    /// (a sidecar following queues, which others may share) its groups and
    /// counters as the aggregate holds them, for `denytrail merge`.
    pub fn served_report(&self) -> Report {
        let mut r = self.report();
        if self.replica {
            let f = self.agg.snapshot();
            r.replica = Some(Box::new(ShardState {
                version: STATE_VERSION,
                shard: REPLICA.to_string(),
                scope: self.scope.clone(),
                list_max: self.agg.list_max(),
                totals: f.totals,
                groups: f.groups,
                errors: f.errors,
                timeline: f.timeline,
                events: 0,
            }));
        }
        r
    }

    /// Serve the replica state in `/report` ([`Tally::served_report`]).
    pub fn share_state(&mut self) {
        self.replica = true;
    }

    /// The aggregate.
    pub fn aggregate(&self) -> &Aggregator {
        &self.agg
    }

    /// Live series.
    pub fn series_len(&self) -> usize {
        self.series.len()
    }

    /// Groups held for `/report`.
    pub fn groups_len(&self) -> usize {
        self.agg.groups_len()
    }

    /// Event IDs in the dedup window.
    pub fn dedup_len(&self) -> usize {
        self.agg.dedup_len()
    }

    /// Denials folded into `__other__`.
    pub fn folded(&self) -> u64 {
        self.folded
    }

    /// What the checkpoint saves.
    pub fn save(&mut self) -> SavedTally {
        SavedTally {
            aggregate: self.agg.save(),
            series: self.series.save(),
            folded: self.folded,
            last_event: self.last_event.clone(),
        }
    }

    /// Restore a saved tally into this (empty) one and re-seed the
    /// Prometheus counters with its totals.
    pub fn restore(&mut self, s: SavedTally, now: Now) {
        let m = &self.metrics;
        let t = &s.aggregate.totals;
        for (k, v) in &t.records {
            m.records_scanned.with_label_values(&[k]).inc_by(*v);
        }
        for (k, v) in &t.bytes {
            m.bytes_scanned.with_label_values(&[k]).inc_by(*v);
        }
        for (k, v) in &t.errors_by_kind {
            m.input_errors.with_label_values(&[k]).inc_by(*v);
        }
        for (k, v) in &t.auth_failures {
            m.auth_failures
                .with_label_values(&[metrics::auth_failure_label(k)])
                .inc_by(*v);
        }
        m.duplicates.inc_by(t.duplicates);
        m.series_folded.inc_by(s.folded);
        for ser in &s.series {
            for l in &ser.labels {
                m.denials
                    .with_label_values(&[
                        metrics::label(&ser.principal).as_ref(),
                        metrics::label(&ser.action).as_ref(),
                        l.hint.as_str(),
                        l.reason.as_str(),
                    ])
                    .inc_by(l.count);
            }
        }
        self.series.restore(&s.series, now.mono);
        self.agg.restore(s.aggregate);
        self.folded = s.folded;
        for (source, at) in &s.last_event {
            SourceRead { source, at: *at }.emit(&self.metrics);
        }
        self.last_event = s.last_event;
        SeriesChanged {
            live: self.series.len(),
            expired: 0,
        }
        .emit(&self.metrics);
    }
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
            1000,
            64,
            "default".into(),
        )
    }

    fn feed(t: &mut Tally, s: &Scanner, text: &str) {
        let now = Now::system();
        let stats = s.scan_lines(text.as_bytes(), "f", 0, &mut |ev| t.event(ev, now));
        t.scanned(SourceKind::File, "src", stats, now);
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
        assert_eq!(t.aggregate().totals().records["cloudwatch"], 3);
        assert_eq!(matched, 2);
        assert_eq!(t.report().summary.denials, 2);
        let text = t.metrics.encode().unwrap();
        assert!(
            text.contains(r#"denytrail_last_event_timestamp_seconds{source="grp"}"#),
            "{text}"
        );
    }

    /// A checkpoint restores `last_event` exactly: serde_json's default
    /// float parser is best-effort and can be off by one unit in the last
    /// place, which made a restored report differ from the saved one.
    #[test]
    fn last_event_times_survive_json_exactly() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let t = 1_700_000_000.0 + (x % 200_000_000_000_000) as f64 / 1e6;
            let saved: BTreeMap<String, f64> = [("src".to_string(), t)].into();
            let back: BTreeMap<String, f64> =
                serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap();
            assert_eq!(back["src"].to_bits(), t.to_bits(), "{t}");
        }
    }

    /// A principal name with terminal control bytes reaches `/metrics`
    /// escaped, and its series can still be removed.
    #[test]
    fn metric_labels_carry_no_control_characters() {
        let s = Scanner::builder().build().unwrap();
        let mut t = tally(10);
        feed(
            &mut t,
            &s,
            &line(
                r"arn:aws:iam::123456789012:user/x\u001b]0;pwned\u0007\r\u0000",
                "c1",
            ),
        );
        assert_eq!(t.report().summary.denials, 1);
        let text = t.metrics.encode().unwrap();
        assert!(
            text.contains(r"user/x\\u{1b}]0;pwned\\u{7}\\u{d}\\u{0}"),
            "{text}"
        );
        assert!(
            !text.contains(['\u{1b}', '\u{7}', '\r', '\0']),
            "raw control bytes in {text:?}"
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
        assert_eq!(r.summary.denials, 10);
        assert_eq!(r.summary.duplicates, 1);
        assert_eq!(r.summary.errors, 1);
        assert_eq!(t.folded(), 6);
        assert!(
            r.groups
                .iter()
                .any(|g| g.principal == metrics::OTHER && g.count == 6)
        );
        let saved = t.save();
        // Through JSON, as the checkpoint does.
        let saved: SavedTally =
            serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap();
        let mut back = tally(2);
        back.restore(saved, Now::system());
        let again = back.report();
        assert_eq!(again, r);
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
