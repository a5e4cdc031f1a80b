//! The records inside whole JSON documents, read once the document is
//! complete:
//! - `aws cloudtrail lookup-events` pages, `{"Events":[{"CloudTrailEvent":
//!   "<the record, as a JSON string>"}, …]}`;
//! - CloudWatch Logs subscription payloads, `{"messageType":"DATA_MESSAGE",
//!   "logEvents":[{"message":…}, …]}` (control messages are skipped);
//! - JSON documents that are not one per line: pretty-printed records, or
//!   `{"Records":[…]}` documents among other documents.
//!
//! Knows nothing of what a denial is: each record goes out as bytes with the
//! stream offset of the document it came from.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::records::{self, FrameEvent, RecordsFramer};
use super::{Format, detect};

/// What [`unwrap`] hands out.
#[derive(Debug, PartialEq, Eq)]
pub enum Unwrapped<'a> {
    /// One record, to be read on its own (JSON when it starts with `{`, a
    /// text line otherwise).
    Record {
        /// Its bytes.
        bytes: &'a [u8],
        /// Stream offset of the document (or element) it came from.
        offset: u64,
    },
    /// A document skipped on purpose (a subscription control message).
    Skipped,
    /// A document that is not what its format says, or invalid JSON.
    Error {
        /// Stream offset where the problem starts.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
}

/// Unwrap every record of the documents in `buf` (a whole decoded stream of
/// the given `format`: [`Format::LookupEvents`], [`Format::CwSubscription`]
/// or [`Format::Documents`]).
///
/// ```
/// use denytrail::frame::{Format, documents::{unwrap, Unwrapped}};
/// let page = br#"{"Events":[{"CloudTrailEvent":"{\"eventName\":\"PassRole\"}"}]}"#;
/// let mut got = Vec::new();
/// unwrap(page, Format::LookupEvents, &mut |u| {
///     if let Unwrapped::Record { bytes, .. } = u { got.push(bytes.to_vec()) }
/// });
/// assert_eq!(got, vec![br#"{"eventName":"PassRole"}"#.to_vec()]);
/// ```
pub fn unwrap(buf: &[u8], format: Format, out: &mut dyn FnMut(Unwrapped<'_>)) {
    let mut pos = 0;
    'documents: while pos < buf.len() {
        let mut stream = serde_json::Deserializer::from_slice(&buf[pos..]).into_iter::<&RawValue>();
        loop {
            let at = pos + stream.byte_offset();
            let at = at + leading_ws(&buf[at..]);
            match stream.next() {
                None => break 'documents,
                Some(Ok(doc)) => document(doc.get().as_bytes(), at as u64, format, out),
                Some(Err(e)) => {
                    // Damaged: salvage the records up to the next document
                    // start, then read on from there.
                    let next = next_document(buf, format, at + 1);
                    let end = next.unwrap_or(buf.len());
                    salvage(&buf[at..end], at as u64, format, &e.to_string(), out);
                    match next {
                        Some(n) => {
                            pos = n;
                            continue 'documents;
                        }
                        None => break 'documents,
                    }
                }
            }
        }
    }
}

