//! The pipeline, composed: bytes in, what was found out. Decodes
//! ([`crate::decode`]), detects the format and frames records
//! ([`crate::frame`]), passes only the records the prefilter marks
//! ([`crate::prefilter`]) to the classifier ([`crate::classify`]), and keeps
//! what the selection ([`crate::scope`]) keeps. Used by every command:
//! replay's workers, the sidecar's ingest loop, `explain`.
//!
//! `Scanner` is built once (it owns the prefilter automaton and the
//! selection), is `Send + Sync`, and is shared by every worker. It knows
//! nothing of where bytes come from, nor of what is done with what it finds.

use std::io::Read;

use crate::classify::{self, AuthFailure, ClassifyError, Denial, Outcome};
use crate::decode::{DecodeError, Decoded};
use crate::frame::documents::{self, Unwrapped};
use crate::frame::lines::{Framed, LineBuffer};
use crate::frame::{self, Format, FrameEvent, RecordKind, RecordsFramer, SkipReason};
use crate::input::{InputError, InputErrorKind};
use crate::prefilter::Prefilter;
use crate::scope::{Dropped, Scope, Selection};

/// What scanning produces, in input order.
#[derive(Debug)]
pub enum ScanEvent {
    /// A denial kept by the selection.
    Denial(Box<Denial>),
    /// An authentication failure (counted apart).
    AuthFailure(AuthFailure),
    /// A bad record or bad bytes; scanning went on after it.
    Error(InputError),
}

/// Counters for one scanned piece of input.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ScanStats {
    /// Records framed (lines, `Records` elements, log events).
    pub records: u64,
    /// Bytes scanned (decompressed).
    pub bytes: u64,
    /// Records the prefilter passed to the parser.
    pub candidates: u64,
    /// Denials outside the scope (counted, not reported).
    pub out_of_scope: u64,
    /// Denials and authentication failures outside the time range.
    pub out_of_range: u64,
    /// Records skipped on purpose (Insight events, control messages).
    pub skipped: u64,
}

impl ScanStats {
    /// Add another scan's record counts, not its bytes: for records read out
    /// of a document whose bytes are already counted whole.
    pub fn add_counts(&mut self, o: ScanStats) {
        *self += ScanStats { bytes: 0, ..o };
    }
}

impl std::ops::AddAssign for ScanStats {
    fn add_assign(&mut self, o: ScanStats) {
        self.records += o.records;
        self.bytes += o.bytes;
        self.candidates += o.candidates;
        self.out_of_scope += o.out_of_scope;
        self.out_of_range += o.out_of_range;
        self.skipped += o.skipped;
    }
}

/// Knobs of a [`Scanner`].
#[derive(Debug, Clone)]
pub struct ScannerBuilder {
    selection: Selection,
    max_record: usize,
    max_inflated: u64,
    max_document: u64,
    chunk: usize,
}

impl Default for ScannerBuilder {
    fn default() -> Self {
        ScannerBuilder {
            selection: Selection::default(),
            max_record: DEFAULT_MAX_RECORD,
            max_inflated: crate::decode::DEFAULT_MAX_INFLATED,
            max_document: DEFAULT_MAX_DOCUMENT,
            chunk: DEFAULT_CHUNK,
        }
    }
}

/// Largest single record (line or `Records` element) kept: 16 MiB.
/// CloudTrail's own limit is 256 KiB per event.
pub const DEFAULT_MAX_RECORD: usize = 16 << 20;
/// Largest whole document read at once (lookup-events output, subscription
/// payloads, pretty-printed documents): 1 GiB.
pub const DEFAULT_MAX_DOCUMENT: u64 = 1 << 30;
/// Read size for streamed inputs: 4 MiB.
pub const DEFAULT_CHUNK: usize = 4 << 20;

/// A setting that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A size limit of zero.
    #[error("{0} must be greater than zero")]
    ZeroLimit(&'static str),
}

