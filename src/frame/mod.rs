//! Framing: find where records start and end in a decoded byte stream.
//!
//! The format is detected from content, never from the file name:
//! - `{"Records":[…]}`: a CloudTrail S3 archive; records are found by a
//!   streaming structural scan ([`RecordsFramer`]) without parsing them;
//! - `{"Events":[…]}`: `aws cloudtrail lookup-events` output;
//! - `{"messageType":…}`: CloudWatch Logs subscription payloads;
//! - a CloudTrail digest file (skipped);
//! - anything else is lines: JSON Lines, CloudWatch Logs export lines
//!   (`<ISO-8601 timestamp> <message>`) and plain-text log lines, mixed
//!   freely and told apart per line ([`line_record`]).
//!
//! Framing knows nothing of what a denial is.
//!
//! | module | frames |
//! |---|---|
//! | [`lines`] | complete lines out of bytes that arrive a piece at a time |
//! | [`records`] | the elements of a `{"Records":[…]}` document, structurally |
//! | [`documents`] | the messages inside lookup-events pages and subscription payloads |

pub mod documents;
pub mod lines;
pub mod records;

pub use records::{FrameEvent, MAX_DEPTH, RecordsFramer};

use std::sync::LazyLock;

use memchr::memmem;

/// How a framed record's bytes are to be read (framing tells them apart;
/// classification reads them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// One CloudTrail record, a JSON object.
    CloudTrailJson,
    /// A plain-text log line (SDK error output, agent logs).
    Text,
}

/// The layout of one input stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Newline-delimited records (JSON Lines, CloudWatch export, text).
    Lines,
    /// A CloudTrail `{"Records":[…]}` archive.
    RecordsArray,
    /// `aws cloudtrail lookup-events` output.
    LookupEvents,
    /// CloudWatch Logs subscription payloads (`DATA_MESSAGE`).
    CwSubscription,
    /// One or more JSON documents that are not one per line (pretty-printed
    /// records).
    Documents,
    /// A CloudTrail digest file or Insight file: skipped on purpose.
    Skip(SkipReason),
    /// Binary data that is not gzip: not a log.
    Binary,
}

/// Why a whole stream is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// A CloudTrail digest file.
    Digest,
    /// A CloudTrail Insight file.
    Insight,
    /// Nothing but white space.
    Empty,
}

impl Format {
    /// A short name for logs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Lines => "lines",
            Format::RecordsArray => "cloudtrail-records",
            Format::LookupEvents => "lookup-events",
            Format::CwSubscription => "cloudwatch-subscription",
            Format::Documents => "json-documents",
            Format::Skip(SkipReason::Digest) => "cloudtrail-digest",
            Format::Skip(SkipReason::Insight) => "cloudtrail-insight",
            Format::Skip(SkipReason::Empty) => "empty",
            Format::Binary => "binary",
        }
    }
}

fn skip_ws(b: &[u8]) -> &[u8] {
    let b = b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b);
    let i = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    &b[i..]
}

/// The first key of a JSON object that starts `b` (after white space), if
/// it is a plain ASCII key.
fn first_key(b: &[u8]) -> Option<&[u8]> {
    let b = skip_ws(b);
    let b = skip_ws(b.strip_prefix(b"{")?);
    let b = b.strip_prefix(b"\"")?;
    let end = memchr::memchr2(b'"', b'\\', b)?;
    (b.get(end) == Some(&b'"')).then(|| &b[..end])
}