/// One whole, valid JSON document.
fn document(raw: &[u8], at: u64, format: Format, out: &mut dyn FnMut(Unwrapped<'_>)) {
    match format {
        Format::LookupEvents => lookup_events(raw, at, out),
        Format::CwSubscription => subscription(raw, at, out),
        _ => match detect(raw, true) {
            Format::RecordsArray => {
                let mut f = RecordsFramer::new();
                let mut recs = Vec::new();
                f.feed(raw, 0, &mut |e| recs.push(e));
                for ev in recs {
                    if let FrameEvent::Record { start, end } = ev {
                        out(Unwrapped::Record {
                            bytes: &raw[start..end],
                            offset: at + start as u64,
                        });
                    }
                }
            }
            Format::Skip(_) => out(Unwrapped::Skipped),
            _ => out(Unwrapped::Record {
                bytes: raw,
                offset: at,
            }),
        },
    }
}

/// The key that opens each document of a format, and the key whose string
/// value (or, for plain documents, whose object) is one record.
fn keys(format: Format) -> (&'static [u8], &'static [u8]) {
    match format {
        Format::LookupEvents => (b"\"Events\"", b"\"CloudTrailEvent\""),
        Format::CwSubscription => (b"\"messageType\"", b"\"message\""),
        _ => (b"\"eventVersion\"", b"\"eventVersion\""),
    }
}

/// [`records::next_object`] for a key given as bytes.
fn next_object(buf: &[u8], from: usize, key: &[u8]) -> Option<usize> {
    records::next_object(buf, from, &memchr::memmem::Finder::new(key))
}

/// Where the next document of `format` starts, at or after `from`.
fn next_document(buf: &[u8], format: Format, from: usize) -> Option<usize> {
    let (open, _) = keys(format);
    let next = next_object(buf, from, open);
    match format {
        Format::LookupEvents | Format::CwSubscription => next,
        // Plain documents: a record, or a Records document.
        _ => [next, next_object(buf, from, b"\"Records\"")]
            .into_iter()
            .flatten()
            .min(),
    }
}

/// A damaged document: hand out every record still whole in it (each
/// record's key, then its complete value) and report the damage once.
fn salvage(region: &[u8], at: u64, format: Format, why: &str, out: &mut dyn FnMut(Unwrapped<'_>)) {
    let (_, key) = keys(format);
    let (mut kept, mut lost) = (0u64, 0u64);
    let mut i = 0;
    if matches!(format, Format::LookupEvents | Format::CwSubscription) {
        // `"key" : "<string>"`: each record is the string.
        while let Some(k) = memchr::memmem::find(&region[i..], key) {
            i += k + key.len();
            let mut j = i + leading_ws(&region[i..]);
            if region.get(j) != Some(&b':') {
                continue;
            }
            j += 1;
            j += leading_ws(&region[j..]);
            if region.get(j) != Some(&b'"') {
                continue;
            }
            let Some(len) = string_end(&region[j..]) else {
                lost += 1;
                break;
            };
            match serde_json::from_slice::<Cow<'_, str>>(&region[j..j + len]) {
                Ok(rec) => {
                    kept += 1;
                    out(Unwrapped::Record {
                        bytes: rec.as_bytes(),
                        offset: at + j as u64,
                    });
                }
                Err(_) => lost += 1,
            }
            i = j + len;
        }
    } else {
        // Each record is an object that starts with the key.
        let key = memchr::memmem::Finder::new(key);
        while let Some(open) = records::next_object(region, i, &key) {
            let mut one =
                serde_json::Deserializer::from_slice(&region[open..]).into_iter::<&RawValue>();
            match one.next() {
                Some(Ok(rec)) => {
                    kept += 1;
                    out(Unwrapped::Record {
                        bytes: rec.get().as_bytes(),
                        offset: at + open as u64,
                    });
                    i = open + one.byte_offset();
                }
                _ => {
                    lost += 1;
                    i = open + 1;
                }
            }
        }
    }
    let lost = if lost == 0 {
        "none whole lost".to_string()
    } else {
        format!("{lost} lost")
    };
    out(Unwrapped::Error {
        offset: at,
        detail: format!(
            "damaged {} document ({why}): {kept} records in it were whole and kept, {lost}; reading on at the next document",
            format.as_str(),
        ),
    });
}

/// The length of the JSON string literal that `b` starts with (its closing
/// quote included), or `None` when it does not end in `b`.
fn string_end(b: &[u8]) -> Option<usize> {
    let mut i = 1;
    loop {
        i += memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
        if b[i] == b'\\' {
            i += 2;
        } else {
            return Some(i + 1);
        }
    }
}

fn leading_ws(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_whitespace()).count()
}