impl ScannerBuilder {
    /// Which actions to keep (any time).
    pub fn scope(mut self, scope: Scope) -> Self {
        self.selection = Selection::new(scope, self.selection.range);
        self
    }
    /// Which actions and event times to keep.
    pub fn selection(mut self, selection: Selection) -> Self {
        self.selection = selection;
        self
    }
    /// Largest record kept; longer ones are reported as oversized and skipped.
    pub fn max_record(mut self, bytes: usize) -> Self {
        self.max_record = bytes;
        self
    }
    /// Cap on the inflated size of one gzip input.
    pub fn max_inflated(mut self, bytes: u64) -> Self {
        self.max_inflated = bytes;
        self
    }
    /// Cap on a document read whole.
    pub fn max_document(mut self, bytes: u64) -> Self {
        self.max_document = bytes;
        self
    }
    /// Read size for streams.
    pub fn chunk(mut self, bytes: usize) -> Self {
        self.chunk = bytes;
        self
    }
    /// Check the settings and build.
    pub fn build(self) -> Result<Scanner, BuildError> {
        if self.max_record == 0 {
            return Err(BuildError::ZeroLimit("max record size"));
        }
        if self.chunk == 0 {
            return Err(BuildError::ZeroLimit("chunk size"));
        }
        if self.max_inflated == 0 || self.max_document == 0 {
            return Err(BuildError::ZeroLimit("size cap"));
        }
        Ok(Scanner {
            prefilter: Prefilter::new(),
            selection: self.selection,
            max_record: self.max_record,
            max_inflated: self.max_inflated,
            max_document: self.max_document,
            chunk: self.chunk,
        })
    }
}

/// The shared scanning engine. Built once, used from many threads.
///
/// ```
/// use denytrail::scan::{Scanner, ScanEvent};
/// let s = Scanner::builder().build().unwrap();
/// let line = br#"{"eventSource":"iam.amazonaws.com","eventName":"PassRole","errorCode":"AccessDenied","errorMessage":"User: arn:aws:iam::123456789012:user/ci is not authorized to perform: iam:PassRole","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/ci"}}
/// "#;
/// let mut denials = 0;
/// let stats = s.scan_lines(line, "-", 0, &mut |e| if let ScanEvent::Denial(_) = e { denials += 1 });
/// assert_eq!((stats.records, denials), (1, 1));
/// ```
#[derive(Debug, Clone)]
pub struct Scanner {
    prefilter: Prefilter,
    selection: Selection,
    max_record: usize,
    max_inflated: u64,
    max_document: u64,
    chunk: usize,
}

/// What scanning one stream found out about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSummary {
    /// Counters.
    pub stats: ScanStats,
    /// The detected format.
    pub format: Format,
    /// Whether the input was gzip.
    pub gzip: bool,
}

/// The error of a record over the size cap, said the same way wherever it
/// is found.
fn oversized(origin: &str, offset: u64, max: usize) -> InputError {
    InputError {
        origin: origin.to_string(),
        offset,
        kind: InputErrorKind::OversizedRecord,
        detail: format!("record longer than the {max}-byte cap (--max-record); skipped to its end"),
    }
}

impl Scanner {
    /// Start configuring a scanner.
    pub fn builder() -> ScannerBuilder {
        ScannerBuilder::default()
    }

    /// The scope in force.
    pub fn scope(&self) -> &Scope {
        &self.selection.scope
    }

    /// What is kept.
    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    /// The longest record kept.
    pub fn max_record(&self) -> usize {
        self.max_record
    }

    /// Classify one record and emit what it is.
    fn record(
        &self,
        rec: &[u8],
        kind: RecordKind,
        origin: &str,
        offset: u64,
        stats: &mut ScanStats,
        out: &mut dyn FnMut(ScanEvent),
    ) {
        stats.candidates += 1;
        if rec.len() > self.max_record {
            out(ScanEvent::Error(oversized(origin, offset, self.max_record)));
            return;
        }
        match classify::classify(rec, kind) {
            Ok(Outcome::Denial(d)) => match self.selection.judge(&d) {
                Ok(()) => out(ScanEvent::Denial(d)),
                Err(Dropped::OutOfScope) => stats.out_of_scope += 1,
                Err(Dropped::OutOfRange) => stats.out_of_range += 1,
            },
            Ok(Outcome::AuthFailure(a)) => {
                if self.selection.in_range(a.event_time.as_deref()) {
                    out(ScanEvent::AuthFailure(a))
                } else {
                    stats.out_of_range += 1;
                }
            }
            Ok(Outcome::Skipped) => stats.skipped += 1,
            Ok(Outcome::Other) => {}
            Err(ClassifyError::InvalidJson { offset: at, msg }) => {
                let utf8 = std::str::from_utf8(rec).is_ok();
                out(ScanEvent::Error(InputError {
                    origin: origin.to_string(),
                    offset,
                    kind: if utf8 {
                        InputErrorKind::InvalidJson
                    } else {
                        InputErrorKind::InvalidUtf8
                    },
                    detail: format!("record is not valid JSON (at record byte {at}): {msg}"),
                }))
            }
        }
    }

