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

use super::records::{FrameEvent, RecordsFramer};
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
        /// Nothing after it could be read.
        rest_lost: bool,
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
    let mut stream = serde_json::Deserializer::from_slice(buf).into_iter::<&RawValue>();
    loop {
        let at = stream.byte_offset();
        let doc = match stream.next() {
            None => break,
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                out(Unwrapped::Error {
                    offset: at as u64,
                    detail: format!(
                        "invalid JSON document ({}): {e}; rest of file skipped",
                        format.as_str()
                    ),
                    rest_lost: true,
                });
                break;
            }
        };
        let raw = doc.get().as_bytes();
        let at = at as u64 + leading_ws(&buf[at..]) as u64;
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
            rest_lost: false,
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
            rest_lost: false,
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
