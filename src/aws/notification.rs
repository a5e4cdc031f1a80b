//! What a queue message announces: the CloudTrail log files written to S3,
//! and the CloudTrail records EventBridge delivers itself, whatever the
//! envelope. Pure: no I/O (the queue source downloads what it names).
//!
//! Envelopes read, each as AWS documents it (the tests hold one example of
//! each, with where it is documented):
//! - an **S3 event notification** (`Records`, `eventSource` `aws:s3`), sent
//!   straight to SQS or through SNS with raw message delivery; its keys are
//!   URL-encoded (`+` for a space);
//! - the same inside an **SNS notification** (`Type` `Notification`, the
//!   envelope as the JSON string `Message`);
//! - the S3 **test event** a new notification configuration sends (skipped);
//! - an **EventBridge `Object Created`** event from `aws.s3` (keys as
//!   written);
//! - an **EventBridge CloudTrail event** (`detail-type` `AWS API Call via
//!   CloudTrail` and the other `… via CloudTrail` types): `detail` is the
//!   CloudTrail record;
//! - **CloudTrail's own SNS notification** of delivered log files
//!   (`s3Bucket`, `s3ObjectKey`).
//!
//! Of the objects, only CloudTrail log files are read: keys below
//! `AWSLogs/…/CloudTrail/`; digest and Insight files, other keys, and
//! events other than object creation are skipped, and said so.

use serde_json::Value;

/// An S3 object a message announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// Bucket name.
    pub bucket: String,
    /// Object key, decoded.
    pub key: String,
    /// Size in bytes, when the envelope says it.
    pub size: Option<u64>,
    /// ETag, when the envelope says it (without quotes).
    pub etag: Option<String>,
    /// The S3 sequencer, when the envelope says it: orders the events of
    /// one key.
    pub sequencer: Option<String>,
}

/// Why an announcement is not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The test event S3 sends when a notification is configured.
    TestEvent,
    /// An event other than an object's creation (removal, restore, …).
    NotCreated,
    /// A CloudTrail digest file.
    Digest,
    /// A CloudTrail Insight file.
    Insight,
    /// A key outside `AWSLogs/…/CloudTrail/`.
    NotCloudTrail,
}

impl Skip {
    /// A short reason, for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::TestEvent => "test_event",
            Skip::NotCreated => "not_created",
            Skip::Digest => "digest",
            Skip::Insight => "insight",
            Skip::NotCloudTrail => "not_cloudtrail",
        }
    }
}

/// One thing a message announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announced {
    /// A CloudTrail log file to read.
    Object(ObjectRef),
    /// A CloudTrail record, as JSON (EventBridge delivered it).
    Record(String),
    /// Something not read, with what it named (a key, a bucket, an event).
    Skipped {
        /// What it named.
        what: String,
        /// Why it is not read.
        why: Skip,
    },
}

/// A message that announces nothing denytrail can read.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Not JSON.
    #[error("the message is not JSON ({0})")]
    NotJson(#[source] serde_json::Error),
    /// JSON, but none of the envelopes read here.
    #[error(
        "the message is none of the envelopes denytrail reads (S3 event notification, SNS \
         notification, EventBridge event, CloudTrail SNS notification)"
    )]
    Unknown,
    /// A part of an envelope is missing or of the wrong type.
    #[error("the message is a {envelope} without {what}")]
    Incomplete {
        /// Which envelope.
        envelope: &'static str,
        /// What it lacks.
        what: &'static str,
    },
    /// An S3 event notification key that is not valid URL encoding.
    #[error("the object key {0:?} is not valid URL encoding")]
    BadKey(String),
}

/// Everything `body` (one message's body) announces, in order.
///
/// ```
/// use denytrail::aws::notification::{announced, Announced};
/// let body = r#"{"s3Bucket":"trail","s3ObjectKey":["AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/x.json.gz"]}"#;
/// let got = announced(body).unwrap();
/// assert!(matches!(&got[0], Announced::Object(o) if o.bucket == "trail"));
/// ```
pub fn announced(body: &str) -> Result<Vec<Announced>, EnvelopeError> {
    let v: Value = serde_json::from_str(body).map_err(EnvelopeError::NotJson)?;
    let mut out = Vec::new();
    envelope(&v, 0, &mut out)?;
    Ok(out)
}

