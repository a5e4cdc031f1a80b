//! `denytrail watch --cloudwatch` against moto: the real binary follows log
//! groups the test writes to; counts are read from `/metrics`; SIGTERM,
//! restarts and `kill -9` keep every event counted exactly once; several
//! pages per poll; two log groups under one request rate.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use serde_json::json;

use crate::moto::{ENV, Moto, SECRET, rt};
use crate::prom::eventually;
use crate::watch::{ACCOUNT, denial_line, metric_value, role};

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Per (principal, action) counts.
pub(crate) type Counts = BTreeMap<(String, String), u64>;

/// The messages one test writes, and the denials they must produce.
struct Writer {
    logs: Client,
    prefix: String,
    next: u64,
    want: Counts,
    /// Events written (each is one record for denytrail).
    events: u64,
    /// Deliberate repeated deliveries (same CloudTrail eventID).
    duplicates: u64,
}

impl Writer {
    fn new(logs: Client, prefix: &str) -> Writer {
        Writer {
            logs,
            prefix: prefix.to_string(),
            next: 0,
            want: Counts::new(),
            events: 0,
            duplicates: 0,
        }
    }

    fn id(&mut self) -> String {
        self.next += 1;
        format!("{}-{:06}", self.prefix, self.next)
    }

    /// `n` counted denials of `principal` on `action`.
    fn denials(&mut self, principal: &str, action: &str, n: u64) -> Vec<String> {
        *self
            .want
            .entry((role(principal), action.to_string()))
            .or_insert(0) += n;
        (0..n)
            .map(|_| {
                let id = self.id();
                denial_line(principal, action, &id).trim_end().to_string()
            })
            .collect()
    }

    /// Events that must not count: allowed calls, a denial outside the
    /// default scope, an allowed call whose parameters say "AccessDenied",
    /// and a repeated delivery of a denial already written.
    fn noise(&mut self, repeat_of: &str) -> Vec<String> {
        let mut v = Vec::new();
        for _ in 0..2 {
            let id = self.id();
            v.push(
                json!({
                    "eventVersion": "1.08",
                    "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{ACCOUNT}:user/ok"), "accountId": ACCOUNT},
                    "eventTime": "2024-05-01T12:00:00Z",
                    "eventSource": "iam.amazonaws.com",
                    "eventName": "PassRole",
                    "awsRegion": "us-east-1",
                    "eventID": id,
                    "recipientAccountId": ACCOUNT,
                })
                .to_string(),
            );
        }
        let id = self.id();
        v.push(
            denial_line("outside", "s3:GetObject", &id)
                .trim_end()
                .to_string(),
        );
        let id = self.id();
        v.push(
            json!({
                "eventVersion": "1.08",
                "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{ACCOUNT}:user/trap"), "accountId": ACCOUNT},
                "eventTime": "2024-05-01T12:00:00Z",
                "eventSource": "logs.amazonaws.com",
                "eventName": "PutLogEvents",
                "awsRegion": "us-east-1",
                "requestParameters": {"logStreamName": "AccessDenied not authorized to perform: iam:PassRole"},
                "eventID": id,
                "recipientAccountId": ACCOUNT,
            })
            .to_string(),
        );
        v.push(repeat_of.to_string());
        self.duplicates += 1;
        v
    }

    /// Put `messages` into `group`/`stream` (created if new), timestamped
    /// from a second ago, one millisecond apart.
    async fn put(&mut self, group: &str, stream: &str, messages: &[String]) {
        let _ = self
            .logs
            .create_log_stream()
            .log_group_name(group)
            .log_stream_name(stream)
            .send()
            .await;
        let t0 = now_ms() - 1000;
        let mut req = self
            .logs
            .put_log_events()
            .log_group_name(group)
            .log_stream_name(stream);
        for (i, m) in messages.iter().enumerate() {
            req = req.log_events(
                InputLogEvent::builder()
                    .timestamp(t0 + i as i64)
                    .message(m)
                    .build()
                    .expect("event"),
            );
        }
        req.send().await.expect("put events");
        self.events += messages.len() as u64;
    }
}

async fn create_group(logs: &Client, group: &str) {
    logs.create_log_group()
        .log_group_name(group)
        .send()
        .await
        .expect("create log group");
}

/// A running `denytrail watch` with the fake credentials and moto as the
/// endpoint, killed when dropped.
struct Sidecar {
    child: Child,
    addr: String,
    logs: Arc<Mutex<Vec<String>>>,
    started: Instant,
}