    /// Scan a buffer holding only complete records, one per line (JSON Lines,
    /// CloudWatch export lines `<timestamp> <message>`, or plain-text log
    /// lines, mixed freely; the last line may lack its newline).
    /// `base_offset` is the stream offset of `buf[0]`, so errors carry
    /// absolute offsets. Events go to `out` in input order.
    pub fn scan_lines(
        &self,
        buf: &[u8],
        origin: &str,
        base_offset: u64,
        out: &mut dyn FnMut(ScanEvent),
    ) -> ScanStats {
        let mut st = ScanStats {
            bytes: buf.len() as u64,
            ..ScanStats::default()
        };
        let mut pos = 0;
        while pos < buf.len() {
            let Some(hit) = self.prefilter.find_from(buf, pos) else {
                st.records += count_lines(&buf[pos..]);
                break;
            };
            let start = memchr::memrchr(b'\n', &buf[pos..hit]).map_or(pos, |i| pos + i + 1);
            let end = memchr::memchr(b'\n', &buf[hit..]).map_or(buf.len(), |i| hit + i);
            st.records += count_lines(&buf[pos..start]) + 1;
            let line = &buf[start..end];
            let (rec, at, kind) = frame::line_record(line);
            self.record(
                rec,
                kind,
                origin,
                base_offset + (start + at) as u64,
                &mut st,
                out,
            );
            pos = end + 1;
        }
        st
    }

    /// Scan one record on its own (a CloudWatch log event's message, a
    /// lookup-events `CloudTrailEvent`): JSON when it starts with `{`, text
    /// otherwise.
    pub fn scan_message(
        &self,
        msg: &[u8],
        origin: &str,
        offset: u64,
        out: &mut dyn FnMut(ScanEvent),
    ) -> ScanStats {
        let mut st = ScanStats {
            records: 1,
            bytes: msg.len() as u64,
            ..ScanStats::default()
        };
        if self.prefilter.is_candidate(msg) {
            let (rec, _, kind) = frame::line_record(msg);
            self.record(rec, kind, origin, offset, &mut st, out);
        }
        st
    }

    /// A line stream for bytes that arrive a piece at a time (a followed
    /// file, the sidecar's stdin) whose next byte is at stream `offset`.
    pub fn line_stream(&self, offset: u64) -> LineStream {
        LineStream {
            lines: LineBuffer::new(offset, self.max_record),
        }
    }