fn envelope(v: &Value, depth: u8, out: &mut Vec<Announced>) -> Result<(), EnvelopeError> {
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    if let Some(records) = v.get("Records").and_then(Value::as_array) {
        return s3_records(records, out);
    }
    if s("Type") == Some("Notification") && depth == 0 {
        let msg = s("Message").ok_or(EnvelopeError::Incomplete {
            envelope: "SNS notification",
            what: "a Message string",
        })?;
        let inner: Value = serde_json::from_str(msg).map_err(EnvelopeError::NotJson)?;
        return envelope(&inner, depth + 1, out);
    }
    if s("Event") == Some("s3:TestEvent") {
        out.push(Announced::Skipped {
            what: s("Bucket").unwrap_or_default().to_string(),
            why: Skip::TestEvent,
        });
        return Ok(());
    }
    if let Some(dt) = s("detail-type") {
        return eventbridge(v, dt, out);
    }
    if let Some(bucket) = s("s3Bucket") {
        let keys =
            v.get("s3ObjectKey")
                .and_then(Value::as_array)
                .ok_or(EnvelopeError::Incomplete {
                    envelope: "CloudTrail SNS notification",
                    what: "an s3ObjectKey list",
                })?;
        for k in keys.iter().filter_map(Value::as_str) {
            out.push(object(bucket, k.to_string(), None, None, None));
        }
        return Ok(());
    }
    Err(EnvelopeError::Unknown)
}

fn s3_records(records: &[Value], out: &mut Vec<Announced>) -> Result<(), EnvelopeError> {
    const WHAT: EnvelopeError = EnvelopeError::Incomplete {
        envelope: "S3 event notification",
        what: "s3.bucket.name and s3.object.key",
    };
    for r in records {
        if r.get("eventSource").and_then(Value::as_str) != Some("aws:s3") {
            return Err(EnvelopeError::Unknown);
        }
        let s3 = r.get("s3").ok_or(WHAT)?;
        let bucket = s3
            .pointer("/bucket/name")
            .and_then(Value::as_str)
            .ok_or(WHAT)?;
        let o = s3.get("object").ok_or(WHAT)?;
        let raw = o.get("key").and_then(Value::as_str).ok_or(WHAT)?;
        let key = decode_key(raw)?;
        let event = r.get("eventName").and_then(Value::as_str).unwrap_or("");
        if !event.starts_with("ObjectCreated:") {
            out.push(Announced::Skipped {
                what: format!("s3://{bucket}/{key} ({event})"),
                why: Skip::NotCreated,
            });
            continue;
        }
        out.push(object(
            bucket,
            key,
            o.get("size").and_then(Value::as_u64),
            o.get("eTag").and_then(Value::as_str),
            o.get("sequencer").and_then(Value::as_str),
        ));
    }
    Ok(())
}

fn eventbridge(
    v: &Value,
    detail_type: &str,
    out: &mut Vec<Announced>,
) -> Result<(), EnvelopeError> {
    let detail = v.get("detail").ok_or(EnvelopeError::Incomplete {
        envelope: "EventBridge event",
        what: "a detail object",
    })?;
    if detail_type.ends_with(" via CloudTrail") {
        out.push(Announced::Record(detail.to_string()));
        return Ok(());
    }
    if v.get("source").and_then(Value::as_str) != Some("aws.s3") {
        return Err(EnvelopeError::Unknown);
    }
    const WHAT: EnvelopeError = EnvelopeError::Incomplete {
        envelope: "EventBridge S3 event",
        what: "detail.bucket.name and detail.object.key",
    };
    let bucket = detail
        .pointer("/bucket/name")
        .and_then(Value::as_str)
        .ok_or(WHAT)?;
    let o = detail.get("object").ok_or(WHAT)?;
    let key = o.get("key").and_then(Value::as_str).ok_or(WHAT)?;
    if detail_type != "Object Created" {
        out.push(Announced::Skipped {
            what: format!("s3://{bucket}/{key} ({detail_type})"),
            why: Skip::NotCreated,
        });
        return Ok(());
    }
    out.push(object(
        bucket,
        key.to_string(),
        o.get("size").and_then(Value::as_u64),
        o.get("etag").and_then(Value::as_str),
        o.get("sequencer").and_then(Value::as_str),
    ));
    Ok(())
}

