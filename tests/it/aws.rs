//! The AWS sources against moto (a real local AWS endpoint) and a
//! fault-injecting proxy: S3 archive selection, CloudWatch Logs replay with
//! pagination, the follower's checkpoints, throttling, 5xx and denials.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use denytrail::aws::{Checkpoint, FollowBatch, Follower, FollowerConfig, LogGroupSpec, PollEnd};
use denytrail::report::Report;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::faultproxy::{Fault, FaultProxy, Op, Rule};
use crate::moto::{Moto, SECRET, rt};

/// A CloudTrail record; a denial of `action` when `denied`.
fn record(id: &str, time: &str, account: &str, region: &str, denied: bool) -> Value {
    let arn = format!("arn:aws:sts::{account}:assumed-role/app/i-{account}");
    let mut r = json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "AssumedRole", "arn": arn, "accountId": account},
        "eventTime": time,
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": region,
        "eventID": id,
        "recipientAccountId": account
    });
    if denied {
        r["errorCode"] = json!("AccessDenied");
        r["errorMessage"] = json!(format!(
            "User: {arn} is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::data/k because no identity-based policy allows the s3:GetObject action"
        ));
    }
    r
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

fn archive(records: &[Value]) -> Vec<u8> {
    gzip(json!({ "Records": records }).to_string().as_bytes())
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&Utc)
}

/// `owner` is `AWSLogs/<account>` or `AWSLogs/<org>/<account>`.
fn ct_key(owner: &str, account: &str, region: &str, delivered: DateTime<Utc>, n: u32) -> String {
    format!(
        "{owner}/CloudTrail/{region}/{}/{account}_CloudTrail_{region}_{}_{n:04}abcd.json.gz",
        delivered.format("%Y/%m/%d"),
        delivered.format("%Y%m%dT%H%MZ")
    )
}

fn report_of(out: &std::process::Output) -> Report {
    let stderr = String::from_utf8_lossy(&out.stderr);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); status {:?}; stderr:\n{stderr}",
            out.status
        )
    })
}

fn assert_no_secret(out: &std::process::Output) {
    for s in [&out.stdout, &out.stderr] {
        assert!(
            !String::from_utf8_lossy(s).contains(SECRET),
            "the secret key leaked into the output"
        );
    }
}

const BUCKET: &str = "ct-archive";

/// The archive: denials inside the range, next to midnight, outside it, in
/// several accounts, regions and an organisation trail; corrupt objects
/// wherever denytrail must not read.
async fn seed_archive(s3: &aws_sdk_s3::Client) {
    s3.create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("create bucket");
    let a = "111111111111";
    let b = "222222222222";
    let c = "333333333333";
    let org = "AWSLogs/o-abc1234567/333333333333";
    let corrupt = b"\x1f\x8b\x08\x00 this is not gzip: reading it is an error".to_vec();
    let objects: Vec<(String, Vec<u8>)> = vec![
        // In the range: 3 denials and an allowed call.
        (
            ct_key(
                &format!("AWSLogs/{a}"),
                a,
                "us-east-1",
                t("2024-05-01T10:05:00Z"),
                1,
            ),
            archive(&[
                record("a1", "2024-05-01T10:00:00Z", a, "us-east-1", true),
                record("a2", "2024-05-01T10:01:00Z", a, "us-east-1", true),
                record("a3", "2024-05-01T10:02:00Z", a, "us-east-1", true),
                record("a4", "2024-05-01T10:03:00Z", a, "us-east-1", false),
            ]),
        ),
        // Delivered after midnight: one denial before it (counted), one after.
        (
            ct_key(
                &format!("AWSLogs/{a}"),
                a,
                "eu-west-1",
                t("2024-05-02T00:10:00Z"),
                2,
            ),
            archive(&[
                record("b1", "2024-05-01T23:58:00Z", a, "eu-west-1", true),
                record("b2", "2024-05-02T00:02:00Z", a, "eu-west-1", true),
            ]),
        ),
        // Delivered within the slack before the range: read, nothing counted.
        (
            ct_key(
                &format!("AWSLogs/{b}"),
                b,
                "us-east-1",
                t("2024-04-30T23:30:00Z"),
                3,
            ),
            archive(&[record("c1", "2024-04-30T23:20:00Z", b, "us-east-1", true)]),
        ),
        // Organisation trail.
        (
            ct_key(org, c, "us-west-2", t("2024-05-01T12:00:00Z"), 4),
            archive(&[
                record("d1", "2024-05-01T11:55:00Z", c, "us-west-2", true),
                record("d2", "2024-05-01T11:56:00Z", c, "us-west-2", true),
            ]),
        ),
        // Corrupt, outside the range plus slack, in day folders that are
        // listed (05/02, 04/30) or not (05/03, 04/29).
        (
            ct_key(
                &format!("AWSLogs/{a}"),
                a,
                "us-east-1",
                t("2024-05-02T02:00:00Z"),
                5,
            ),
            corrupt.clone(),
        ),
        (
            ct_key(
                &format!("AWSLogs/{a}"),
                a,
                "us-east-1",
                t("2024-04-30T12:00:00Z"),
                6,
            ),
            corrupt.clone(),
        ),
        (
            ct_key(
                &format!("AWSLogs/{b}"),
                b,
                "us-east-1",
                t("2024-05-03T00:30:00Z"),
                7,
            ),
            corrupt.clone(),
        ),
        (
            format!("AWSLogs/{a}/CloudTrail/us-east-1/2024/04/29/odd-name.json.gz"),
            corrupt.clone(),
        ),
        // Digest and Insight files are never listed.
        (
            format!(
                "AWSLogs/{a}/CloudTrail-Digest/us-east-1/2024/05/01/{a}_CloudTrail-Digest_us-east-1_t_us-east-1_20240501T100500Z.json.gz"
            ),
            corrupt.clone(),
        ),
        (
            format!(
                "AWSLogs/{a}/CloudTrail-Insight/us-east-1/2024/05/01/{a}_CloudTrail-Insight_us-east-1_20240501T1005Z_x.json.gz"
            ),
            corrupt,
        ),
    ];
    for (key, body) in objects {
        s3.put_object()
            .bucket(BUCKET)
            .key(&key)
            .body(body.into())
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
    }
}