    /// Scan a whole stream: decompress if gzip, detect the format, frame,
    /// prefilter, classify. Bad data is reported through `out` and scanning
    /// goes on; every good record is kept.
    pub fn scan_stream<R: Read>(
        &self,
        reader: R,
        origin: &str,
        out: &mut dyn FnMut(ScanEvent),
    ) -> StreamSummary {
        let err = |offset: u64, kind: InputErrorKind, detail: String| {
            ScanEvent::Error(InputError {
                origin: origin.to_string(),
                offset,
                kind,
                detail,
            })
        };
        let mut dec = match Decoded::new(reader, self.max_inflated) {
            Ok(d) => d,
            Err(e) => {
                out(err(
                    0,
                    InputErrorKind::Unreadable,
                    format!("cannot read: {e}"),
                ));
                return StreamSummary {
                    stats: ScanStats::default(),
                    format: Format::Binary,
                    gzip: false,
                };
            }
        };
        let gzip = dec.is_gzip();
        let mut st = ScanStats::default();
        let mut failed = false;
        let (mut buf, mut eof) = match dec.take_whole() {
            // Inflated in one go: scan it in place.
            Some(all) => (all, true),
            None => {
                // Fill the first chunk to detect the format.
                let mut buf: Vec<u8> = Vec::with_capacity(self.chunk + 64 * 1024);
                let eof = fill(&mut dec, &mut buf, self.chunk.min(64 * 1024), &mut |e| {
                    failed = true;
                    out(decode_error(origin, e))
                });
                (buf, eof)
            }
        };
        let format = frame::detect(&buf, eof);
        // What detection looked at: a skipped or binary input counts these
        // bytes, whether it was inflated whole or streamed.
        let head = buf.len().min(self.chunk.min(64 * 1024)) as u64;
        match format {
            Format::Skip(_) => st.bytes = head,
            Format::Binary => {
                let at = memchr::memchr(0, &buf).unwrap_or(0) as u64;
                out(err(
                    at,
                    InputErrorKind::Binary,
                    "binary data, not a log (not gzip, not text); file skipped".to_string(),
                ));
                st.bytes = head;
            }
            Format::Lines => {
                self.stream_lines(&mut dec, buf, eof, 0, origin, &mut st, out);
            }
            Format::RecordsArray => {
                self.stream_records(&mut dec, Head { buf, eof, failed }, origin, &mut st, out);
            }
            Format::LookupEvents | Format::CwSubscription | Format::Documents => {
                if !eof {
                    let limit = self.max_document;
                    if let Err(e) = dec.read_to_end_capped(&mut buf, limit) {
                        out(decode_error(origin, e));
                    }
                    eof = true;
                }
                debug_assert!(eof);
                st.bytes = buf.len() as u64;
                self.scan_documents(&buf, format, origin, &mut st, out);
            }
        }
        // Every decoded byte counts as scanned, whatever path it took.
        if !matches!(format, Format::Skip(_) | Format::Binary) {
            st.bytes = st.bytes.max(dec.offset());
        }
        StreamSummary {
            stats: st,
            format,
            gzip,
        }
    }

    /// Scan a line-aligned part of a plain (not compressed) file of
    /// newline-delimited records: `reader` yields the part's bytes, which
    /// start at offset `base` of the file, so errors carry file offsets.
    /// Replay uses it to spread one large JSON Lines file over its workers.
    pub fn scan_lines_part<R: Read>(
        &self,
        reader: R,
        origin: &str,
        base: u64,
        out: &mut dyn FnMut(ScanEvent),
    ) -> ScanStats {
        let mut dec = Decoded::plain(reader);
        let mut st = ScanStats::default();
        let buf = Vec::with_capacity(self.chunk);
        self.stream_lines(&mut dec, buf, false, base, origin, &mut st, out);
        st.bytes = dec.offset();
        st
    }

    /// Stream newline-delimited records through the one line framer: `head`
    /// holds the first bytes read (at stream offset `base`), `eof` says the
    /// stream ended within them.
    #[allow(clippy::too_many_arguments)]
    fn stream_lines<R: Read>(
        &self,
        dec: &mut Decoded<R>,
        mut buf: Vec<u8>,
        mut eof: bool,
        base: u64,
        origin: &str,
        st: &mut ScanStats,
        out: &mut dyn FnMut(ScanEvent),
    ) {
        let mut lines = self.line_stream(base);
        loop {
            *st += lines.push(self, &buf, origin, out);
            if eof {
                *st += lines.finish(self, origin, out);
                return;
            }
            buf.clear();
            let at = lines.read_offset();
            eof = fill(dec, &mut buf, self.chunk, &mut |e| {
                out(decode_error_at(origin, e, at))
            });
        }
    }