/// Detect the format of a stream from its first bytes (a few KiB of
/// decoded data; `complete` says the head is the whole stream).
///
/// ```
/// use denytrail::frame::{detect, Format};
/// assert_eq!(detect(br#"{"Records":[{"eventVersion":"1.08"}]}"#, true), Format::RecordsArray);
/// assert_eq!(detect(b"2024-01-01T00:00:00.000Z {\"a\":1}\n", true), Format::Lines);
/// ```
pub fn detect(head: &[u8], complete: bool) -> Format {
    let body = skip_ws(head);
    if body.is_empty() {
        return if complete {
            Format::Skip(SkipReason::Empty)
        } else {
            Format::Lines
        };
    }
    let sniff = &body[..body.len().min(8192)];
    if looks_binary(sniff) {
        return Format::Binary;
    }
    if body[0] != b'{' {
        return Format::Lines;
    }
    match first_key(body) {
        Some(b"Records") => {
            // An Insight file is told by its first record (what follows a
            // Records document may be anything).
            // Framed in growing windows: the first record is usually in
            // the first few KB, and a small file is not framed twice.
            let mut first = None;
            for w in [2048, 8192] {
                let window = &sniff[..sniff.len().min(w)];
                RecordsFramer::new().feed(window, 0, &mut |e| {
                    if let (FrameEvent::Record { start, end }, None) = (e, first) {
                        first = Some(&window[start..end]);
                    }
                });
                if first.is_some() || window.len() == sniff.len() {
                    break;
                }
            }
            let first = first.unwrap_or(sniff);
            // Searchers built once: `memmem::find` builds one per call,
            // which cost more than the search in a small file.
            static INSIGHT: LazyLock<[memmem::Finder<'static>; 2]> = LazyLock::new(|| {
                [
                    memmem::Finder::new(b"AwsCloudTrailInsight"),
                    memmem::Finder::new(b"\"insightDetails\""),
                ]
            });
            if INSIGHT.iter().any(|f| f.find(first).is_some()) {
                Format::Skip(SkipReason::Insight)
            } else {
                Format::RecordsArray
            }
        }
        Some(b"Events") | Some(b"NextToken") => Format::LookupEvents,
        Some(b"messageType") => Format::CwSubscription,
        Some(b"awsAccountId") | Some(b"digestStartTime") | Some(b"digestEndTime")
            if memchr::memmem::find(sniff, b"\"digestPublicKeyFingerprint\"").is_some()
                || memchr::memmem::find(sniff, b"\"digestS3Object\"").is_some() =>
        {
            Format::Skip(SkipReason::Digest)
        }
        _ => {
            // One object per line, or pretty-printed documents?
            match memchr::memchr(b'\n', body) {
                Some(nl) => {
                    let line = trim_end(&body[..nl]);
                    if line.ends_with(b"}") {
                        Format::Lines
                    } else {
                        Format::Documents
                    }
                }
                None => Format::Lines,
            }
        }
    }
}

/// More than one NUL byte in a hundred, or mostly control bytes: not a
/// text log. A few stray NULs (a damaged byte) do not make a log binary:
/// the record that holds one is reported, the others are read.
fn looks_binary(b: &[u8]) -> bool {
    let nul = memchr::memchr_iter(0, b).count();
    if nul * 100 > b.len() {
        return true;
    }
    ctrl_bytes(b) * 10 > b.len()
}

/// How many bytes of `b` are control bytes other than `\n`, `\r`, `\t`.
/// Counted in blocks of 255 into byte-wide sums, a shape the compiler
/// turns into SIMD compares: detection looks at every small file's first
/// 8 KB, and a byte-at-a-time count was a tenth of reading such a file.
fn ctrl_bytes(b: &[u8]) -> usize {
    let mut n = 0usize;
    for block in b.chunks(255) {
        let mut k = 0u8;
        for &c in block {
            k += u8::from(c < 0x20) - u8::from(c == b'\n' || c == b'\r' || c == b'\t');
        }
        n += usize::from(k);
    }
    n
}

fn trim_end(b: &[u8]) -> &[u8] {
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &b[..end]
}

/// Length of a leading ISO-8601 timestamp such as `2024-05-01T10:00:00.123Z`
/// (date, `T`, time, optional fraction, optional zone), or 0.
pub fn timestamp_len(b: &[u8]) -> usize {
    let d = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let is = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(d(0) && d(1) && d(2) && d(3) && is(4, b'-') && d(5) && d(6) && is(7, b'-') && d(8) && d(9))
    {
        return 0;
    }
    if !(is(10, b'T') || is(10, b' ')) {
        return 0;
    }
    if !(d(11) && d(12) && is(13, b':') && d(14) && d(15) && is(16, b':') && d(17) && d(18)) {
        return 0;
    }
    let mut i = 19;
    if is(i, b'.') || is(i, b',') {
        i += 1;
        while d(i) {
            i += 1;
        }
    }
    if is(i, b'Z') {
        i += 1;
    } else if is(i, b'+') || is(i, b'-') {
        let j = i + 1;
        if d(j) && d(j + 1) {
            i = j + 2;
            if is(i, b':') {
                i += 1;
            }
            while d(i) {
                i += 1;
            }
        }
    }
    i
}