fn s3_replay(moto: &Moto, endpoint: &str, extra: &[&str]) -> std::process::Output {
    let url = format!("s3://{BUCKET}");
    let mut args = vec![
        "replay",
        &url,
        "--since",
        "2024-05-01",
        "--until",
        "2024-05-02",
        "--scope",
        "all",
        "--format",
        "json",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let out = moto
        .denytrail(endpoint)
        .args(&args)
        .output()
        .expect("run denytrail");
    assert_no_secret(&out);
    out
}

#[test]
fn s3_replay_reads_only_the_days_that_can_hold_the_range() {
    let moto = Moto::start();
    let rt = rt();
    let (s3, _) = rt.block_on(Moto::clients(&moto.url));
    rt.block_on(seed_archive(&s3));

    let out = s3_replay(&moto, &moto.url, &[]);
    let r = report_of(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        r.summary.errors, 0,
        "a corrupt object outside the range was read: {stderr}"
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // a1-a3, b1 (delivered after midnight), d1-d2 (organisation trail).
    assert_eq!(r.summary.denials, 6, "{stderr}");
    // The four objects delivered within [since − 1h, until + 1h].
    assert_eq!(r.summary.files, 4);
    // b2 and c1 are outside [since, until): counted apart, not denials.
    assert_eq!(r.summary.out_of_range, 2);
    assert_eq!(r.summary.skipped_records, 0);
    assert_eq!(r.summary.principals, 2);

    let out = s3_replay(&moto, &moto.url, &["--account", "111111111111"]);
    let r = report_of(&out);
    assert_eq!(
        (r.summary.denials, r.summary.files, r.summary.errors),
        (4, 2, 0)
    );

    let out = s3_replay(&moto, &moto.url, &["--trail-region", "us-west-2,eu-west-1"]);
    let r = report_of(&out);
    assert_eq!(
        (r.summary.denials, r.summary.files, r.summary.errors),
        (3, 2, 0)
    );

    // A prefix down to the organisation's account.
    let url = format!("s3://{BUCKET}/AWSLogs/o-abc1234567/333333333333/");
    let out = moto
        .denytrail(&moto.url)
        .args([
            "replay",
            &url,
            "--since",
            "2024-05-01T11:00:00Z",
            "--until",
            "2024-05-01T11:55:30Z",
        ])
        .args(["--scope", "all", "--format", "json", "--quiet"])
        .output()
        .expect("run");
    let r = report_of(&out);
    assert_eq!(
        (r.summary.denials, r.summary.files, r.summary.errors),
        (1, 1, 0)
    );

    // Without the slack the object delivered after midnight is not read.
    let out = s3_replay(&moto, &moto.url, &["--delivery-slack", "0m"]);
    let r = report_of(&out);
    assert_eq!((r.summary.denials, r.summary.files), (5, 2));
}

const GROUP: &str = "/aws/cloudtrail/test";

/// Three streams; returns the IDs of the in-range denials per stream prefix
/// and the range.
async fn seed_group(logs: &aws_sdk_cloudwatchlogs::Client, base: i64) -> (usize, usize) {
    logs.create_log_group()
        .log_group_name(GROUP)
        .send()
        .await
        .expect("group");
    let streams = [
        ("111111111111_CloudTrail_us-east-1", "111111111111"),
        ("222222222222_CloudTrail_eu-west-1", "222222222222"),
        ("other-app", "444444444444"),
    ];
    let mut in_range_all = 0;
    let mut in_range_111 = 0;
    for (si, (stream, account)) in streams.iter().enumerate() {
        logs.create_log_stream()
            .log_group_name(GROUP)
            .log_stream_name(*stream)
            .send()
            .await
            .expect("stream");
        let mut events = Vec::new();
        // 5 events per stream inside the hour, one after it, one before it;
        // every fourth is an allowed call.
        for k in 0..7i64 {
            let ts = match k {
                5 => base + 3_600_000, // = until: outside
                6 => base - 1,         // before since: outside
                _ => base + k * 60_000 + si as i64,
            };
            let denied = k != 3;
            let id = format!("{stream}-{k}");
            let time = Utc
                .timestamp_millis_opt(ts)
                .single()
                .expect("ts")
                .to_rfc3339();
            let msg = record(&id, &time, account, "us-east-1", denied).to_string();
            if denied && k < 5 {
                in_range_all += 1;
                if si == 0 {
                    in_range_111 += 1;
                }
            }
            events.push((ts, msg));
        }
        events.sort();
        let mut req = logs
            .put_log_events()
            .log_group_name(GROUP)
            .log_stream_name(*stream);
        for (ts, msg) in events {
            req = req.log_events(
                aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                    .timestamp(ts)
                    .message(msg)
                    .build()
                    .expect("event"),
            );
        }
        req.send().await.expect("put events");
    }
    (in_range_all, in_range_111)
}

fn iso(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .expect("ts")
        .to_rfc3339()
}

#[test]
fn cloudwatch_replay_reads_the_range_over_many_pages() {
    let moto = Moto::start();
    let rt = rt();
    let (_, logs) = rt.block_on(Moto::clients(&moto.url));
    let base = (Utc::now() - chrono::Duration::hours(3)).timestamp_millis();
    let (all, only_111) = rt.block_on(seed_group(&logs, base));
    assert_eq!((all, only_111), (12, 4));
    let (since, until) = (iso(base), iso(base + 3_600_000));
    for (url, want) in [
        (format!("cloudwatch://{GROUP}"), all),
        (
            format!("cloudwatch://{GROUP}?stream=111111111111_"),
            only_111,
        ),
    ] {
        let out = moto
            .denytrail(&moto.url)
            .args(["replay", &url, "--since", &since, "--until", &until])
            .args([
                "--scope",
                "all",
                "--format",
                "json",
                "--quiet",
                "--cw-page-limit",
                "2",
                "--cw-rate",
                "50",
            ])
            .output()
            .expect("run");
        assert_no_secret(&out);
        let r = report_of(&out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(r.summary.errors, 0, "{stderr}");
        assert_eq!(r.summary.denials as usize, want, "{url}: {stderr}");
        assert_eq!(r.summary.files, 1);
    }
}

#[test]
fn throttles_and_server_errors_are_retried_and_counts_stay_exact() {
    let moto = Moto::start();
    let rt = rt();
    let (s3, logs) = rt.block_on(Moto::clients(&moto.url));
    rt.block_on(seed_archive(&s3));
    let base = (Utc::now() - chrono::Duration::hours(3)).timestamp_millis();
    let (all, _) = rt.block_on(seed_group(&logs, base));
    let proxy = FaultProxy::start(
        moto.addr,
        vec![
            Rule {
                op: Op::FilterLogEvents,
                fault: Fault::Throttle,
                times: 3,
            },
            Rule {
                op: Op::FilterLogEvents,
                fault: Fault::ServerError,
                times: 1,
            },
            Rule {
                op: Op::ListObjectsV2,
                fault: Fault::Throttle,
                times: 2,
            },
            Rule {
                op: Op::ListObjectsV2,
                fault: Fault::ServerError,
                times: 1,
            },
            Rule {
                op: Op::GetObject,
                fault: Fault::Throttle,
                times: 1,
            },
            Rule {
                op: Op::GetObject,
                fault: Fault::ServerError,
                times: 1,
            },
        ],
    );
    // Both sources in one run: S3 from 2024-05-01 and the log group from
    // `base` are selected by one range each, so run them apart.
    let out = s3_replay(&moto, &proxy.url, &["--aws-max-attempts", "6"]);
    let r = report_of(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        (r.summary.denials, r.summary.files, r.summary.errors),
        (6, 4, 0),
        "{stderr}"
    );
    assert!(
        stderr.contains("SlowDown"),
        "throttles are logged: {stderr}"
    );
    assert!(stderr.contains("ListObjectsV2 throttled"), "{stderr}");
    assert!(stderr.contains("GetObject failed"), "{stderr}");

    let url = format!("cloudwatch://{GROUP}");
    let out = moto
        .denytrail(&proxy.url)
        .args([
            "replay",
            &url,
            "--since",
            &iso(base),
            "--until",
            &iso(base + 3_600_000),
        ])
        .args([
            "--scope",
            "all",
            "--format",
            "json",
            "--quiet",
            "--cw-page-limit",
            "3",
            "--cw-rate",
            "50",
        ])
        .output()
        .expect("run");
    assert_no_secret(&out);
    let r = report_of(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        (r.summary.denials as usize, r.summary.errors),
        (all, 0),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("FilterLogEvents throttled").count(),
        3,
        "{stderr}"
    );
    assert!(stderr.contains("ThrottlingException"), "{stderr}");
    assert_eq!(proxy.injected(), 9);
    assert!(proxy.forwarded() > 0);
}

#[test]
fn denytrails_own_access_denied_names_the_permission() {
    let moto = Moto::start();
    let rt = rt();
    let (s3, logs) = rt.block_on(Moto::clients(&moto.url));
    rt.block_on(seed_archive(&s3));
    let base = (Utc::now() - chrono::Duration::hours(3)).timestamp_millis();
    rt.block_on(seed_group(&logs, base));
    let proxy = FaultProxy::start(
        moto.addr,
        vec![
            Rule {
                op: Op::ListObjectsV2,
                fault: Fault::Denied,
                times: 1,
            },
            Rule {
                op: Op::FilterLogEvents,
                fault: Fault::Denied,
                times: 1,
            },
        ],
    );
    let out = s3_replay(&moto, &proxy.url, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "denytrail needs s3:ListBucket on arn:aws:s3:::{BUCKET} (see deploy/iam/replay-s3.json)"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("s3://{BUCKET}/AWSLogs/")),
        "{stderr}"
    );

    let url = format!("cloudwatch://{GROUP}");
    let out = moto
        .denytrail(&proxy.url)
        .args([
            "replay",
            &url,
            "--since",
            &iso(base),
            "--format",
            "json",
            "--quiet",
        ])
        .output()
        .expect("run");
    assert_no_secret(&out);
    let r = report_of(&out);
    assert_eq!((r.summary.errors, out.status.code()), (1, Some(3)));
    let detail = &r.errors[0];
    let text = serde_json::to_string(detail).expect("json");
    assert!(
        text.contains(&format!(
            "denytrail needs logs:FilterLogEvents on arn:aws:logs:REGION:ACCOUNT_ID:log-group:{GROUP} (see deploy/iam/replay-cloudwatch.json)"
        )),
        "{text}"
    );
    assert!(text.contains(&format!("cloudwatch://{GROUP}")), "{text}");
}

/// Put `n` denial events at `ts`, `ts+1`, … into `stream` (created if new).
async fn put(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    stream: &str,
    events: &[(i64, String)],
) {
    let _ = logs
        .create_log_stream()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await;
    let mut req = logs
        .put_log_events()
        .log_group_name(group)
        .log_stream_name(stream);
    for (ts, id) in events {
        let msg = record(id, &iso(*ts), "111111111111", "us-east-1", true).to_string();
        req = req.log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(*ts)
                .message(msg)
                .build()
                .expect("event"),
        );
    }
    req.send().await.expect("put events");
}

fn follower_config(group: &str) -> FollowerConfig {
    let mut cfg = FollowerConfig::new(LogGroupSpec::parse(group).expect("spec"));
    cfg.page_limit = Some(2);
    cfg.lookback = Duration::ZERO;
    cfg.poll_interval = Duration::from_millis(100);
    cfg
}

/// The CloudTrail `eventID` inside a fetched event's message.
fn record_id(e: &denytrail::aws::LogEvent) -> String {
    let v: Value = serde_json::from_str(&e.message).expect("record JSON");
    v["eventID"].as_str().expect("eventID").to_string()
}

fn ids(batches: &[FollowBatch]) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| b.events.iter().map(record_id))
        .collect()
}