impl Sidecar {
    fn start(moto: &Moto, args: &[&str]) -> Sidecar {
        let mut cmd = Command::new(crate::util::bin());
        for (k, v) in ENV {
            cmd.env(k, v);
        }
        cmd.env_remove("AWS_PROFILE")
            .env("DENYTRAIL_LOG", "info")
            .arg("watch")
            .args(args)
            .args(["--endpoint-url", &moto.url, "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null());
        let started = Instant::now();
        let (child, addr, logs) = crate::watch::spawn_listening(cmd);
        Sidecar {
            child,
            addr,
            logs,
            started,
        }
    }

    fn log(&self) -> String {
        self.logs.lock().expect("log lock").join("\n")
    }

    /// `/metrics` once ready (503 before).
    fn metrics(&self) -> Result<String, String> {
        let mut r = ureq::get(&format!("http://{}/metrics", self.addr))
            .config()
            .http_status_as_error(false)
            .build()
            .call()
            .map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        let body = r.body_mut().read_to_string().map_err(|e| e.to_string())?;
        if status == 200 {
            Ok(body)
        } else {
            Err(format!("/metrics: {status} {body}"))
        }
    }

    /// Wait (bounded) until `/metrics` shows exactly `want` denials, and
    /// return that text.
    fn wait_denials(&self, want: &Counts) -> String {
        eventually(
            Duration::from_secs(90),
            "denytrail_denials_total to equal what was written",
            || {
                let text = self.metrics()?;
                let got = denials(&text);
                if &got == want {
                    Ok(text)
                } else {
                    Err(format!("got {got:?}\nwant {want:?}\nlog:\n{}", self.log()))
                }
            },
        )
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill {sig} failed");
    }

    fn wait_exit(&mut self) -> ExitStatus {
        eventually(Duration::from_secs(15), "denytrail to exit", || {
            self.child
                .try_wait()
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "still running".to_string())
        })
    }

    /// SIGTERM; must exit 0.
    fn stop(mut self) {
        self.signal("-TERM");
        let status = self.wait_exit();
        let log = self.log();
        assert_eq!(status.code(), Some(0), "log:\n{log}");
        assert!(!log.contains(SECRET), "the secret key leaked:\n{log}");
    }

    /// SIGKILL and reap.
    fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `denytrail_denials_total` summed by (principal, action).
pub(crate) fn denials(text: &str) -> Counts {
    let mut out = Counts::new();
    for l in text.lines() {
        let Some(rest) = l.strip_prefix("denytrail_denials_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            let key = format!("{name}=\"");
            let i = labels.find(&key)? + key.len();
            let j = labels[i..].find('"')?;
            Some(labels[i..i + j].to_string())
        };
        let (Some(p), Some(a), Ok(v)) = (label("principal"), label("action"), value.parse::<f64>())
        else {
            continue;
        };
        *out.entry((p, a)).or_insert(0) += v as u64;
    }
    out
}

fn sample(text: &str, series: &str) -> f64 {
    metric_value(text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

fn checkpoint(state: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(state.join("checkpoint.json")).expect("checkpoint.json");
    serde_json::from_str(&text).expect("checkpoint is JSON")
}

/// What every run of one test shares.
fn args<'a>(
    state: &'a str,
    checkpoint_interval: &'a str,
    max_window: &'a str,
    groups: &[&'a str],
) -> Vec<&'a str> {
    let mut v = Vec::new();
    for g in groups {
        v.extend(["--cloudwatch", g]);
    }
    v.extend([
        "--from",
        "start",
        "--state-dir",
        state,
        "--checkpoint-interval",
        checkpoint_interval,
        "--cw-rate",
        "20",
        "--cw-poll-interval",
        "200ms",
        // --from start reads 14 days back, in windows of this span.
        "--cw-max-window",
        max_window,
    ]);
    v
}

#[test]
fn watch_cloudwatch_counts_exactly_once_across_sigterm_and_kill_9() {
    let moto = Moto::start();
    let rt = rt();
    let (_, logs) = rt.block_on(Moto::clients(&moto.url));
    let group = "/aws/cloudtrail/watch-exact";
    rt.block_on(create_group(&logs, group));
    let mut w = Writer::new(logs, "exact");
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let state_arg = state.display().to_string();

    // A: written before the first start; read from 14 days back.
    let mut batch = w.denials("deployer", "iam:PassRole", 5);
    batch.extend(w.denials("profiler", "codeguru-profiler:PostAgentProfile", 3));
    let repeat = batch[0].clone();
    batch.extend(w.noise(&repeat));
    rt.block_on(w.put(group, "111111111111_CloudTrail_us-east-1", &batch));

    let run1 = Sidecar::start(&moto, &args(&state_arg, "200ms", "1d", &[group]));
    let text = run1.wait_denials(&w.want);
    assert_eq!(
        sample(
            &text,
            r#"denytrail_records_scanned_total{source_kind="cloudwatch"}"#
        ),
        w.events as f64
    );
    assert_eq!(
        sample(&text, "denytrail_duplicates_total"),
        w.duplicates as f64
    );
    assert_eq!(
        sample(
            &text,
            &format!(r#"denytrail_cloudwatch_events_fetched_total{{log_group="{group}"}}"#)
        ),
        w.events as f64
    );
    // The eight denials and the repeat (a denial outside the scope is not
    // a match, as in replay).
    assert_eq!(
        sample(
            &text,
            &format!(r#"denytrail_cloudwatch_events_matched_total{{log_group="{group}"}}"#)
        ),
        9.0
    );
    let fresh = sample(
        &text,
        &format!(r#"denytrail_last_event_timestamp_seconds{{source="{group}"}}"#),
    );
    assert!(fresh > 1.0e9, "{fresh}");
    let lag = sample(
        &text,
        &format!(r#"denytrail_cloudwatch_lag_seconds{{log_group="{group}"}}"#),
    );
    assert!((0.0..60.0).contains(&lag), "lag {lag}");
    // SIGTERM exits 0 after a last checkpoint holding the position.
    run1.stop();
    let ck = checkpoint(&state);
    assert!(
        ck["cloudwatch"][group]["start_ms"].as_i64().is_some(),
        "{ck}"
    );

    // Second run: no periodic checkpoint, so B is counted but not saved
    // when it is killed.
    let run2 = Sidecar::start(&moto, &args(&state_arg, "1h", "1d", &[group]));
    // Re-seeded from the checkpoint, nothing read twice.
    let text = run2.wait_denials(&w.want);
    assert_eq!(
        sample(&text, "denytrail_duplicates_total"),
        w.duplicates as f64
    );
    let batch = w.denials("deployer", "iam:PassRole", 4);
    rt.block_on(w.put(group, "111111111111_CloudTrail_us-east-1", &batch));
    let batch = w.denials("builder", "iam:PassRole", 2);
    rt.block_on(w.put(group, "222222222222_CloudTrail_eu-west-1", &batch));
    run2.wait_denials(&w.want);
    run2.kill9();

    // Third run: B comes again from the saved position, counted once.
    let run3 = Sidecar::start(&moto, &args(&state_arg, "200ms", "1d", &[group]));
    let text = run3.wait_denials(&w.want);
    assert_eq!(
        sample(&text, "denytrail_duplicates_total"),
        w.duplicates as f64
    );
    assert_eq!(
        sample(
            &text,
            r#"denytrail_records_scanned_total{source_kind="cloudwatch"}"#
        ),
        w.events as f64
    );
    // C while running.
    let mut batch = w.denials("profiler", "codeguru-profiler:PostAgentProfile", 2);
    let repeat = batch[0].clone();
    batch.extend(w.noise(&repeat));
    rt.block_on(w.put(group, "111111111111_CloudTrail_us-east-1", &batch));
    let text = run3.wait_denials(&w.want);
    assert_eq!(
        sample(&text, "denytrail_duplicates_total"),
        w.duplicates as f64
    );
    assert_eq!(
        sample(
            &text,
            r#"denytrail_records_scanned_total{source_kind="cloudwatch"}"#
        ),
        w.events as f64
    );
    run3.stop();
}

#[test]
fn watch_cloudwatch_reads_many_pages_of_two_groups_under_one_rate() {
    let moto = Moto::start();
    let rt = rt();
    let (_, logs) = rt.block_on(Moto::clients(&moto.url));
    let (ga, gb) = ("watch-pages-a", "watch-pages-b");
    rt.block_on(create_group(&logs, ga));
    rt.block_on(create_group(&logs, gb));
    let mut w = Writer::new(logs, "pages");
    let a = w.denials("alpha", "iam:PassRole", 9);
    rt.block_on(w.put(ga, "s1", &a));
    let b = w.denials("beta", "iam:PassRole", 7);
    rt.block_on(w.put(gb, "s1", &b[..4]));
    rt.block_on(w.put(gb, "s2", &b[4..]));
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state").display().to_string();

    // 14 days in 6 h windows: 56 polls per group at least, more than the
    // rate lets through at once, so the two groups contend for it.
    let rate = 20.0;
    let mut argv = args(&state, "200ms", "6h", &[ga, gb]);
    argv.extend(["--cw-page-limit", "2"]);
    let run = Sidecar::start(&moto, &argv);
    let text = run.wait_denials(&w.want);
    let elapsed = run.started.elapsed().as_secs_f64();
    let calls: f64 = ["ok", "throttled", "error"]
        .iter()
        .filter_map(|o| {
            metric_value(
                &text,
                &format!(
                    r#"denytrail_aws_api_calls_total{{operation="FilterLogEvents",outcome="{o}"}}"#
                ),
            )
        })
        .sum();
    assert!(calls >= 112.0, "{calls} calls:\n{text}");
    // One limiter for both groups: never more than `rate` requests a second.
    assert!(
        calls <= rate * elapsed + 1.0,
        "{calls} calls in {elapsed:.1} s at --cw-rate {rate}"
    );
    for (g, n) in [(ga, 9.0), (gb, 7.0)] {
        assert_eq!(
            sample(
                &text,
                &format!(r#"denytrail_cloudwatch_events_fetched_total{{log_group="{g}"}}"#)
            ),
            n,
            "each event fetched once over pages of 2"
        );
        let fresh = sample(
            &text,
            &format!(r#"denytrail_last_event_timestamp_seconds{{source="{g}"}}"#),
        );
        assert!(fresh > 1.0e9);
    }
    run.stop();
}
