//! Every PromQL expression of the dashboards and alert rules, evaluated by
//! a real Prometheus scraping a real `denytrail watch` fed with a corpus
//! that gives every metric of a file source some series: PassRole and
//! CodeGuru Profiler denials, an explicit deny in an SCP, an authentication
//! failure, a repeated delivery, a bad JSON line containing AccessDenied,
//! and more principals than `--max-series` (folding); and with CloudTrail
//! objects announced on an SQS queue (moto), for the queue metrics.
//!
//! An expression fails the test when Prometheus rejects it, or when it
//! returns nothing although the corpus guarantees a result. Expressions on
//! the other AWS sources' metrics (`denytrail_aws_*`,
//! `denytrail_cloudwatch_*`) only have to evaluate.

use std::time::Duration;

use crate::deploy::{alert_exprs, dashboard_exprs};
use crate::moto::Moto;
use crate::prom::{Prometheus, eventually};
use crate::watch::{Watch, append, denial_line, scp_denial_line};
use crate::watch_sqs::{Trail, ct_key, records_gz};

fn auth_failure_line(id: &str) -> String {
    let rec = serde_json::json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/old-key", "accountId": "123456789012"},
        "eventTime": "2024-05-01T12:00:00Z",
        "eventSource": "sts.amazonaws.com",
        "eventName": "GetCallerIdentity",
        "awsRegion": "us-east-1",
        "errorCode": "ExpiredToken",
        "errorMessage": "The security token included in the request is expired",
        "eventID": id,
        "recipientAccountId": "123456789012",
    });
    format!("{rec}\n")
}

/// One round of the corpus; `round` keeps event IDs and new principals
/// distinct between rounds.
fn corpus(round: u32) -> String {
    let id = |k: &str| format!("live-{round}-{k}");
    let mut s = String::new();
    for p in ["Deployer", "Builder", "Releaser"] {
        s += &denial_line(p, "iam:PassRole", &id(p));
    }
    s += &denial_line(
        "ProfilerAgent",
        "codeguru-profiler:ConfigureAgent",
        &id("cg1"),
    );
    s += &denial_line(
        "ProfilerAgent",
        "codeguru-profiler:PostAgentProfile",
        &id("cg2"),
    );
    s += &scp_denial_line("Deployer", "iam:PassRole", &id("scp"));
    // Past --max-series: folded into __other__.
    for k in 0..3 {
        s += &denial_line(
            &format!("Extra-{round}-{k}"),
            "iam:PassRole",
            &id(&format!("x{k}")),
        );
    }
    s += &auth_failure_line(&id("auth"));
    // A repeated delivery.
    s += &denial_line("Deployer", "iam:PassRole", &id("Deployer"));
    // Bad JSON that the prefilter passes: an input error.
    s += &format!(
        "{{\"errorCode\":\"AccessDenied\",\"eventID\":\"{}\", broken\n",
        id("bad")
    );
    s
}

fn is_aws_only(expr: &str) -> bool {
    expr.contains("denytrail_aws_") || expr.contains("denytrail_cloudwatch_")
}

/// Alert expressions the corpus must make return something (they fire on
/// a first denial / error / fold).
fn alert_must_fire(expr: &str) -> bool {
    !is_aws_only(expr)
        && (expr.contains("iam:PassRole")
            || expr.contains("codeguru-profiler")
            || expr.contains("explicit")
            || expr.contains("denytrail_input_errors_total")
            || expr.contains("denytrail_series_folded_total"))
}

#[test]
fn every_dashboard_and_alert_expression_works_on_live_data() {
    let dashboards = dashboard_exprs();
    let alerts = alert_exprs();
    assert!(!dashboards.is_empty() && !alerts.is_empty());

    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    append(&log, &corpus(1));
    let glob = dir.path().join("*.log").display().to_string();
    let state = dir.path().join("state").display().to_string();
    let moto = Moto::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let trail = rt.block_on(Trail::create(&moto, "live", 5, true));
    let object = |round: u32| {
        let lines = denial_line("queued", "iam:PassRole", &format!("queued-{round}"));
        rt.block_on(trail.put(
            &ct_key("123456789012", &format!("round-{round}")),
            records_gz(&lines),
        ));
    };
    object(1);
    let w = Watch::start_env(
        &[
            "--file",
            &format!("app-logs={glob}"),
            "--sqs",
            &trail.queue,
            "--endpoint-url",
            &moto.url,
            "--from",
            "start",
            "--state-dir",
            &state,
            "--max-series",
            "3",
            "--poll-interval",
            "50ms",
        ],
        crate::moto::ENV,
    );
    let p = Prometheus::start(std::slice::from_ref(&w.addr));
    // Round 1 scraped, then round 2: every counter then has an increase
    // between two samples, which rate() and increase() need.
    eventually(Duration::from_secs(60), "round 1 in Prometheus", || {
        let v = p.query("sum(denytrail_records_scanned_total)")?;
        match v.first() {
            Some(s) if s.value >= 11.0 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    append(&log, &corpus(2));
    object(2);

    let mut exprs: Vec<(&str, &String, bool)> = Vec::new();
    for e in &dashboards {
        exprs.push(("dashboard", e, !is_aws_only(e)));
    }
    for e in &alerts {
        exprs.push(("alert", e, alert_must_fire(e)));
    }
    assert!(
        exprs
            .iter()
            .filter(|(k, _, must)| *k == "alert" && *must)
            .count()
            >= 4
    );
    eventually(
        Duration::from_secs(90),
        "every expression to evaluate, with data where the corpus guarantees it",
        || {
            let mut bad = Vec::new();
            for (kind, e, must) in &exprs {
                match p.query(e) {
                    Err(err) => bad.push(format!("{kind}: error: {err}")),
                    Ok(v) if *must && v.is_empty() => bad.push(format!("{kind}: no series: {e}")),
                    Ok(_) => {}
                }
            }
            if bad.is_empty() {
                Ok(())
            } else {
                Err(bad.join("\n"))
            }
        },
    );
    // Errors are not retried away: an expression Prometheus rejects fails
    // at once.
    for (kind, e, _) in &exprs {
        if let Err(err) = p.query(e) {
            panic!("{kind} expression rejected: {err}");
        }
    }
}