    fn stream_records<R: Read>(
        &self,
        dec: &mut Decoded<R>,
        head: Head,
        origin: &str,
        st: &mut ScanStats,
        out: &mut dyn FnMut(ScanEvent),
    ) {
        let Head {
            mut buf,
            mut eof,
            mut failed,
        } = head;
        let mut framer = RecordsFramer::new();
        let mut base: u64 = 0;
        let mut scanned = 0usize;
        // Records the framer finds, collected per chunk.
        let mut found: Vec<FrameEvent> = Vec::new();
        loop {
            found.clear();
            framer.feed(&buf, scanned, &mut |e| found.push(e));
            let mut next_hit = self.prefilter.find_from(&buf, 0);
            for ev in &found {
                match *ev {
                    FrameEvent::Record { start, end } => {
                        st.records += 1;
                        while let Some(h) = next_hit {
                            if h >= start {
                                break;
                            }
                            next_hit = self.prefilter.find_from(&buf, start);
                        }
                        if next_hit.is_some_and(|h| h < end) {
                            self.record(
                                &buf[start..end],
                                RecordKind::CloudTrailJson,
                                origin,
                                base + start as u64,
                                st,
                                out,
                            );
                            next_hit = self.prefilter.find_from(&buf, end);
                        }
                    }
                    FrameEvent::Broken(at) => out(ScanEvent::Error(InputError {
                        origin: origin.to_string(),
                        offset: base + at as u64,
                        kind: InputErrorKind::InvalidJson,
                        detail: "unbalanced or too deeply nested JSON in the Records array"
                            .to_string(),
                    })),
                }
            }
            // Keep the open record, drop the rest.
            let keep_from = framer.open_record().unwrap_or(buf.len());
            if eof {
                st.bytes = base + buf.len() as u64;
                // A stream cut by a decode error was reported as such; the
                // record it cut is part of that error.
                if let (Some(s), false) = (framer.open_record(), failed) {
                    out(ScanEvent::Error(InputError {
                        origin: origin.to_string(),
                        offset: base + s as u64,
                        kind: InputErrorKind::InvalidJson,
                        detail: "the stream ends inside a record (truncated file?); the record is lost, every record before it was kept"
                            .to_string(),
                    }));
                }
                return;
            }
            let open_len = buf.len() - keep_from;
            if open_len > self.max_record {
                out(ScanEvent::Error(oversized(
                    origin,
                    base + keep_from as u64,
                    self.max_record,
                )));
                st.records += 1;
                // Keep following the structure, but not the bytes.
                framer.forget_open();
                base += buf.len() as u64;
                buf.clear();
                scanned = 0;
            } else {
                buf.drain(..keep_from);
                framer.rebase(keep_from);
                base += keep_from as u64;
                scanned = buf.len();
            }
            eof = fill(dec, &mut buf, self.chunk, &mut |e| {
                failed = true;
                out(decode_error(origin, e))
            });
        }
    }

    fn scan_documents(
        &self,
        buf: &[u8],
        format: Format,
        origin: &str,
        st: &mut ScanStats,
        out: &mut dyn FnMut(ScanEvent),
    ) {
        documents::unwrap(buf, format, &mut |u| match u {
            Unwrapped::Record { bytes, offset } => {
                st.add_counts(self.scan_message(bytes, origin, offset, out));
            }
            Unwrapped::Skipped => st.skipped += 1,
            Unwrapped::Error { offset, detail, .. } => out(ScanEvent::Error(InputError {
                origin: origin.to_string(),
                offset,
                kind: InputErrorKind::InvalidJson,
                detail,
            })),
        });
    }
}

/// Why [`StreamSummary::format`] says a whole input was skipped.
pub fn skip_reason(f: Format) -> Option<crate::aggregate::SkippedFile> {
    use crate::aggregate::SkippedFile;
    match f {
        Format::Skip(SkipReason::Digest) => Some(SkippedFile::Digest),
        Format::Skip(SkipReason::Insight) => Some(SkippedFile::Insight),
        Format::Skip(SkipReason::Empty) => Some(SkippedFile::Empty),
        _ => None,
    }
}

/// Newline-delimited records arriving a piece at a time: the one line
/// framer ([`LineBuffer`]) with the scanner behind it. Only complete lines
/// are scanned; a partial last line waits for its end.
#[derive(Debug)]
pub struct LineStream {
    lines: LineBuffer,
}

impl LineStream {
    /// Frame and scan `data`, the next bytes of the stream.
    pub fn push(
        &mut self,
        scanner: &Scanner,
        data: &[u8],
        origin: &str,
        out: &mut dyn FnMut(ScanEvent),
    ) -> ScanStats {
        let mut st = ScanStats::default();
        self.lines
            .push(data, &mut |f| scan_framed(scanner, f, origin, &mut st, out));
        st
    }

    /// The stream ended: its last line counts even without a newline.
    pub fn finish(
        &mut self,
        scanner: &Scanner,
        origin: &str,
        out: &mut dyn FnMut(ScanEvent),
    ) -> ScanStats {
        let mut st = ScanStats::default();
        self.lines
            .finish(&mut |f| scan_framed(scanner, f, origin, &mut st, out));
        st
    }

    /// Stream offset up to which every line was scanned (or skipped): where
    /// reading resumes after a restart.
    pub fn consumed(&self) -> u64 {
        self.lines.consumed()
    }

