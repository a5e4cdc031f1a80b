//! `denytrail watch --sqs` against moto: a bucket whose event
//! notifications go to an SQS queue (moto delivers them), an organisation
//! trail's objects uploaded by the test, replicas of the real binary
//! sharing the queue, a real Prometheus summing them. Counts are compared
//! with the generator's truth; `kill -9` in the middle of an object, failed
//! deletes, throttling and 5xx keep them exact; every envelope is read;
//! damaged objects and bodies are counted as input errors and their
//! messages end in the dead-letter queue.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use denytrail::generate::{CorpusConfig, CorpusFormat, Truth, write_corpus};
use serde_json::{Value, json};

use crate::faultproxy::{Fault, FaultProxy, Op, Rule};
use crate::moto::{ENV, Moto, SECRET, rt};
use crate::prom::{Prometheus, eventually, free_port};
use crate::watch::{Corpus, Watch, metric_value, spawn_listening};
use crate::watch_cloudwatch::{Counts, denials};

/// The organisation ID the uploaded layout carries
/// (`AWSLogs/o-…/ACCOUNT/CloudTrail/…`).
const ORG: &str = "o-exampleorg1";

/// A bucket and a queue (with a dead-letter queue after `max_receive`
/// receives) on moto; with `notify`, the bucket announces every object
/// created on the queue.
pub struct Trail {
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    bucket: String,
    /// The queue's URL.
    pub queue: String,
    dlq: String,
}

impl Trail {
    pub async fn create(moto: &Moto, name: &str, max_receive: u32, notify: bool) -> Trail {
        let (s3, _) = Moto::clients(&moto.url).await;
        let sqs = Moto::sqs(&moto.url).await;
        let bucket = format!("{name}-trail");
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("create bucket");
        let dlq = sqs
            .create_queue()
            .queue_name(format!("{name}-dlq"))
            .send()
            .await
            .expect("create dlq")
            .queue_url
            .expect("dlq url");
        let dlq_arn = queue_arn(&sqs, &dlq).await;
        let queue = sqs
            .create_queue()
            .queue_name(format!("{name}-events"))
            .attributes(
                QueueAttributeName::RedrivePolicy,
                json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive.to_string()})
                    .to_string(),
            )
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue url");
        if notify {
            use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
            let arn = queue_arn(&sqs, &queue).await;
            s3.put_bucket_notification_configuration()
                .bucket(&bucket)
                .notification_configuration(
                    NotificationConfiguration::builder()
                        .queue_configurations(
                            QueueConfiguration::builder()
                                .queue_arn(arn)
                                .events(Event::S3ObjectCreated)
                                .build()
                                .expect("queue configuration"),
                        )
                        .build(),
                )
                .send()
                .await
                .expect("notification configuration");
        }
        Trail {
            s3,
            sqs,
            bucket,
            queue,
            dlq,
        }
    }

    pub async fn put(&self, key: &str, body: Vec<u8>) {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .expect("put object");
    }

    async fn send(&self, body: &str) {
        self.sqs
            .send_message()
            .queue_url(&self.queue)
            .message_body(body)
            .send()
            .await
            .expect("send message");
    }

    /// Messages on `queue`, visible and in flight.
    async fn depth(&self, queue: &str) -> u64 {
        let a = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .unwrap_or_default();
        a.values().filter_map(|v| v.parse::<u64>().ok()).sum()
    }

    /// Upload a generated corpus's CloudTrail files (digest and Insight
    /// files too) under the organisation trail layout. Returns how many
    /// objects, and how many of them are log files.
    async fn upload(&self, corpus: &Path) -> (usize, usize) {
        let mut files = Vec::new();
        walk(&corpus.join("records"), &mut files);
        files.sort();
        let mut log_files = 0;
        for f in &files {
            let rel = f
                .strip_prefix(corpus.join("records"))
                .expect("under records/")
                .to_string_lossy()
                .into_owned();
            let rest = rel.strip_prefix("AWSLogs/").expect("AWSLogs/ layout");
            let key = format!("AWSLogs/{ORG}/{rest}");
            log_files += usize::from(rest.contains("/CloudTrail/"));
            self.put(&key, std::fs::read(f).expect("read corpus file"))
                .await;
        }
        (files.len(), log_files)
    }
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue arn")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("QueueArn")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// A generated corpus of `records` CloudTrail records in `.json.gz`
/// files, and its truth.
fn corpus(dir: &Path, seed: u64, records: u64) -> Truth {
    let cfg = CorpusConfig::builder()
        .seed(seed)
        .records(records)
        .denial_rate(0.05)
        .accounts(4)
        .records_per_file(150)
        .build()
        .expect("corpus config");
    let truth = write_corpus(&cfg, &[CorpusFormat::Records], dir).expect("write corpus");
    assert!(truth.denials_default_scope > 10, "{truth:?}");
    no_event_in_two_files(dir);
    truth
}

