//! Internal events: one struct per notable happening, whose `emit()` both
//! moves its metric and writes its log line, in one place (vector's
//! `internal_events`). Callers build the struct where the thing happens and
//! call `emit(&metrics)`; they never touch a metric or log on their own.
//!
//! Hot-path events (`RecordsScanned`, `DenialCounted`) are emitted once per
//! batch or per denial and log at `trace`/`debug` only. Input errors are
//! logged rate-limited (the first [`LOGGED_ERRORS`], then one in
//! [`LOG_EVERY`]) and always counted.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::input::InputError;
use crate::metrics::Metrics;
use crate::source::SourceKind;

/// Input errors logged one by one before rate limiting starts.
pub const LOGGED_ERRORS: u64 = 100;
/// Past [`LOGGED_ERRORS`], one input error in this many is logged.
pub const LOG_EVERY: u64 = 1000;

/// Input errors seen by this process (drives the log rate limit only; the
/// metric counts every error).
static INPUT_ERRORS_SEEN: AtomicU64 = AtomicU64::new(0);

/// A batch of records was scanned.
#[derive(Debug, Clone, Copy)]
pub struct RecordsScanned {
    /// Where they came from.
    pub kind: SourceKind,
    /// Records in the batch.
    pub records: u64,
    /// Bytes in the batch.
    pub bytes: u64,
}

impl RecordsScanned {
    /// Count the batch.
    pub fn emit(self, m: &Metrics) {
        let k = self.kind.as_str();
        m.records_scanned
            .with_label_values(&[k])
            .inc_by(self.records);
        m.bytes_scanned.with_label_values(&[k]).inc_by(self.bytes);
        tracing::trace!(
            source_kind = k,
            records = self.records,
            bytes = self.bytes,
            "records scanned"
        );
    }
}

/// Records were read from a configured source (sets its freshness gauge).
#[derive(Debug, Clone, Copy)]
pub struct SourceRead<'a> {
    /// The configured source name.
    pub source: &'a str,
    /// Unix time of the read, in seconds.
    pub at: f64,
}

impl SourceRead<'_> {
    /// Set `denytrail_last_event_timestamp_seconds{source}`.
    pub fn emit(self, m: &Metrics) {
        m.last_event_timestamp
            .with_label_values(&[self.source])
            .set(self.at);
    }
}

/// A denial was counted under a (possibly folded) label set.
#[derive(Debug, Clone, Copy)]
pub struct DenialCounted<'a> {
    /// `principal` label (the principal or `__other__`).
    pub principal: &'a str,
    /// `action` label.
    pub action: &'a str,
    /// `hint` label.
    pub hint: &'a str,
    /// `reason` label.
    pub reason: &'a str,
}

impl DenialCounted<'_> {
    /// Count it.
    pub fn emit(self, m: &Metrics) {
        m.denials
            .with_label_values(&[
                crate::metrics::label(self.principal).as_ref(),
                crate::metrics::label(self.action).as_ref(),
                self.hint,
                self.reason,
            ])
            .inc();
        tracing::debug!(
            principal = self.principal,
            action = self.action,
            hint = self.hint,
            reason = self.reason,
            "denial counted"
        );
    }
}

/// A denial's principal was folded into `__other__` (the series cap is full).
#[derive(Debug, Clone, Copy)]
pub struct SeriesFolded<'a> {
    /// The principal that did not get its own series.
    pub principal: &'a str,
    /// Its action.
    pub action: &'a str,
}

impl SeriesFolded<'_> {
    /// Count it.
    pub fn emit(self, m: &Metrics) {
        m.series_folded.inc();
        tracing::debug!(
            principal = self.principal,
            action = self.action,
            "series cap reached: denial folded into __other__"
        );
    }
}

/// The number of live principal/action series changed.
#[derive(Debug, Clone, Copy)]
pub struct SeriesChanged {
    /// Live series now.
    pub live: usize,
    /// Series just removed for being idle longer than the TTL.
    pub expired: usize,
}

impl SeriesChanged {
    /// Set the gauge, count expiries.
    pub fn emit(self, m: &Metrics) {
        m.series.set(self.live as i64);
        if self.expired > 0 {
            m.series_expired.inc_by(self.expired as u64);
            tracing::info!(
                expired = self.expired,
                live = self.live,
                "idle series expired"
            );
        }
    }
}

/// An event was dropped as a repeated delivery.
#[derive(Debug, Clone, Copy)]
pub struct DuplicateDropped<'a> {
    /// The eventID / sharedEventID.
    pub key: &'a str,
}

impl DuplicateDropped<'_> {
    /// Count it.
    pub fn emit(self, m: &Metrics) {
        m.duplicates.inc();
        tracing::debug!(event_id = self.key, "repeated delivery dropped");
    }
}

/// An authentication failure (not a denial) was seen.
#[derive(Debug, Clone, Copy)]
pub struct AuthFailureSeen<'a> {
    /// The `error_code` label (closed set).
    pub label: &'a str,
}

impl AuthFailureSeen<'_> {
    /// Count it.
    pub fn emit(self, m: &Metrics) {
        m.auth_failures.with_label_values(&[self.label]).inc();
        tracing::debug!(error_code = self.label, "authentication failure");
    }
}