    /// Stream offset of the next byte to push.
    pub fn read_offset(&self) -> u64 {
        self.lines.read_offset()
    }

    /// Forget the partial line held and restart at `offset` (a file
    /// truncated in place).
    pub fn reset(&mut self, offset: u64) {
        self.lines.reset(offset);
    }
}

fn scan_framed(
    scanner: &Scanner,
    f: Framed<'_>,
    origin: &str,
    st: &mut ScanStats,
    out: &mut dyn FnMut(ScanEvent),
) {
    match f {
        Framed::Lines { base, bytes } => *st += scanner.scan_lines(bytes, origin, base, out),
        Framed::Oversized { offset } => {
            st.records += 1;
            out(ScanEvent::Error(oversized(
                origin,
                offset,
                scanner.max_record,
            )));
        }
    }
}

/// The first bytes of a stream, read to detect its format.
struct Head {
    /// What was read.
    buf: Vec<u8>,
    /// The stream ended within them.
    eof: bool,
    /// It ended on a decode error (already reported).
    failed: bool,
}

/// Count newline-terminated lines, plus a final unterminated one.
fn count_lines(b: &[u8]) -> u64 {
    if b.is_empty() {
        return 0;
    }
    let n = memchr::memchr_iter(b'\n', b).count() as u64;
    n + u64::from(b.last() != Some(&b'\n'))
}

/// Read until `buf` holds at least `want` more bytes or the stream ends.
/// Returns whether the stream ended (or failed: the failure is reported and
/// treated as the end, keeping what was read).
fn fill<R: Read>(
    dec: &mut Decoded<R>,
    buf: &mut Vec<u8>,
    want: usize,
    on_err: &mut dyn FnMut(DecodeError),
) -> bool {
    let target = buf.len() + want;
    while buf.len() < target {
        let old = buf.len();
        buf.resize(target, 0);
        match dec.read_some(&mut buf[old..]) {
            Ok(0) => {
                buf.truncate(old);
                return true;
            }
            Ok(n) => buf.truncate(old + n),
            Err(e) => {
                buf.truncate(old);
                on_err(e);
                return true;
            }
        }
    }
    false
}

/// A decode error reported at stream offset `at` (where reading stopped,
/// which for a part of a file is not the decoder's own count).
fn decode_error_at(origin: &str, e: DecodeError, at: u64) -> ScanEvent {
    match decode_error(origin, e) {
        ScanEvent::Error(mut ie) => {
            ie.offset = at;
            ScanEvent::Error(ie)
        }
        other => other,
    }
}

fn decode_error(origin: &str, e: DecodeError) -> ScanEvent {
    let (offset, kind) = match &e {
        DecodeError::Gzip { inflated, .. } => (*inflated, InputErrorKind::TruncatedGzip),
        DecodeError::TooLarge { cap } => (*cap, InputErrorKind::GzipTooLarge),
        DecodeError::Read { offset, .. } => (*offset, InputErrorKind::Unreadable),
    };
    ScanEvent::Error(InputError {
        origin: origin.to_string(),
        offset,
        kind,
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records read out of a pretty-printed `Records` document that follows
    /// another document: each is counted, the bytes only once.
    #[test]
    fn documents_count_their_bytes_once() {
        let rec = r#"{"eventID":"eX","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/u"},"eventSource":"iam.amazonaws.com","eventName":"PassRole","errorCode":"AccessDenied","errorMessage":"User: arn:aws:iam::123456789012:user/u is not authorized to perform: iam:PassRole"}"#;
        let doc = format!(
            "{{\n \"eventVersion\": \"1.08\"\n}}\n{{\"Records\":[{},{}]}}\n",
            rec.replace("eX", "e1"),
            rec.replace("eX", "e2")
        );
        let s = Scanner::builder().build().unwrap();
        let mut denials = 0;
        let sum = s.scan_stream(doc.as_bytes(), "t", &mut |e| {
            if let ScanEvent::Denial(_) = e {
                denials += 1
            }
        });
        assert_eq!(sum.format, Format::Documents);
        assert_eq!(denials, 2);
        assert_eq!(sum.stats.records, 3);
        assert_eq!(sum.stats.bytes, doc.len() as u64);
    }

    #[test]
    fn scanner_is_send_sync() {
        fn ok<T: Send + Sync>() {}
        ok::<Scanner>();
    }
}