/// Replicas dedup the events they read themselves; the sum over replicas
/// is the truth when no counted event is written in two objects. In these
/// corpora none is (a repeated delivery lands in the file of its first
/// copy; only cross-account `sts:AssumeRole` denials, outside the default
/// scope, are copied into another account's files): checked rather than
/// assumed.
fn no_event_in_two_files(dir: &Path) {
    let mut files = Vec::new();
    walk(&dir.join("records"), &mut files);
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for f in files.iter().filter(|f| {
        let s = f.to_string_lossy();
        s.contains("/CloudTrail/") && s.ends_with(".json.gz")
    }) {
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(f).expect("open"))
            .read_to_string(&mut text)
            .expect("gunzip");
        let doc: Value = serde_json::from_str(&text).expect("Records document");
        let mut here = BTreeSet::new();
        for r in doc["Records"].as_array().expect("Records") {
            // Denials of the default scope (and a few more: `iam:PassRole`
            // named anywhere in the message).
            let message = r["errorMessage"].as_str().unwrap_or_default();
            if !(message.contains("iam:PassRole") || message.contains("codeguru-profiler:")) {
                continue;
            }
            for id in [&r["eventID"], &r["sharedEventID"]] {
                if let Some(id) = id.as_str() {
                    here.insert(id.to_string());
                }
            }
        }
        for id in here {
            if let Some(other) = seen.insert(id.clone(), f.clone()) {
                panic!(
                    "event {id} is in {} and {}: two replicas could both count it",
                    other.display(),
                    f.display()
                );
            }
        }
    }
}

fn default_scope(t: &Truth) -> Counts {
    t.groups_default_scope
        .iter()
        .map(|g| ((g.principal.clone(), g.action.clone()), g.count))
        .collect()
}

fn add(a: &mut Counts, b: &Counts) {
    for (k, v) in b {
        *a.entry(k.clone()).or_insert(0) += v;
    }
}

/// `denytrail watch --sqs URL ARGS` with the fake credentials and
/// `endpoint` as the AWS endpoint.
fn replica(endpoint: &str, queue: &str, state: &Path, extra: &[&str]) -> Watch {
    let mut cmd = Command::new(crate::util::bin());
    for (k, v) in ENV {
        cmd.env(k, v);
    }
    cmd.env_remove("AWS_PROFILE")
        .env("DENYTRAIL_LOG", "info")
        .arg("watch")
        .args(["--sqs", queue, "--endpoint-url", endpoint])
        .arg("--state-dir")
        .arg(state)
        .args(["--checkpoint-interval", "200ms"])
        .args(extra);
    if !extra.contains(&"--listen") {
        cmd.args(["--listen", "127.0.0.1:0"]);
    }
    cmd.stdin(std::process::Stdio::null());
    let (child, addr, logs) = spawn_listening(cmd);
    Watch::from_spawned(child, addr, logs)
}

/// Wait until `w`'s `/metrics` counts `want` by (principal, action); the text that did.
fn wait_denials(w: &Watch, want: &Counts) -> String {
    eventually(
        Duration::from_secs(90),
        "denytrail_denials_total to equal the truth",
        || {
            let text = w.metrics()?;
            let got = denials(&text);
            if &got == want {
                Ok(text)
            } else {
                Err(format!("got {got:?}\nwant {want:?}\nlog:\n{}", w.log()))
            }
        },
    )
}

fn sample(text: &str, series: &str) -> f64 {
    metric_value(text, series).unwrap_or(0.0)
}

fn queue_name(url: &str) -> &str {
    url.rsplit('/').next().expect("queue name")
}

