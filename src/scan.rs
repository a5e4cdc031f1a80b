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
        if kind == RecordKind::Text
            && memchr::memmem::find(rec, br#"","errorCode":""#).is_some()
            && frame::records::next_record_start(rec, 0).is_none()
        {
            // The end of a JSON record without its start: a record broken
            // across lines. Read as text (its message may still name the
            // denial), and reported.
            out(ScanEvent::Error(InputError {
                origin: origin.to_string(),
                offset,
                kind: InputErrorKind::InvalidJson,
                detail: "a line holding the end of a CloudTrail JSON record without its start (a record broken across lines?); read as text".to_string(),
            }));
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
            Err(ClassifyError::InvalidJson { .. })
                if kind == RecordKind::CloudTrailJson
                    && let Some(p) = frame::records::next_record_start(rec, 1) =>
            {
                // Two records run together (a lost newline or comma, or a
                // damaged record followed by a whole one): each on its own.
                let head = &rec[..p];
                let cut = head
                    .iter()
                    .rposition(|c| !(c.is_ascii_whitespace() || *c == b','))
                    .map_or(0, |i| i + 1);
                stats.candidates -= 1;
                stats.records += 1;
                self.record(&head[..cut], kind, origin, offset, stats, out);
                self.record(&rec[p..], kind, origin, offset + p as u64, stats, out);
            }
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
            Some(all) => (Filled::from_vec(all), true),
            None => {
                // Fill the first chunk to detect the format.
                let mut buf = Filled::with_capacity(self.chunk + 64 * 1024);
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
                let head = Head { buf, eof, failed };
                if let Some((rest, eof, at)) =
                    self.stream_records(&mut dec, head, origin, &mut st, out)
                {
                    // More content after the document: read on as lines.
                    self.stream_lines(&mut dec, rest, eof, at, origin, &mut st, out);
                }
            }
            Format::LookupEvents | Format::CwSubscription | Format::Documents => {
                if !eof {
                    let limit = self.max_document;
                    let mut damaged = Vec::new();
                    let mut all = std::mem::take(&mut buf).into_vec();
                    let r = dec.read_to_end_capped(&mut all, limit, &mut |e| damaged.push(e));
                    buf = Filled::from_vec(all);
                    for e in damaged.into_iter().chain(r.err()) {
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
        let buf = Filled::with_capacity(self.chunk);
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
        mut buf: Filled,
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

    /// Stream a `{"Records":[…]}` document through the structural framer.
    ///
    /// The bytes between records are checked (only white space, commas and
    /// the closing brackets belong there), and a record that holds the start
    /// of another has swallowed it. Either is damage: the damaged bytes are
    /// reported once and the framer resynchronises at the next record start
    /// ([`frame::records::next_record_start`]), so damage loses the record it
    /// hit and nothing else. When the document closes and more content
    /// follows, another Records document is framed the same way and anything
    /// else is handed back (with its stream offset) to be read as lines.
    fn stream_records<R: Read>(
        &self,
        dec: &mut Decoded<R>,
        head: Head,
        origin: &str,
        st: &mut ScanStats,
        out: &mut dyn FnMut(ScanEvent),
    ) -> Option<(Filled, bool, u64)> {
        let Head {
            mut buf,
            mut eof,
            mut failed,
        } = head;
        let broken = |offset: u64, detail: String| {
            ScanEvent::Error(InputError {
                origin: origin.to_string(),
                offset,
                kind: InputErrorKind::InvalidJson,
                detail,
            })
        };
        let mut framer = RecordsFramer::new();
        let mut base: u64 = 0;
        let mut scanned = 0usize;
        // Checked up to here: the bytes from `gap` to the next record are
        // between records (or, while `header`, the document's opening).
        let mut gap = 0usize;
        let mut header = true;
        // The document closed before `gap`.
        let mut ended = false;
        // Damage found at this stream offset: looking for the next record
        // start from `seek` on.
        let mut lost_from: Option<u64> = None;
        let mut seek = 0usize;
        let mut found: Vec<FrameEvent> = Vec::new();
        loop {
            // Frame what is buffered, resynchronising after damage, until
            // the buffer is done or a record start is awaited.
            loop {
                if let Some(from) = lost_from {
                    let Some(r) = frame::records::next_record_start(&buf, seek) else {
                        break;
                    };
                    let at = base + r as u64;
                    out(broken(
                        from,
                        format!(
                            "broken JSON in the Records array: {} bytes skipped to the next record, at offset {at}; the records before and after them were kept",
                            at - from
                        ),
                    ));
                    st.records += 1;
                    lost_from = None;
                    framer.resync();
                    (scanned, gap, header, ended) = (r, r, false, false);
                }
                if ended {
                    // After the document: white space, or more content.
                    let Some(k) = buf[gap..].iter().position(|c| !c.is_ascii_whitespace()) else {
                        gap = buf.len();
                        break;
                    };
                    let q = gap + k;
                    let rest = frame::detect(&buf[q..], eof);
                    if rest == Format::Binary {
                        st.bytes = base + buf.len() as u64;
                        out(ScanEvent::Error(InputError {
                            origin: origin.to_string(),
                            offset: base + q as u64,
                            kind: InputErrorKind::Binary,
                            detail: "binary data after the Records document; the rest of the input skipped"
                                .to_string(),
                        }));
                        return None;
                    }
                    if rest != Format::RecordsArray {
                        buf.drain_front(q);
                        return Some((buf, eof, base + q as u64));
                    }
                    framer = RecordsFramer::new();
                    (scanned, gap, header, ended) = (q, q, true, false);
                }
                found.clear();
                framer.feed(&buf, scanned, &mut |e| found.push(e));
                scanned = buf.len();
                let mut damage: Option<usize> = None;
                let mut seek_after: Option<usize> = None;
                let mut next_hit = self.prefilter.find_from(&buf, gap);
                // The next record start after the current record's own.
                let mut next_start: Option<usize> = None;
                let mut start_from = 0usize;
                let mut swallowed = |start: usize, end: usize| {
                    if start_from <= start {
                        next_start = frame::records::next_record_start(&buf, start + 1);
                        start_from = next_start.map_or(usize::MAX, |n| n.max(start + 1));
                    }
                    next_start.is_some_and(|n| n > start && n < end)
                };
                for ev in &found {
                    match *ev {
                        FrameEvent::Record { start, end } => {
                            if let Err(bad) = between_records(&buf[gap..start], header) {
                                damage = Some(gap + bad);
                                break;
                            }
                            if swallowed(start, end) {
                                damage = Some(start);
                                break;
                            }
                            (gap, header) = (end, false);
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
                        FrameEvent::Broken(_) => {
                            // In the record after the gap: look for the
                            // next start after that record's own.
                            damage = Some(gap);
                            let first = buf[gap..]
                                .iter()
                                .position(|c| !(c.is_ascii_whitespace() || *c == b','));
                            seek_after = first.map(|k| gap + k);
                            break;
                        }
                        FrameEvent::End(at) => {
                            match between_records(&buf[gap..=at], header) {
                                Err(bad) => damage = Some(gap + bad),
                                Ok(()) => (gap, ended) = (at + 1, true),
                            }
                            break;
                        }
                    }
                }
                if damage.is_none() && !ended {
                    // The buffer's end: the bytes before the open record are
                    // between records, and the open record holds no other.
                    let upto = framer.open_record().unwrap_or(buf.len());
                    match between_records(&buf[gap..upto], header) {
                        Err(bad) => damage = Some(gap + bad),
                        Ok(()) if framer.open_record().is_some() && swallowed(upto, buf.len()) => {
                            damage = Some(upto);
                        }
                        Ok(()) => {
                            gap = upto;
                            break;
                        }
                    }
                }
                if let Some(d) = damage {
                    lost_from = Some(base + d as u64);
                    seek = seek_after.unwrap_or(d).max(d) + 1;
                }
            }
            if eof {
                st.bytes = base + buf.len() as u64;
                let end = st.bytes;
                if let Some(from) = lost_from {
                    st.records += 1;
                    out(broken(
                        from,
                        format!(
                            "broken JSON in the Records array and no record starts after it: the last {} bytes are lost, every record before them was kept",
                            end - from
                        ),
                    ));
                } else if failed {
                    // A stream cut by a decode error was reported as such;
                    // the record it cut is part of that error.
                } else if let Some(s) = framer.open_record() {
                    out(broken(
                        base + s as u64,
                        "the stream ends inside a record (truncated file?); the record is lost, every record before it was kept"
                            .to_string(),
                    ));
                } else if !ended {
                    out(broken(
                        end,
                        "the stream ends before the Records document closes (truncated file?); every record before the end was kept"
                            .to_string(),
                    ));
                }
                return None;
            }
            let keep_from = if lost_from.is_some() {
                // A record start may straddle the buffer's end.
                let k = seek.max(buf.len().saturating_sub(64)).min(buf.len());
                seek = 0;
                k
            } else {
                framer.open_record().unwrap_or(buf.len())
            };
            let open_len = buf.len() - keep_from;
            if lost_from.is_none() && open_len > self.max_record {
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
                (scanned, gap) = (0, 0);
            } else {
                buf.drain_front(keep_from);
                framer.rebase(keep_from);
                base += keep_from as u64;
                scanned = buf.len();
                gap = gap.saturating_sub(keep_from);
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
    buf: Filled,
    /// The stream ended within them.
    eof: bool,
    /// It ended on a decode error (already reported).
    failed: bool,
}

/// Check the bytes between two records of a Records array (or, when
/// `header`, from the document's start to its first record): white space,
/// commas and closing brackets, after the `{"Records":[` opening. `Err` has
/// the index of the first byte that does not belong there.
fn between_records(gap: &[u8], header: bool) -> Result<(), usize> {
    let mut i = 0;
    if header {
        let skip = |i: &mut usize| {
            while gap.get(*i).is_some_and(u8::is_ascii_whitespace) {
                *i += 1;
            }
        };
        if gap.starts_with(b"\xEF\xBB\xBF") {
            i = 3;
        }
        for want in [&b"{"[..], b"\"Records\"", b":", b"["] {
            skip(&mut i);
            let rest = &gap[i.min(gap.len())..];
            let n = want.len().min(rest.len());
            if rest[..n] != want[..n] {
                return Err(i + (0..n).position(|k| rest[k] != want[k]).unwrap_or(0));
            }
            if n < want.len() {
                // The opening is cut by the buffer's end.
                return Ok(());
            }
            i += n;
        }
    }
    match gap[i..]
        .iter()
        .position(|&c| !(c.is_ascii_whitespace() || matches!(c, b',' | b']' | b'}')))
    {
        Some(k) => Err(i + k),
        None => Ok(()),
    }
}

/// Count newline-terminated lines, plus a final unterminated one.
fn count_lines(b: &[u8]) -> u64 {
    if b.is_empty() {
        return 0;
    }
    let n = memchr::memchr_iter(b'\n', b).count() as u64;
    n + u64::from(b.last() != Some(&b'\n'))
}

/// A read buffer that keeps the bytes it once held initialised: its data
/// is `bytes[..len]`, and reading into it again reuses the rest without
/// zero-filling it first (a `Vec` cleared and resized zeroes every chunk
/// it reads: a memset of each 4 MB read).
#[derive(Debug, Default)]
struct Filled {
    bytes: Vec<u8>,
    len: usize,
}

impl Filled {
    fn with_capacity(n: usize) -> Filled {
        Filled {
            bytes: Vec::with_capacity(n),
            len: 0,
        }
    }

    fn from_vec(bytes: Vec<u8>) -> Filled {
        Filled {
            len: bytes.len(),
            bytes,
        }
    }

    /// The data, as a `Vec` (the reuse ends here).
    fn into_vec(mut self) -> Vec<u8> {
        self.bytes.truncate(self.len);
        self.bytes
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    /// Drop the first `k` bytes of the data.
    fn drain_front(&mut self, k: usize) {
        self.bytes.copy_within(k..self.len, 0);
        self.len -= k;
    }
}

impl std::ops::Deref for Filled {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Read until `buf` holds at least `want` more bytes or the stream ends.
/// Returns whether the stream ended (or failed: the failure is reported and
/// treated as the end, keeping what was read).
fn fill<R: Read>(
    dec: &mut Decoded<R>,
    buf: &mut Filled,
    want: usize,
    on_err: &mut dyn FnMut(DecodeError),
) -> bool {
    let target = buf.len + want;
    if buf.bytes.len() < target {
        // Zeroed once: later reads reuse these bytes as they are.
        buf.bytes.resize(target, 0);
    }
    while buf.len < target {
        match dec.read_some(&mut buf.bytes[buf.len..target]) {
            Ok(0) => return true,
            Ok(n) => buf.len += n,
            Err(e) => {
                let damaged = matches!(e, DecodeError::Gzip { .. });
                on_err(e);
                if !damaged {
                    return true;
                }
                // Damaged gzip data: the decoder resumes at the next
                // member; read on.
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