#[test]
fn follower_resumes_from_its_checkpoint_without_loss_or_repeats() {
    let moto = Moto::start();
    let rt = rt();
    rt.block_on(async {
        let (_, logs) = Moto::clients(&moto.url).await;
        let group = "follow-resume";
        logs.create_log_group()
            .log_group_name(group)
            .send()
            .await
            .expect("group");
        let t0 = Utc::now().timestamp_millis() - 600_000;
        // Two streams with the same timestamps, and several events at the
        // same millisecond in one stream: 15 events, pages of 2.
        let s1: Vec<(i64, String)> = (0..6)
            .map(|k| (t0 + k * 1000, format!("s1-{k}")))
            .chain((0..3).map(|k| (t0 + 3000, format!("s1-same-{k}"))))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let s2: Vec<(i64, String)> = (0..6).map(|k| (t0 + k * 1000, format!("s2-{k}"))).collect();
        put(&logs, group, "s1", &s1).await;
        put(&logs, group, "s2", &s2).await;

        let registry = prometheus::Registry::new();
        let metrics = denytrail::aws::AwsMetrics::register(&registry).expect("metrics");
        let limiter = Arc::new(denytrail::aws::RateLimiter::per_second(50.0).expect("rate"));
        let start = Checkpoint::at(t0 - 60_000);

        // First run: stop after three batches, as if the process died.
        let follower = Follower::new(
            logs.clone(),
            follower_config(group),
            limiter.clone(),
            metrics.clone(),
        );
        let (tx, mut rx) = mpsc::channel::<FollowBatch>(1);
        let cancel = CancellationToken::new();
        let mut cp = start.clone();
        let c2 = cancel.clone();
        let task = tokio::spawn(async move {
            let r = follower.poll(&mut cp, &tx, &c2).await;
            (r, cp)
        });
        let mut first = Vec::new();
        while first.len() < 3 {
            first.push(rx.recv().await.expect("batch"));
        }
        cancel.cancel();
        let (end, _) = task.await.expect("join");
        assert_eq!(end.expect("poll"), PollEnd::Stopped);
        let saved = first.last().expect("batch").checkpoint.clone();
        let before = ids(&first);
        assert!(before.len() >= 3 && before.len() < 15, "{before:?}");

        // Second run from the saved checkpoint (round-tripped as JSON).
        let saved: Checkpoint =
            serde_json::from_str(&serde_json::to_string(&saved).expect("ser")).expect("de");
        let follower = Follower::new(
            logs.clone(),
            follower_config(group),
            limiter.clone(),
            metrics.clone(),
        );
        let (tx, mut rx) = mpsc::channel::<FollowBatch>(64);
        let mut cp = saved;
        let end = follower
            .poll(&mut cp, &tx, &CancellationToken::new())
            .await
            .expect("poll");
        assert_eq!(end, PollEnd::Complete);
        drop(tx);
        let mut second = Vec::new();
        while let Some(b) = rx.recv().await {
            second.push(b);
        }
        let mut all = before.clone();
        all.extend(ids(&second));
        let distinct: BTreeSet<&String> = all.iter().collect();
        assert_eq!(all.len(), 15, "each event exactly once: {all:?}");
        assert_eq!(distinct.len(), 15);
        // At rest: the newest timestamp and the IDs seen at it.
        assert_eq!(cp.start_ms, t0 + 5000);
        let at_rest: Vec<i64> = cp.seen.iter().map(|(ts, _)| *ts).collect();
        assert_eq!(at_rest, [t0 + 5000, t0 + 5000]);
        assert_eq!(metrics.fetched_count(group), 15);

        // A third poll finds nothing new; new events are found exactly once.
        let (tx, mut rx) = mpsc::channel::<FollowBatch>(64);
        let end = follower
            .poll(&mut cp, &tx, &CancellationToken::new())
            .await
            .expect("poll");
        assert_eq!(end, PollEnd::Complete);
        put(
            &logs,
            group,
            "s2",
            &[
                (t0 + 5000, "s2-late-same-ms".into()),
                (t0 + 7000, "s2-7".into()),
            ],
        )
        .await;
        follower
            .poll(&mut cp, &tx, &CancellationToken::new())
            .await
            .expect("poll");
        drop(tx);
        let mut third = Vec::new();
        while let Some(b) = rx.recv().await {
            third.push(b);
        }
        assert_eq!(ids(&third), ["s2-late-same-ms", "s2-7"]);
    });
}