/// An object to read, or why not.
fn object(
    bucket: &str,
    key: String,
    size: Option<u64>,
    etag: Option<&str>,
    sequencer: Option<&str>,
) -> Announced {
    match cloudtrail_key(&key) {
        Err(why) => Announced::Skipped {
            what: format!("s3://{bucket}/{key}"),
            why,
        },
        Ok(()) => Announced::Object(ObjectRef {
            bucket: bucket.to_string(),
            key,
            size,
            etag: etag.map(|e| e.trim_matches('"').to_string()),
            sequencer: sequencer.map(str::to_string),
        }),
    }
}

/// Is `key` a CloudTrail log file? `AWSLogs/[o-…/]ACCOUNT/CloudTrail/…`,
/// behind any prefix; digest and Insight files and other keys are not.
///
/// ```
/// use denytrail::aws::notification::{cloudtrail_key, Skip};
/// assert!(cloudtrail_key("p/AWSLogs/o-abc/111122223333/CloudTrail/eu-west-1/2024/05/01/f.json.gz").is_ok());
/// assert_eq!(cloudtrail_key("AWSLogs/1/CloudTrail-Digest/x.json.gz"), Err(Skip::Digest));
/// ```
pub fn cloudtrail_key(key: &str) -> Result<(), Skip> {
    if key.ends_with('/') {
        return Err(Skip::NotCloudTrail);
    }
    let mut parts = key.split('/').skip_while(|p| *p != "AWSLogs");
    if parts.next().is_none() {
        return Err(Skip::NotCloudTrail);
    }
    for p in parts {
        match p {
            "CloudTrail" => return Ok(()),
            "CloudTrail-Digest" => return Err(Skip::Digest),
            "CloudTrail-Insight" => return Err(Skip::Insight),
            _ => {}
        }
    }
    Err(Skip::NotCloudTrail)
}