/// Bad input was skipped (invalid JSON, oversized line, unreadable file, …).
#[derive(Debug, Clone, Copy)]
pub struct InputSkippedError<'a> {
    /// The error, with origin and offset.
    pub error: &'a InputError,
}

impl InputSkippedError<'_> {
    /// Count it; log it rate-limited.
    pub fn emit(self, m: &Metrics) {
        m.input_errors
            .with_label_values(&[self.error.kind.as_str()])
            .inc();
        let n = INPUT_ERRORS_SEEN.fetch_add(1, Ordering::Relaxed) + 1;
        if n <= LOGGED_ERRORS || n.is_multiple_of(LOG_EVERY) {
            tracing::warn!(
                origin = %self.error.origin,
                offset = self.error.offset,
                kind = self.error.kind.as_str(),
                errors_so_far = n,
                "input skipped: {}",
                self.error.detail
            );
        }
    }
}

/// A file matching a `--file` glob was opened for following.
#[derive(Debug, Clone, Copy)]
pub struct FileOpened<'a> {
    /// Its path.
    pub path: &'a Path,
    /// Where reading starts.
    pub offset: u64,
    /// Why there (`checkpoint`, `start`, `end`, `new file`).
    pub from: &'a str,
}

impl FileOpened<'_> {
    /// Count the open file; log.
    pub fn emit(self, m: &Metrics) {
        m.files_followed.inc();
        tracing::info!(path = %self.path.display(), offset = self.offset, from = self.from, "following file");
    }
}

/// A followed file was closed (deleted or rotated out of the globs, after
/// its last complete line was read).
#[derive(Debug, Clone, Copy)]
pub struct FileClosed<'a> {
    /// The path it was last seen at.
    pub path: &'a Path,
    /// Bytes consumed.
    pub offset: u64,
}

impl FileClosed<'_> {
    /// Uncount the open file; log.
    pub fn emit(self, m: &Metrics) {
        m.files_followed.dec();
        tracing::info!(path = %self.path.display(), offset = self.offset, "file closed");
    }
}

/// How a followed file was rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationKind {
    /// Moved away (or deleted) and a new file created at the path
    /// (logrotate `create`).
    Rename,
    /// Cut in place (logrotate `copytruncate`).
    Truncate,
}

impl RotationKind {
    /// The `kind` label.
    pub fn as_str(self) -> &'static str {
        match self {
            RotationKind::Rename => "rename",
            RotationKind::Truncate => "truncate",
        }
    }
}

/// A followed file was rotated.
#[derive(Debug, Clone, Copy)]
pub struct FileRotated<'a> {
    /// The followed path.
    pub path: &'a Path,
    /// How.
    pub kind: RotationKind,
}

impl FileRotated<'_> {
    /// Count it; log.
    pub fn emit(self, m: &Metrics) {
        m.file_rotations
            .with_label_values(&[self.kind.as_str()])
            .inc();
        tracing::info!(path = %self.path.display(), kind = self.kind.as_str(), "file rotated");
    }
}

/// A file matching a glob is not followed (gzip content: an already-rotated
/// and compressed file, read by `replay`, never by `watch`).
#[derive(Debug, Clone, Copy)]
pub struct FileIgnored<'a> {
    /// Its path.
    pub path: &'a Path,
    /// Why.
    pub why: &'a str,
}

impl FileIgnored<'_> {
    /// Log it (once per file identity).
    pub fn emit(self, _m: &Metrics) {
        tracing::info!(path = %self.path.display(), why = self.why, "file not followed");
    }
}

/// The checkpoint was written.
#[derive(Debug, Clone, Copy)]
pub struct CheckpointWritten<'a> {
    /// The checkpoint file.
    pub path: &'a Path,
    /// Its size.
    pub bytes: usize,
    /// How long writing took.
    pub took: Duration,
}

impl CheckpointWritten<'_> {
    /// Count it; log.
    pub fn emit(self, m: &Metrics) {
        m.checkpoint_writes.with_label_values(&["ok"]).inc();
        m.checkpoint_age.set(0.0);
        tracing::debug!(path = %self.path.display(), bytes = self.bytes, took_ms = self.took.as_millis() as u64, "checkpoint written");
    }
}

/// The checkpoint could not be written (the previous one stays in place).
#[derive(Debug)]
pub struct CheckpointWriteError<'a> {
    /// The checkpoint file.
    pub path: &'a Path,
    /// Why.
    pub error: &'a std::io::Error,
}

impl CheckpointWriteError<'_> {
    /// Count it; log.
    pub fn emit(self, m: &Metrics) {
        m.checkpoint_writes.with_label_values(&["error"]).inc();
        tracing::error!(path = %self.path.display(), error = %self.error, "cannot write the checkpoint");
    }
}

/// A checkpoint was loaded at start.
#[derive(Debug, Clone, Copy)]
pub struct CheckpointLoaded<'a> {
    /// The checkpoint file.
    pub path: &'a Path,
    /// Files it knew.
    pub files: usize,
    /// Series it restored.
    pub series: usize,
    /// Event IDs in its dedup window.
    pub event_ids: usize,
}

impl CheckpointLoaded<'_> {
    /// Log it.
    pub fn emit(self, _m: &Metrics) {
        tracing::info!(
            path = %self.path.display(),
            files = self.files,
            series = self.series,
            event_ids = self.event_ids,
            "checkpoint loaded"
        );
    }
}