fn stop(mut w: Watch) {
    w.sigterm();
    let status = w.wait_exit(Duration::from_secs(15));
    let log = w.log();
    assert_eq!(status.code(), Some(0), "log:\n{log}");
    assert!(!log.contains(SECRET), "the secret key leaked:\n{log}");
}

fn wait_drained(rt: &tokio::runtime::Runtime, t: &Trail, what: &str) {
    eventually(Duration::from_secs(60), what, || {
        match rt.block_on(t.depth(&t.queue)) {
            0 => Ok(()),
            n => Err(format!("{n} messages left")),
        }
    });
}

/// A `{"Records":[…]}` document of JSON lines, gzipped.
pub fn records_gz(lines: &str) -> Vec<u8> {
    let doc = format!(
        "{{\"Records\":[{}]}}",
        lines.lines().collect::<Vec<_>>().join(",")
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(doc.as_bytes()).expect("gzip");
    gz.finish().expect("gzip")
}

pub fn ct_key(account: &str, name: &str) -> String {
    format!(
        "AWSLogs/{ORG}/{account}/CloudTrail/us-east-1/2024/05/01/{account}_CloudTrail_us-east-1_20240501T1200Z_{name}.json.gz"
    )
}

#[test]
fn watch_sqs_counts_an_organisation_trail_with_one_then_two_replicas() {
    let moto = Moto::start();
    let rt = rt();
    let trail = rt.block_on(Trail::create(&moto, "replicas", 5, true));
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let truth_a = corpus(&a, 21, 3000);
    let truth_b = corpus(&b, 22, 3000);
    let (ports, state) = ([free_port(), free_port()], dir.path().join("state"));
    let listen = ports.map(|p| format!("127.0.0.1:{p}"));
    let prom = Prometheus::start(&listen);

    // One replica reads the first corpus (and skips the test event S3
    // sent when the notification was configured).
    let one = replica(
        &moto.url,
        &trail.queue,
        &state.join("1"),
        &["--listen", &listen[0]],
    );
    let (objects_a, _) = rt.block_on(trail.upload(&a));
    let mut want = default_scope(&truth_a);
    wait_denials(&one, &want);
    prom.wait_denials(&want);

    // A second replica joins; the second corpus is shared between them.
    let two = replica(
        &moto.url,
        &trail.queue,
        &state.join("2"),
        &["--listen", &listen[1]],
    );
    let (objects_b, _) = rt.block_on(trail.upload(&b));
    add(&mut want, &default_scope(&truth_b));
    prom.wait_denials(&want);
    wait_drained(&rt, &trail, "every message to be deleted");
    let q = queue_name(&trail.queue);
    // The queue is empty once moto has taken the last delete; a replica
    // counts it when the answer reaches it.
    let deleted_series = format!("denytrail_sqs_messages_deleted_total{{queue=\"{q}\"}}");
    eventually(
        Duration::from_secs(30),
        "the replicas to count every delete",
        || {
            let n: f64 = [&one, &two]
                .iter()
                .map(|w| sample(&w.metrics().expect("metrics"), &deleted_series))
                .sum();
            if n >= (objects_a + objects_b + 1) as f64 {
                Ok(())
            } else {
                Err(format!("{n} deletes counted"))
            }
        },
    );

    let texts = [&one, &two].map(|w| w.metrics().expect("metrics"));
    let read = |name: &str| -> Vec<f64> {
        texts
            .iter()
            .map(|t| sample(t, &format!("{name}{{queue=\"{q}\"}}")))
            .collect()
    };
    let objects = read("denytrail_sqs_objects_read_total");
    assert!(
        objects.iter().all(|n| *n > 0.0),
        "both replicas read objects: {objects:?}"
    );
    // Each object once, digest and Insight files skipped without reading.
    let skipped = |reason: &str| -> f64 {
        texts
            .iter()
            .map(|t| {
                sample(
                    t,
                    &format!("denytrail_sqs_skipped_total{{queue=\"{q}\",reason=\"{reason}\"}}"),
                )
            })
            .sum()
    };
    assert_eq!(
        objects.iter().sum::<f64>() + skipped("digest") + skipped("insight"),
        (objects_a + objects_b) as f64,
        "{texts:?}"
    );
    assert_eq!(skipped("test_event"), 1.0);
    assert_eq!(skipped("already_counted"), 0.0);
    let deleted: f64 = read("denytrail_sqs_messages_deleted_total").iter().sum();
    assert_eq!(deleted, (objects_a + objects_b + 1) as f64);
    // Prometheus sums the replicas: the same total whichever took what.
    let total = prom
        .query(&format!(
            "sum without (instance) (denytrail_sqs_objects_read_total{{queue=\"{q}\"}})"
        ))
        .expect("query");
    assert_eq!(total.len(), 1, "{total:?}");
    assert_eq!(total[0].value, objects.iter().sum::<f64>());

    merged_reports_equal(&[&one, &two], &want, dir.path());
    stop(one);
    stop(two);
}

/// `denytrail merge` of the replicas' `/report` gives the groups of the
/// whole.
fn merged_reports_equal(replicas: &[&Watch], want: &Counts, dir: &Path) {
    let mut paths = Vec::new();
    for (i, w) in replicas.iter().enumerate() {
        let (status, body) = w.get("/report").expect("/report");
        assert_eq!(status, 200);
        let p = dir.join(format!("replica-{i}.json"));
        std::fs::write(&p, body).expect("write report");
        paths.push(p.display().to_string());
    }
    let mut args = vec!["merge", "--format", "json"];
    args.extend(paths.iter().map(String::as_str));
    let out = crate::util::run(&args);
    assert!(
        out.status.success(),
        "merge failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged: Value = serde_json::from_slice(&out.stdout).expect("merged JSON");
    let got: Counts = merged["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            (
                (
                    g["principal"].as_str().unwrap_or_default().to_string(),
                    g["action"].as_str().unwrap_or_default().to_string(),
                ),
                g["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(&got, want);
    assert_eq!(
        merged["summary"]["denials"].as_u64(),
        Some(want.values().sum::<u64>())
    );
}

#[test]
fn watch_sqs_reads_every_envelope_and_dead_letters_what_it_cannot() {
    let moto = Moto::start();
    let rt = rt();
    // Two receives, then the dead-letter queue.
    let trail = rt.block_on(Trail::create(&moto, "envelopes", 2, true));
    let mut c = Corpus::new("env");
    let acct = "210987654321";
    let bucket = trail.bucket.clone();
    // Announced by moto itself, the key URL-encoded (`+` for a space).
    let spaced = ct_key(acct, "a b+c é日本");
    let body = records_gz(&c.lines("deployer", "iam:PassRole", 3));
    rt.block_on(trail.put(&spaced, body));

    // Objects announced by hand-made envelopes: put them where no
    // notification sees them first, under a second bucket.
    let quiet = format!("{bucket}-quiet");
    rt.block_on(async {
        trail
            .s3
            .create_bucket()
            .bucket(&quiet)
            .send()
            .await
            .expect("bucket");
    });
    let put_quiet = |key: &str, body: Vec<u8>| {
        rt.block_on(async {
            trail
                .s3
                .put_object()
                .bucket(&quiet)
                .key(key)
                .body(body.into())
                .send()
                .await
                .expect("put")
        });
    };
    let s3_event = |key: &str, encoded: &str| {
        json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2024-05-01T12:05:00.000Z", "eventName": "ObjectCreated:Put",
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "denytrail",
                "bucket": {"name": quiet, "arn": format!("arn:aws:s3:::{quiet}")},
                "object": {"key": encoded, "size": 1, "eTag": format!("etag-{key}"), "sequencer": "0055AED6DCD90281E5"}}
        }]})
        .to_string()
    };
    // SNS, raw message delivery: the S3 notification itself, its key
    // encoded as S3 encodes it.
    let raw_key = ct_key(acct, "raw 日本");
    put_quiet(
        &raw_key,
        records_gz(&c.lines("profiler", "codeguru-profiler:PostAgentProfile", 2)),
    );
    let encoded: String = raw_key
        .split('/')
        .map(|p| {
            percent_encoding::utf8_percent_encode(p, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
                .replace("%20", "+")
        })
        .collect::<Vec<_>>()
        .join("%2F");
    rt.block_on(trail.send(&s3_event(&raw_key, &encoded)));
    // SNS, not raw: the notification as the Message string of an SNS one.
    let sns_key = ct_key(acct, "sns");
    put_quiet(
        &sns_key,
        records_gz(&c.lines("deployer", "iam:PassRole", 4)),
    );
    let sns = json!({
        "Type": "Notification", "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:trail-topic", "Subject": "Amazon S3 Notification",
        "Message": s3_event(&sns_key, &sns_key), "Timestamp": "2024-05-01T12:05:01.000Z",
        "SignatureVersion": "1", "Signature": "EXAMPLE", "SigningCertURL": "https://sns.example/cert.pem",
        "UnsubscribeURL": "https://sns.example/unsubscribe"
    });
    rt.block_on(trail.send(&sns.to_string()));
    // EventBridge Object Created: the key as written.
    let eb_key = ct_key(acct, "event bridge é");
    put_quiet(&eb_key, records_gz(&c.lines("builder", "iam:PassRole", 2)));
    let eb = json!({
        "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103", "detail-type": "Object Created",
        "source": "aws.s3", "account": "123456789012", "time": "2024-05-01T12:05:02Z", "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{quiet}")],
        "detail": {"version": "0", "bucket": {"name": quiet},
            "object": {"key": eb_key, "size": 1, "etag": "b1946ac92492d2347c6235b4d2611184", "sequencer": "00617F08299329D189"},
            "request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012", "reason": "PutObject"}
    });
    rt.block_on(trail.send(&eb.to_string()));
    // EventBridge "AWS API Call via CloudTrail": the record itself.
    let line = c.lines("fast", "iam:PassRole", 1);
    let record: Value = serde_json::from_str(line.trim()).expect("record");
    let call = json!({
        "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam", "account": "123456789012", "time": "2024-05-01T12:00:00Z", "region": "us-east-1",
        "resources": [], "detail": record
    });
    rt.block_on(trail.send(&call.to_string()));
    // Not read: a digest and an Insight file, a key outside CloudTrail's.
    for key in [
        format!("AWSLogs/{ORG}/{acct}/CloudTrail-Digest/us-east-1/2024/05/01/d.json.gz"),
        format!("AWSLogs/{ORG}/{acct}/CloudTrail-Insight/us-east-1/2024/05/01/i.json.gz"),
        "exports/report.csv".to_string(),
    ] {
        rt.block_on(trail.put(&key, b"{}".to_vec()));
    }
    // Damaged: a log file cut short (no denial in it), and a body that is
    // no envelope.
    let cut = {
        let mut gz = records_gz(&c_allowed());
        gz.truncate(gz.len() / 2);
        gz
    };
    rt.block_on(trail.put(&ct_key(acct, "cut"), cut));
    rt.block_on(trail.send("this is not an envelope"));

    let dir = tempfile::tempdir().expect("tempdir");
    let w = replica(
        &moto.url,
        &trail.queue,
        &dir.path().join("state"),
        &["--sqs-visibility", "1s"],
    );
    let text = wait_denials(&w, &c.want);
    let q = queue_name(&trail.queue);
    // The two bad messages come back once, then go to the dead-letter
    // queue; each damage is counted once.
    eventually(
        Duration::from_secs(60),
        "the bad messages in the DLQ",
        || match rt.block_on(trail.depth(&trail.dlq)) {
            2 => Ok(()),
            n => Err(format!("{n} in the DLQ\n{}", w.log())),
        },
    );
    wait_drained(&rt, &trail, "every other message to be deleted");
    let text = w.metrics().unwrap_or(text);
    let s = |series: &str| sample(&text, series);
    assert_eq!(
        s(r#"denytrail_input_errors_total{kind="truncated_gzip"}"#),
        1.0,
        "{text}"
    );
    assert_eq!(
        s(r#"denytrail_input_errors_total{kind="invalid_json"}"#),
        1.0
    );
    assert!(
        s(&format!(
            "denytrail_sqs_messages_failed_total{{queue=\"{q}\"}}"
        )) >= 4.0,
        "each bad message left twice: {text}"
    );
    for reason in ["test_event", "digest", "insight", "not_cloudtrail"] {
        assert_eq!(
            s(&format!(
                "denytrail_sqs_skipped_total{{queue=\"{q}\",reason=\"{reason}\"}}"
            )),
            1.0,
            "{reason}"
        );
    }
    assert_eq!(
        s(r#"denytrail_records_scanned_total{source_kind="sqs"}"#),
        1.0
    );
    let log = w.log();
    assert!(
        log.contains(&format!("s3://{bucket}/{}", ct_key(acct, "cut"))),
        "the damaged object is named: {log}"
    );
    stop(w);
}

/// Records of allowed calls only.
fn c_allowed() -> String {
    (0..20)
        .map(|i| {
            json!({
                "eventVersion": "1.08",
                "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/ok", "accountId": "123456789012"},
                "eventTime": "2024-05-01T12:00:00Z", "eventSource": "iam.amazonaws.com", "eventName": "GetRole",
                "awsRegion": "us-east-1", "eventID": format!("allowed-{i}"), "recipientAccountId": "123456789012",
            })
            .to_string()
                + "\n"
        })
        .collect()
}

#[test]
fn watch_sqs_kill_9_in_the_middle_of_an_object_loses_nothing_and_counts_nothing_twice() {
    let moto = Moto::start();
    let rt = rt();
    let trail = rt.block_on(Trail::create(&moto, "crash", 10, true));
    // Every delete is refused at first: the first run counts and
    // checkpoints objects whose messages then come back.
    let proxy = FaultProxy::start(
        moto.addr,
        vec![Rule {
            op: Op::DeleteMessageBatch,
            fault: Fault::Denied,
            times: 100_000,
        }],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let truth = corpus(&dir.path().join("corpus"), 31, 2000);
    let state = dir.path().join("state");
    let first = replica(
        &proxy.url,
        &trail.queue,
        &state,
        &["--sqs-visibility", "3s"],
    );
    let (_, log_files) = rt.block_on(trail.upload(&dir.path().join("corpus")));
    let mut want = default_scope(&truth);
    wait_denials(&first, &want);
    // Checkpointed: every log file counted, in the finished window.
    eventually(
        Duration::from_secs(30),
        "a checkpoint after the count",
        || {
            let ck: Value = serde_json::from_str(
                &std::fs::read_to_string(state.join("checkpoint.json"))
                    .map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?;
            let files = ck["tally"]["aggregate"]["totals"]["files"].as_u64();
            match files {
                Some(n) if n == log_files as u64 => Ok(()),
                other => Err(format!("{other:?} of {log_files} files")),
            }
        },
    );
    // One more object, whose download stalls half-way: the replica dies
    // in the middle of it.
    proxy.add(Rule {
        op: Op::GetObject,
        fault: Fault::Stall,
        times: 1,
    });
    let mut c = Corpus::new("late");
    let late = records_gz(&c.lines("late-role", "iam:PassRole", 5));
    rt.block_on(trail.put(&ct_key("333344445555", "late"), late));
    eventually(Duration::from_secs(30), "the download to stall", || {
        if proxy.stalled() == 1 {
            Ok(())
        } else {
            Err(first.log())
        }
    });
    first.kill9();
    proxy.release();

    // Restarted on moto itself: the counted messages come back and are
    // only deleted; the one it died in is counted once.
    let again = replica(&moto.url, &trail.queue, &state, &["--sqs-visibility", "3s"]);
    add(&mut want, &c.want);
    let text = wait_denials(&again, &want);
    wait_drained(&rt, &trail, "every message to be deleted");
    let q = queue_name(&trail.queue);
    let text = again.metrics().unwrap_or(text);
    assert!(
        sample(
            &text,
            &format!("denytrail_sqs_skipped_total{{queue=\"{q}\",reason=\"already_counted\"}}")
        ) > 0.0,
        "{text}"
    );
    assert_eq!(denials(&text), want);
    stop(again);
}

#[test]
fn watch_sqs_counts_exactly_through_throttling_and_server_errors() {
    let moto = Moto::start();
    let rt = rt();
    let trail = rt.block_on(Trail::create(&moto, "faults", 10, true));
    let rules = [
        (Op::ReceiveMessage, Fault::Throttle, 3),
        (Op::ReceiveMessage, Fault::ServerError, 2),
        (Op::GetObject, Fault::Throttle, 3),
        (Op::GetObject, Fault::ServerError, 2),
        (Op::DeleteMessageBatch, Fault::Throttle, 2),
        (Op::DeleteMessageBatch, Fault::ServerError, 1),
    ];
    let proxy = FaultProxy::start(
        moto.addr,
        rules
            .iter()
            .map(|&(op, fault, times)| Rule { op, fault, times })
            .collect(),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let truth = corpus(&dir.path().join("corpus"), 41, 1500);
    rt.block_on(trail.upload(&dir.path().join("corpus")));
    let w = replica(&proxy.url, &trail.queue, &dir.path().join("state"), &[]);
    let want = default_scope(&truth);
    wait_denials(&w, &want);
    wait_drained(&rt, &trail, "every message to be deleted");
    let text = w.metrics().expect("metrics");
    assert_eq!(denials(&text), want);
    assert_eq!(
        proxy.injected(),
        rules.iter().map(|r| r.2).sum::<u32>(),
        "every fault was met"
    );
    for op in ["ReceiveMessage", "GetObject", "DeleteMessageBatch"] {
        assert!(
            sample(
                &text,
                &format!("denytrail_aws_throttles_total{{operation=\"{op}\"}}")
            ) >= 2.0,
            "{op}: {text}"
        );
    }
    stop(w);
}

/// A replica whose deletes hang keeps every message it holds invisible:
/// visibility is extended beside the deletes, not behind them, so another
/// replica never receives (and counts again) what the first one counted.
/// Before, a DeleteMessageBatch that did not answer held up the
/// extensions; the counted messages came back to the queue after
/// `--sqs-visibility` and the other replica counted them too (the
/// catch-up benchmark counted 2 objects twice in 2,000).
#[test]
fn watch_sqs_a_hung_delete_never_hands_a_counted_message_to_another_replica() {
    let moto = Moto::start();
    let rt = rt();
    let trail = rt.block_on(Trail::create(&moto, "hung", 10, true));
    let proxy = FaultProxy::start(
        moto.addr,
        vec![Rule {
            op: Op::DeleteMessageBatch,
            fault: Fault::Stall,
            times: 1,
        }],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let truth = corpus(&dir.path().join("corpus"), 51, 1500);
    let (objects, _) = rt.block_on(trail.upload(&dir.path().join("corpus")));
    let visibility = ["--sqs-visibility", "2s"];
    let first = replica(&proxy.url, &trail.queue, &dir.path().join("a"), &visibility);
    let q = queue_name(&trail.queue).to_string();
    let want = default_scope(&truth);
    wait_denials(&first, &want);
    eventually(Duration::from_secs(30), "a delete to hang", || {
        if proxy.stalled() == 1 {
            Ok(())
        } else {
            Err(first.log())
        }
    });
    let received = sample(
        &first.metrics().expect("metrics"),
        &format!("denytrail_sqs_messages_received_total{{queue=\"{q}\"}}"),
    );
    assert_eq!(received, (objects + 1) as f64, "every message is held");
    let second = replica(&moto.url, &trail.queue, &dir.path().join("b"), &visibility);
    // Two visibility timeouts pass (an extension every third of one)
    // while the second replica polls the queue.
    let extensions = |w: &Watch| {
        sample(
            &w.metrics().unwrap_or_default(),
            r#"denytrail_aws_api_calls_total{operation="ChangeMessageVisibility",outcome="ok"}"#,
        )
    };
    let before = extensions(&first);
    eventually(
        Duration::from_secs(30),
        "the held messages to be extended past two visibility timeouts",
        || match extensions(&first) - before {
            n if n >= 6.0 => Ok(()),
            n => Err(format!("{n} extensions\n{}", first.log())),
        },
    );
    proxy.release();
    wait_drained(&rt, &trail, "every message to be deleted");
    let read = sample(
        &second.metrics().expect("metrics"),
        &format!("denytrail_sqs_objects_read_total{{queue=\"{q}\"}}"),
    );
    assert_eq!(
        read,
        0.0,
        "the second replica read a held object:\n{}",
        second.log()
    );
    assert_eq!(denials(&second.metrics().expect("metrics")), Counts::new());
    assert_eq!(denials(&first.metrics().expect("metrics")), want);
    stop(first);
    stop(second);
}