#[test]
fn follower_runs_live_through_throttling() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(
        moto.addr,
        vec![
            Rule {
                op: Op::FilterLogEvents,
                fault: Fault::Throttle,
                times: 3,
            },
            Rule {
                op: Op::FilterLogEvents,
                fault: Fault::ServerError,
                times: 1,
            },
        ],
    );
    let rt = rt();
    rt.block_on(async {
        let (_, direct) = Moto::clients(&moto.url).await;
        let (_, via_proxy) = Moto::clients(&proxy.url).await;
        let group = "follow-live";
        direct
            .create_log_group()
            .log_group_name(group)
            .send()
            .await
            .expect("group");
        let registry = prometheus::Registry::new();
        let metrics = denytrail::aws::AwsMetrics::register(&registry).expect("metrics");
        let limiter = Arc::new(denytrail::aws::RateLimiter::per_second(20.0).expect("rate"));
        let mut cfg = follower_config(group);
        cfg.lookback = Duration::from_secs(30);
        let follower = Follower::new(via_proxy, cfg, limiter, metrics.clone());
        let (tx, mut rx) = mpsc::channel::<FollowBatch>(4);
        let cancel = CancellationToken::new();
        let start = Checkpoint::at(Utc::now().timestamp_millis() - 60_000);
        let task = tokio::spawn(follower.run(start, cancel.clone(), tx));

        let mut got: Vec<String> = Vec::new();
        let mut last_cp = None;
        let mut wait_for =
            async |n: usize, got: &mut Vec<String>, last: &mut Option<Checkpoint>| {
                let deadline = Instant::now() + Duration::from_secs(30);
                while got.len() < n && Instant::now() < deadline {
                    if let Ok(Some(b)) =
                        tokio::time::timeout(Duration::from_millis(500), rx.recv()).await
                    {
                        got.extend(b.events.iter().map(record_id));
                        *last = Some(b.checkpoint);
                    }
                }
            };
        let now = Utc::now().timestamp_millis() - 500;
        put(
            &direct,
            group,
            "a",
            &[(now, "live-1".into()), (now + 1, "live-2".into())],
        )
        .await;
        put(
            &direct,
            group,
            "b",
            &[(now, "live-3".into()), (now + 2, "live-4".into())],
        )
        .await;
        wait_for(4, &mut got, &mut last_cp).await;
        let now = Utc::now().timestamp_millis() - 500;
        put(
            &direct,
            group,
            "a",
            &[
                (now, "live-5".into()),
                (now + 3, "live-6".into()),
                (now + 3, "live-7".into()),
            ],
        )
        .await;
        wait_for(7, &mut got, &mut last_cp).await;
        // Several more polls re-read the lookback window: nothing repeats.
        let polls = metrics.api_call_count("FilterLogEvents", denytrail::aws::metrics::Outcome::Ok);
        let deadline = Instant::now() + Duration::from_secs(10);
        while metrics.api_call_count("FilterLogEvents", denytrail::aws::metrics::Outcome::Ok)
            < polls + 6
            && Instant::now() < deadline
        {
            if let Ok(Some(b)) = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
                got.extend(b.events.iter().map(record_id));
            }
        }
        cancel.cancel();
        let final_cp = task.await.expect("join");
        got.sort();
        assert_eq!(
            got,
            [
                "live-1", "live-2", "live-3", "live-4", "live-5", "live-6", "live-7"
            ]
        );
        assert_eq!(metrics.throttle_count("FilterLogEvents"), 3);
        assert_eq!(
            metrics.api_call_count("FilterLogEvents", denytrail::aws::metrics::Outcome::Error),
            1
        );
        assert_eq!(metrics.fetched_count(group), 7);
        assert!(final_cp.start_ms >= last_cp.expect("a checkpoint").start_ms);
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .expect("encode");
        assert!(
            text.contains(r#"denytrail_aws_throttles_total{operation="FilterLogEvents"} 3"#),
            "{text}"
        );
        assert!(text.contains("denytrail_cloudwatch_lag_seconds"), "{text}");
    });
    assert_eq!(proxy.injected(), 4);
}