/// Tell one line apart: a JSON record (bare, or behind a CloudWatch export
/// timestamp) or a text line. Returns the bytes to classify, their offset
/// within `line`, and how to read them. `line` has no trailing newline.
///
/// ```
/// use denytrail::frame::line_record;
/// use denytrail::classify::RecordKind;
/// let (rec, at, kind) = line_record(b"2024-01-01T00:00:00.000Z {\"a\":1}");
/// assert_eq!((rec, at, kind), (&b"{\"a\":1}"[..], 25, RecordKind::CloudTrailJson));
/// ```
pub fn line_record(line: &[u8]) -> (&[u8], usize, RecordKind) {
    let line = trim_end(line);
    if line.first() == Some(&b'{') {
        return (line, 0, RecordKind::CloudTrailJson);
    }
    let ts = timestamp_len(line);
    if ts > 0 && line.get(ts) == Some(&b' ') && line.get(ts + 1) == Some(&b'{') {
        return (&line[ts + 1..], ts + 1, RecordKind::CloudTrailJson);
    }
    (line, 0, RecordKind::Text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctrl_bytes_counts_as_a_filter_does() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for len in [0, 1, 254, 255, 256, 1000, 8192] {
            let b: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % 48) as u8
                })
                .collect();
            let want = b
                .iter()
                .filter(|&&c| c < 0x20 && c != b'\n' && c != b'\r' && c != b'\t')
                .count();
            assert_eq!(ctrl_bytes(&b), want, "{len}");
        }
    }

    #[test]
    fn detects_formats() {
        let t: &[(&[u8], Format)] = &[
            (br#"{"Records":[]}"#, Format::RecordsArray),
            (b" \n{ \"Records\" : [", Format::RecordsArray),
            (
                br#"{"Records":[{"eventType":"AwsCloudTrailInsight"}]}"#,
                Format::Skip(SkipReason::Insight),
            ),
            (
                br#"{"Events":[{"CloudTrailEvent":"{}"}]}"#,
                Format::LookupEvents,
            ),
            (br#"{"messageType":"DATA_MESSAGE"}"#, Format::CwSubscription),
            (
                br#"{"awsAccountId":"1","digestStartTime":"x","digestS3Object":"y"}"#,
                Format::Skip(SkipReason::Digest),
            ),
            (b"{\"eventVersion\":\"1.08\"}\n{\"a\":1}\n", Format::Lines),
            (b"{\n  \"eventVersion\": \"1.08\"\n}\n", Format::Documents),
            (b"2024-01-01T00:00:00Z hello\n", Format::Lines),
            (b"INFO started\n", Format::Lines),
            (b"\x00\x01\x02junk", Format::Binary),
            (b"   \n", Format::Skip(SkipReason::Empty)),
        ];
        for (head, want) in t {
            assert_eq!(
                detect(head, true),
                *want,
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn timestamps() {
        for (s, n) in [
            ("2024-05-01T10:00:00.123Z x", 24),
            ("2024-05-01T10:00:00Z x", 20),
            ("2024-05-01 10:00:00,123 x", 23),
            ("2024-05-01T10:00:00+02:00 x", 25),
            ("2024-05-01", 0),
            ("hello", 0),
        ] {
            assert_eq!(timestamp_len(s.as_bytes()), n, "{s}");
        }
    }

    #[test]
    fn lines_are_told_apart() {
        assert_eq!(line_record(b"{\"a\":1}\r").2, RecordKind::CloudTrailJson);
        assert_eq!(line_record(b"2024-05-01T10:00:00Z {\"a\":1}").1, 21);
        assert_eq!(
            line_record(b"2024-05-01T10:00:00Z AccessDenied").2,
            RecordKind::Text
        );
        assert_eq!(line_record(b"WARN AccessDenied").2, RecordKind::Text);
    }
}
