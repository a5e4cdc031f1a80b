//! The scanning core shared by replay and watch: bytes in, events out.
//!
//! `Scanner` is built once (it owns the prefilter automaton and the scope),
//! is `Send + Sync`, and is shared by every worker.

use std::io::Read;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::classify::{self, AuthFailure, ClassifyError, Denial, Outcome, RecordKind};
use crate::decode::{DecodeError, Decoded};
use crate::frame::{self, Format, FrameEvent, RecordsFramer};
use crate::prefilter::Prefilter;
use crate::scope::Scope;

/// What scanning a buffer produces, in input order.
#[derive(Debug)]
pub enum ScanEvent {
    /// A denial in scope.
    Denial(Box<Denial>),
    /// An authentication failure (counted apart).
    AuthFailure(AuthFailure),
    /// A bad record or bad bytes; scanning went on after it.
    Error(InputError),
}

/// A problem with the input, with where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: byte {offset}: {kind}: {detail}")]
pub struct InputError {
    /// File path, `-` for stdin, `s3://…`, `cloudwatch://…`.
    pub origin: String,
    /// Byte offset in the (decompressed) stream where the bad record starts.
    pub offset: u64,
    /// What kind of problem (closed set, used as a metric label).
    pub kind: InputErrorKind,
    /// A human description.
    pub detail: String,
}

/// Kinds of input error; `as_str` is the metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InputErrorKind {
    /// A gzip stream that ends early or is corrupt.
    TruncatedGzip,
    /// A record that is not valid JSON.
    InvalidJson,
    /// A text record that is not UTF-8.
    InvalidUtf8,
    /// A record larger than the record size cap.
    OversizedRecord,
    /// Binary data where text was expected.
    Binary,
    /// A file that could not be opened or read.
    Unreadable,
    /// A gzip stream that inflates past the size cap.
    GzipTooLarge,
}

impl InputErrorKind {
    /// Every kind, in a stable order.
    pub const ALL: [InputErrorKind; 7] = [
        InputErrorKind::TruncatedGzip,
        InputErrorKind::InvalidJson,
        InputErrorKind::InvalidUtf8,
        InputErrorKind::OversizedRecord,
        InputErrorKind::Binary,
        InputErrorKind::Unreadable,
        InputErrorKind::GzipTooLarge,
    ];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            InputErrorKind::TruncatedGzip => "truncated_gzip",
            InputErrorKind::InvalidJson => "invalid_json",
            InputErrorKind::InvalidUtf8 => "invalid_utf8",
            InputErrorKind::OversizedRecord => "oversized_record",
            InputErrorKind::Binary => "binary",
            InputErrorKind::Unreadable => "unreadable",
            InputErrorKind::GzipTooLarge => "gzip_too_large",
        }
    }
}

impl std::fmt::Display for InputErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counters for one scanned buffer.
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
        self.skipped += o.skipped;
    }
}

/// Knobs of a [`Scanner`].
#[derive(Debug, Clone)]
pub struct ScannerBuilder {
    scope: Scope,
    max_record: usize,
    max_inflated: u64,
    max_document: u64,
    chunk: usize,
}