fn lookup_events(raw: &[u8], at: u64, out: &mut dyn FnMut(Unwrapped<'_>)) {
    #[derive(Deserialize)]
    struct Page<'a> {
        #[serde(rename = "Events", default, borrow)]
        events: Vec<Ev<'a>>,
    }
    #[derive(Deserialize)]
    struct Ev<'a> {
        #[serde(rename = "CloudTrailEvent", default, borrow)]
        cloudtrail_event: Option<Cow<'a, str>>,
    }
    match serde_json::from_slice::<Page>(raw) {
        Ok(p) => {
            for e in p.events {
                if let Some(rec) = e.cloudtrail_event {
                    out(Unwrapped::Record {
                        bytes: rec.as_bytes(),
                        offset: at,
                    });
                }
            }
        }
        Err(e) => out(Unwrapped::Error {
            offset: at,
            detail: format!("not a lookup-events page: {e}"),
        }),
    }
}

fn subscription(raw: &[u8], at: u64, out: &mut dyn FnMut(Unwrapped<'_>)) {
    #[derive(Deserialize)]
    struct Payload<'a> {
        #[serde(rename = "messageType", borrow)]
        message_type: Cow<'a, str>,
        #[serde(rename = "logEvents", default, borrow)]
        log_events: Vec<LogEvent<'a>>,
    }
    #[derive(Deserialize)]
    struct LogEvent<'a> {
        #[serde(default, borrow)]
        message: Cow<'a, str>,
    }
    match serde_json::from_slice::<Payload>(raw) {
        Ok(p) if p.message_type == "DATA_MESSAGE" => {
            for e in p.log_events {
                out(Unwrapped::Record {
                    bytes: e.message.as_bytes(),
                    offset: at,
                });
            }
        }
        Ok(_) => out(Unwrapped::Skipped),
        Err(e) => out(Unwrapped::Error {
            offset: at,
            detail: format!("not a CloudWatch Logs subscription payload: {e}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(buf: &[u8], format: Format) -> (Vec<(String, u64)>, usize, usize) {
        let (mut recs, mut skipped, mut errors) = (Vec::new(), 0, 0);
        unwrap(buf, format, &mut |u| match u {
            Unwrapped::Record { bytes, offset } => {
                recs.push((String::from_utf8_lossy(bytes).into_owned(), offset))
            }
            Unwrapped::Skipped => skipped += 1,
            Unwrapped::Error { .. } => errors += 1,
        });
        (recs, skipped, errors)
    }

    #[test]
    fn subscription_payloads_and_control_messages() {
        let buf = concat!(
            r#"{"messageType":"CONTROL_MESSAGE","logEvents":[]}"#,
            "\n",
            r#"{"messageType":"DATA_MESSAGE","logEvents":[{"message":"a"},{"message":"b\nc"}]}"#,
        );
        let (recs, skipped, errors) = records(buf.as_bytes(), Format::CwSubscription);
        assert_eq!(recs, vec![("a".into(), 49), ("b\nc".into(), 49)]);
        assert_eq!((skipped, errors), (1, 0));
    }

    #[test]
    fn pretty_documents_and_records_documents() {
        let buf = b"{\n \"a\": 1\n}\n{\"Records\":[{\"b\":2},{\"c\":3}]}\n";
        let (recs, _, errors) = records(buf, Format::Documents);
        assert_eq!(
            recs,
            vec![
                ("{\n \"a\": 1\n}".into(), 0),
                ("{\"b\":2}".into(), 24),
                ("{\"c\":3}".into(), 32)
            ]
        );
        assert_eq!(errors, 0);
    }

    #[test]
    fn a_broken_document_is_reported() {
        let (recs, _, errors) = records(
            br#"{"Events":[{"CloudTrailEvent":"x"}]} {"#,
            Format::LookupEvents,
        );
        assert_eq!(recs, vec![("x".into(), 0)]);
        assert_eq!(errors, 1);
    }
}