/// Decode an S3 event notification key: URL encoding with `+` for a space
/// (as S3 writes it: "red flower.jpg" arrives as "red+flower.jpg").
///
/// ```
/// use denytrail::aws::notification::decode_key;
/// assert_eq!(decode_key("a+b%2Bc%C3%A9").unwrap(), "a b+cé");
/// ```
pub fn decode_key(raw: &str) -> Result<String, EnvelopeError> {
    let spaced = raw.replace('+', " ");
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(&spaced).collect();
    if spaced.match_indices('%').any(|(i, _)| {
        !spaced
            .get(i + 1..i + 3)
            .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
    }) {
        return Err(EnvelopeError::BadKey(raw.to_string()));
    }
    String::from_utf8(bytes).map_err(|_| EnvelopeError::BadKey(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/111122223333_CloudTrail_us-east-1_20240501T0005Z_abc.json.gz";

    fn only_object(body: &str) -> ObjectRef {
        match announced(body).unwrap().as_slice() {
            [Announced::Object(o)] => o.clone(),
            other => panic!("{other:?}"),
        }
    }

    /// The S3 event notification, version 2.1 as in "Event message
    /// structure" (docs.aws.amazon.com/AmazonS3/latest/userguide/
    /// notification-content-structure.html), with a key holding a space and
    /// a non-ASCII character as S3 encodes them.
    fn s3_notification(key: &str, event: &str) -> String {
        serde_json::json!({"Records":[{
            "eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
            "eventTime":"2024-05-01T00:05:01.123Z","eventName":event,
            "userIdentity":{"principalId":"AWS:AROAEXAMPLE"},
            "requestParameters":{"sourceIPAddress":"203.0.113.7"},
            "responseElements":{"x-amz-request-id":"C3D13FE58DE4C810","x-amz-id-2":"FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
            "s3":{"s3SchemaVersion":"1.0","configurationId":"denytrail",
                "bucket":{"name":"org-trail","ownerIdentity":{"principalId":"A3NL1KOZZKExample"},"arn":"arn:aws:s3:::org-trail"},
                "object":{"key":key,"size":1024,"eTag":"d41d8cd98f00b204e9800998ecf8427e","sequencer":"0055AED6DCD90281E5"}}
        }]})
        .to_string()
    }

    #[test]
    fn s3_event_notifications_with_encoded_keys() {
        let o = only_object(&s3_notification(
            "trail+logs/AWSLogs/o-a1b2c3/111122223333/CloudTrail/eu-west-1/2024/05/01/caf%C3%A9+1.json.gz",
            "ObjectCreated:Put",
        ));
        assert_eq!(o.bucket, "org-trail");
        assert_eq!(
            o.key,
            "trail logs/AWSLogs/o-a1b2c3/111122223333/CloudTrail/eu-west-1/2024/05/01/café 1.json.gz"
        );
        assert_eq!(o.size, Some(1024));
        assert_eq!(o.etag.as_deref(), Some("d41d8cd98f00b204e9800998ecf8427e"));
        assert_eq!(o.sequencer.as_deref(), Some("0055AED6DCD90281E5"));
        let got = announced(&s3_notification(KEY, "ObjectRemoved:Delete")).unwrap();
        assert!(matches!(
            &got[..],
            [Announced::Skipped {
                why: Skip::NotCreated,
                ..
            }]
        ));
        assert!(matches!(
            announced(&s3_notification(
                "AWSLogs/1/CloudTrail/%zz.json.gz",
                "ObjectCreated:Put"
            )),
            Err(EnvelopeError::BadKey(_))
        ));
    }

    /// The test event of the same page.
    #[test]
    fn the_test_event_is_skipped() {
        let body = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-05-01T00:00:00.000Z","Bucket":"org-trail","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}"#;
        assert_eq!(
            announced(body).unwrap(),
            [Announced::Skipped {
                what: "org-trail".into(),
                why: Skip::TestEvent
            }]
        );
    }

    /// An SNS notification (the JSON an SQS subscription receives without
    /// raw delivery; its fields as in "HTTP/HTTPS notification JSON
    /// format", docs.aws.amazon.com/sns/latest/dg/http-notification-json.html)
    /// holding the S3 notification; raw delivery is the S3 notification
    /// itself.
    #[test]
    fn sns_wraps_the_s3_notification() {
        let inner = s3_notification(KEY, "ObjectCreated:CompleteMultipartUpload");
        let body = serde_json::json!({
            "Type":"Notification","MessageId":"22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn":"arn:aws:sns:us-east-1:111122223333:trail-files",
            "Subject":"Amazon S3 Notification","Message":inner,
            "Timestamp":"2024-05-01T00:05:01.456Z","SignatureVersion":"1",
            "Signature":"EXAMPLE","SigningCertURL":"https://sns.us-east-1.amazonaws.com/x.pem",
            "UnsubscribeURL":"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"
        })
        .to_string();
        assert_eq!(only_object(&body).key, KEY);
        assert_eq!(only_object(&inner).key, KEY);
        // Not twice wrapped.
        let twice = serde_json::json!({"Type":"Notification","Message":body}).to_string();
        assert!(announced(&twice).is_err());
    }

    /// EventBridge "Object Created" ("EventBridge event message
    /// structure", docs.aws.amazon.com/AmazonS3/latest/userguide/
    /// ev-events.html): the key is not URL-encoded.
    #[test]
    fn eventbridge_object_created() {
        let key = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/a+b.json.gz";
        let body = serde_json::json!({
            "version":"0","id":"17793124-05d4-b198-2fde-7ededc63b103","detail-type":"Object Created",
            "source":"aws.s3","account":"111122223333","time":"2024-05-01T00:05:00Z","region":"us-east-1",
            "resources":["arn:aws:s3:::org-trail"],
            "detail":{"version":"0","bucket":{"name":"org-trail"},
                "object":{"key":key,"size":5,"etag":"b1946ac92492d2347c6235b4d2611184","sequencer":"00617F08299329D189"},
                "request-id":"N4N7GDK58NMKJ12R","requester":"123456789012","source-ip-address":"1.2.3.4","reason":"PutObject"}
        })
        .to_string();
        let o = only_object(&body);
        assert_eq!((o.key.as_str(), o.size), (key, Some(5)));
        let deleted = body.replace("Object Created", "Object Deleted");
        assert!(matches!(
            &announced(&deleted).unwrap()[..],
            [Announced::Skipped {
                why: Skip::NotCreated,
                ..
            }]
        ));
    }

    /// EventBridge "AWS API Call via CloudTrail" ("AWS CloudTrail events",
    /// docs.aws.amazon.com/eventbridge/latest/ref/events-ref-cloudtrail.html):
    /// `detail` is the CloudTrail record.
    #[test]
    fn eventbridge_cloudtrail_events_are_records() {
        let body = serde_json::json!({
            "version":"0","id":"6f87d04b-9f74-4f04-a780-7acf4b0a9b38","detail-type":"AWS API Call via CloudTrail",
            "source":"aws.iam","account":"111122223333","time":"2024-05-01T00:05:00Z","region":"us-east-1","resources":[],
            "detail":{"eventVersion":"1.08","eventSource":"iam.amazonaws.com","eventName":"PassRole",
                "errorCode":"AccessDenied","eventID":"e1"}
        })
        .to_string();
        match announced(&body).unwrap().as_slice() {
            [Announced::Record(r)] => {
                let v: Value = serde_json::from_str(r).unwrap();
                assert_eq!(v["errorCode"], "AccessDenied");
            }
            other => panic!("{other:?}"),
        }
    }

    /// CloudTrail's SNS notification ("Configuring Amazon SNS notifications
    /// for CloudTrail", docs.aws.amazon.com/awscloudtrail/latest/userguide/
    /// getting_notifications_top_level.html), inside SNS.
    #[test]
    fn cloudtrail_sns_notifications_list_keys() {
        let inner = serde_json::json!({"s3Bucket":"org-trail","s3ObjectKey":[KEY,
            "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/05/01/d.json.gz"]})
        .to_string();
        let body = serde_json::json!({"Type":"Notification","Message":inner}).to_string();
        let got = announced(&body).unwrap();
        assert!(matches!(&got[0], Announced::Object(o) if o.key == KEY));
        assert!(matches!(
            &got[1],
            Announced::Skipped {
                why: Skip::Digest,
                ..
            }
        ));
    }

    #[test]
    fn keys_outside_cloudtrail_and_unknown_envelopes() {
        for (k, want) in [
            (KEY, Ok(())),
            (
                "AWSLogs/1/CloudTrail-Insight/us-east-1/x.json.gz",
                Err(Skip::Insight),
            ),
            (
                "AWSLogs/1/elasticloadbalancing/us-east-1/x.log.gz",
                Err(Skip::NotCloudTrail),
            ),
            ("uploads/CloudTrail/x.json.gz", Err(Skip::NotCloudTrail)),
            ("AWSLogs/1/CloudTrail/", Err(Skip::NotCloudTrail)),
        ] {
            assert_eq!(cloudtrail_key(k), want, "{k}");
        }
        assert!(matches!(announced("{}"), Err(EnvelopeError::Unknown)));
        assert!(matches!(
            announced("not json"),
            Err(EnvelopeError::NotJson(_))
        ));
        assert!(matches!(
            announced(r#"{"Records":[{"eventSource":"aws:s3"}]}"#),
            Err(EnvelopeError::Incomplete { .. })
        ));
    }
}