impl Default for ScannerBuilder {
    fn default() -> Self {
        ScannerBuilder {
            scope: Scope::default(),
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
    /// Which actions to keep.
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
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
            scope: self.scope,
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
    scope: Scope,
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

impl Scanner {
    /// Start configuring a scanner.
    pub fn builder() -> ScannerBuilder {
        ScannerBuilder::default()
    }

    /// The scope in force.
    pub fn scope(&self) -> &Scope {
        &self.scope
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
            out(ScanEvent::Error(InputError {
                origin: origin.to_string(),
                offset,
                kind: InputErrorKind::OversizedRecord,
                detail: format!(
                    "record of {} bytes is over the {}-byte cap; skipped",
                    rec.len(),
                    self.max_record
                ),
            }));
            return;
        }
        match classify::classify(rec, kind) {
            Ok(Outcome::Denial(d)) => {
                if self.scope.matches_denial(&d) {
                    out(ScanEvent::Denial(d));
                } else {
                    stats.out_of_scope += 1;
                }
            }
            Ok(Outcome::AuthFailure(a)) => out(ScanEvent::AuthFailure(a)),
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
                self.stream_lines(&mut dec, Head { buf, eof, failed }, 0, origin, &mut st, out);
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
        let head = Head {
            buf: Vec::with_capacity(self.chunk + 64 * 1024),
            eof: false,
            failed: false,
        };
        self.stream_lines(&mut dec, head, base, origin, &mut st, out);
        st.bytes = dec.offset();
        st
    }

    fn stream_lines<R: Read>(
        &self,
        dec: &mut Decoded<R>,
        head: Head,
        // Stream offset of the head's first byte.
        mut base: u64,
        origin: &str,
        st: &mut ScanStats,
        out: &mut dyn FnMut(ScanEvent),
    ) {
        let Head {
            mut buf, mut eof, ..
        } = head;
        // Skipping the rest of an oversized line.
        let mut skipping = false;
        loop {
            if skipping {
                match memchr::memchr(b'\n', &buf) {
                    Some(i) => {
                        buf.drain(..=i);
                        base += i as u64 + 1;
                        skipping = false;
                    }
                    None => {
                        base += buf.len() as u64;
                        buf.clear();
                    }
                }
            }
            if !skipping {
                let upto = if eof {
                    buf.len()
                } else {
                    memchr::memrchr(b'\n', &buf).map_or(0, |i| i + 1)
                };
                if upto > 0 {
                    *st += self.scan_lines(&buf[..upto], origin, base, out);
                    buf.drain(..upto);
                    base += upto as u64;
                } else if buf.len() > self.max_record {
                    out(ScanEvent::Error(InputError {
                        origin: origin.to_string(),
                        offset: base,
                        kind: InputErrorKind::OversizedRecord,
                        detail: format!(
                            "line longer than the {}-byte cap; skipped to its end",
                            self.max_record
                        ),
                    }));
                    st.records += 1;
                    base += buf.len() as u64;
                    buf.clear();
                    skipping = true;
                }
            }
            if eof {
                return;
            }
            let at = base + buf.len() as u64;
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
                out(ScanEvent::Error(InputError {
                    origin: origin.to_string(),
                    offset: base + keep_from as u64,
                    kind: InputErrorKind::OversizedRecord,
                    detail: format!(
                        "record longer than the {}-byte cap; skipped",
                        self.max_record
                    ),
                }));
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
        let mut stream = serde_json::Deserializer::from_slice(buf).into_iter::<&RawValue>();
        loop {
            let at = stream.byte_offset();
            let doc = match stream.next() {
                None => break,
                Some(Ok(d)) => d,
                Some(Err(e)) => {
                    out(ScanEvent::Error(InputError {
                        origin: origin.to_string(),
                        offset: at as u64,
                        kind: InputErrorKind::InvalidJson,
                        detail: format!(
                            "invalid JSON document ({format}): {e}; rest of file skipped",
                            format = format.as_str()
                        ),
                    }));
                    break;
                }
            };
            let raw = doc.get().as_bytes();
            match format {
                Format::LookupEvents => self.lookup_events(raw, origin, at as u64, st, out),
                Format::CwSubscription => self.subscription(raw, origin, at as u64, st, out),
                _ => match frame::detect(raw, true) {
                    Format::RecordsArray => {
                        let mut f = RecordsFramer::new();
                        let mut recs = Vec::new();
                        f.feed(raw, 0, &mut |e| recs.push(e));
                        for ev in recs {
                            if let FrameEvent::Record { start, end } = ev {
                                st.add_counts(self.scan_message(
                                    &raw[start..end],
                                    origin,
                                    (at + start) as u64,
                                    out,
                                ));
                            }
                        }
                    }
                    Format::Skip(_) => {}
                    _ => {
                        let s = self.scan_message(raw, origin, at as u64, out);
                        st.add_counts(s);
                    }
                },
            }
        }
    }

    fn lookup_events(
        &self,
        raw: &[u8],
        origin: &str,
        at: u64,
        st: &mut ScanStats,
        out: &mut dyn FnMut(ScanEvent),
    ) {
        #[derive(Deserialize)]
        struct Page {
            #[serde(rename = "Events", default)]
            events: Vec<Ev>,
        }
        #[derive(Deserialize)]
        struct Ev {
            #[serde(rename = "CloudTrailEvent", default)]
            cloudtrail_event: Option<String>,
        }
        match serde_json::from_slice::<Page>(raw) {
            Ok(p) => {
                for e in p.events {
                    if let Some(rec) = e.cloudtrail_event {
                        let s = self.scan_message(rec.as_bytes(), origin, at, out);
                        st.add_counts(s);
                    }
                }
            }
            Err(e) => out(ScanEvent::Error(InputError {
                origin: origin.to_string(),
                offset: at,
                kind: InputErrorKind::InvalidJson,
                detail: format!("not a lookup-events page: {e}"),
            })),
        }
    }

    fn subscription(
        &self,
        raw: &[u8],
        origin: &str,
        at: u64,
        st: &mut ScanStats,
        out: &mut dyn FnMut(ScanEvent),
    ) {
        #[derive(Deserialize)]
        struct Payload<'a> {
            #[serde(rename = "messageType", borrow)]
            message_type: std::borrow::Cow<'a, str>,
            #[serde(rename = "logEvents", default)]
            log_events: Vec<LogEvent>,
        }
        #[derive(Deserialize)]
        struct LogEvent {
            #[serde(default)]
            message: String,
        }
        match serde_json::from_slice::<Payload>(raw) {
            Ok(p) if p.message_type == "DATA_MESSAGE" => {
                for e in p.log_events {
                    let s = self.scan_message(e.message.as_bytes(), origin, at, out);
                    st.add_counts(s);
                }
            }
            Ok(_) => st.skipped += 1,
            Err(e) => out(ScanEvent::Error(InputError {
                origin: origin.to_string(),
                offset: at,
                kind: InputErrorKind::InvalidJson,
                detail: format!("not a CloudWatch Logs subscription payload: {e}"),
            })),
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
