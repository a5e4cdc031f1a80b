//! `denytrail watch` figures for the README: the delay from a line appended
//! to a followed file to its count on `/metrics`, resident memory idle and
//! under a sustained write load, and the catch-up rate.
//!
//! Not a criterion bench: it measures a separate process (the real
//! binary) over HTTP. Run with `cargo bench --bench watch_latency`; it
//! prints a table. Each measured count is asserted, so a wrong number
//! fails the bench rather than producing a fast one.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ACCOUNT: &str = "123456789012";

fn line(i: u64) -> String {
    let p = format!("role-{}", i % 50);
    format!(
        concat!(
            r#"{{"eventVersion":"1.08","userIdentity":{{"type":"AssumedRole","arn":"arn:aws:sts::{a}:assumed-role/{p}/s","accountId":"{a}","#,
            r#""sessionContext":{{"sessionIssuer":{{"type":"Role","arn":"arn:aws:iam::{a}:role/{p}","accountId":"{a}"}}}}}},"#,
            r#""eventTime":"2024-05-01T12:00:00Z","eventSource":"iam.amazonaws.com","eventName":"PassRole","awsRegion":"us-east-1","#,
            r#""errorCode":"AccessDenied","errorMessage":"User: arn:aws:sts::{a}:assumed-role/{p}/s is not authorized to perform: iam:PassRole on resource: arn:aws:iam::{a}:role/x because no identity-based policy allows the iam:PassRole action","#,
            r#""eventID":"bench-{i:012}","recipientAccountId":"{a}"}}"#,
            "\n"
        ),
        a = ACCOUNT,
        p = p,
        i = i
    )
}

/// A filler line (not a denial), like most of a real log.
fn filler(i: u64) -> String {
    format!(
        "{{\"eventVersion\":\"1.08\",\"eventSource\":\"s3.amazonaws.com\",\"eventName\":\"GetObject\",\"eventID\":\"ok-{i:012}\",\"awsRegion\":\"us-east-1\",\"requestParameters\":{{\"bucketName\":\"b\",\"key\":\"k/{i}\"}}}}\n"
    )
}

struct Watch {
    child: Child,
    addr: String,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, mode: &[&str]) -> Watch {
    let mut child = Command::new(env!("CARGO_BIN_EXE_denytrail"))
        .args(["watch", "--from", "start", "--listen", "127.0.0.1:0"])
        .args(mode)
        .arg("--file")
        .arg(dir.join("*.log"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .env("DENYTRAIL_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn denytrail");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(i) = l.find("listening on ") {
                let a = l[i + 13..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_string();
                let _ = tx.send(a);
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("denytrail listening");
    Watch { child, addr }
}

impl Watch {
    fn metrics(&self) -> Option<String> {
        let mut r = ureq::get(&format!("http://{}/metrics", self.addr))
            .call()
            .ok()?;
        r.body_mut().read_to_string().ok()
    }

    fn value(&self, series: &str) -> Option<f64> {
        let m = self.metrics()?;
        m.lines().find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
    }

    fn denials(&self) -> f64 {
        let Some(m) = self.metrics() else { return -1.0 };
        m.lines()
            .filter(|l| l.starts_with("denytrail_denials_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    fn records(&self) -> f64 {
        self.value("denytrail_records_scanned_total{source_kind=\"file\"}")
            .unwrap_or(0.0)
    }

    fn rss_mib(&self) -> f64 {
        let s =
            std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("status");
        let kb: f64 = s
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS");
        kb / 1024.0
    }

    fn wait(&self, what: &str, timeout: Duration, mut ok: impl FnMut(&Watch) -> bool) {
        let end = Instant::now() + timeout;
        while !ok(self) {
            assert!(Instant::now() < end, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open");
    f.write_all(text.as_bytes()).expect("write");
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn latency(mode: &[&str], samples: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    append(&log, "");
    let w = start(dir.path(), mode);
    w.wait("ready", Duration::from_secs(30), |w| w.metrics().is_some());
    let mut ms = Vec::new();
    for i in 0..samples {
        let t0 = Instant::now();
        append(&log, &line(i));
        let want = (i + 1) as f64;
        w.wait("the count", Duration::from_secs(30), |w| {
            w.denials() >= want
        });
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(w.denials(), want);
    }
    ms.sort_by(f64::total_cmp);
    let mode = mode_label(mode);
    println!(
        "watch/latency  {mode:<36}: append → /metrics  p50 {:6.1} ms  p90 {:6.1} ms  p99 {:6.1} ms  max {:6.1} ms  ({samples} samples)",
        percentile(&ms, 0.5),
        percentile(&ms, 0.9),
        percentile(&ms, 0.99),
        ms[ms.len() - 1]
    );
}

/// How a mode's flags are printed: the default has none.
fn mode_label(mode: &[&str]) -> String {
    if mode.is_empty() {
        "change notification (default)".to_string()
    } else {
        mode.join(" ")
    }
}

/// CPU time (user + system) of a process, in seconds, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &s[s.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().expect("utime") + f[12].parse::<f64>().expect("stime");
    // USER_HZ is 100 on Linux.
    ticks / 100.0
}

/// Idle cost of following many files: 5,000 files, ready, nothing written
/// for 10 s; CPU used and descriptors open.
fn idle_many_files(mode: &[&str]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = 5000u64;
    for i in 0..n {
        append(&dir.path().join(format!("f{i:05}.log")), &line(i));
    }
    let w = start(dir.path(), mode);
    w.wait("all files read", Duration::from_secs(120), |w| {
        w.denials() >= n as f64
    });
    let pid = w.child.id();
    let fds = || std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    let (c0, t0) = (cpu_seconds(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(10));
    let cpu = (cpu_seconds(pid) - c0) / t0.elapsed().as_secs_f64() * 100.0;
    let mode = mode_label(mode);
    println!(
        "watch/idle     {mode:<36}: {n} files followed, {} descriptors open, {cpu:.1} % of a core idle",
        fds()
    );
}

fn memory_and_throughput() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    append(&log, "");
    let w = start(dir.path(), &[]);
    w.wait("ready", Duration::from_secs(30), |w| w.metrics().is_some());
    // Idle: ready, one file followed, nothing written.
    std::thread::sleep(Duration::from_secs(1));
    let idle = w.rss_mib();

    // Sustained load: 20 000 lines/s (1 in 100 a denial) for 10 s.
    let rate = 20_000u64;
    let secs = 10u64;
    let mut peak: f64 = 0.0;
    let start_t = Instant::now();
    let mut n = 0u64;
    let mut denials = 0u64;
    for s in 0..secs {
        let mut buf = String::with_capacity(rate as usize * 300);
        for _ in 0..rate {
            if n.is_multiple_of(100) {
                buf += &line(n);
                denials += 1;
            } else {
                buf += &filler(n);
            }
            n += 1;
        }
        // Ten writes a second.
        for part in buf.as_bytes().chunks(buf.len().div_ceil(10)) {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&log)
                .expect("open");
            f.write_all(part).expect("write");
            std::thread::sleep(Duration::from_millis(95));
        }
        peak = peak.max(w.rss_mib());
        let _ = s;
    }
    let want = n as f64;
    w.wait("the load to be read", Duration::from_secs(120), |w| {
        w.records() >= want
    });
    peak = peak.max(w.rss_mib());
    assert_eq!(w.denials(), denials as f64);
    let elapsed = start_t.elapsed().as_secs_f64();
    println!(
        "watch/rss      idle {idle:.1} MiB; under {rate} lines/s for {secs} s: peak {peak:.1} MiB ({n} lines in {elapsed:.1} s)"
    );

    // Catch-up: half a million lines written at once.
    let burst = 500_000u64;
    let mut buf = String::with_capacity(burst as usize * 200);
    for i in 0..burst {
        buf += &filler(n + i);
    }
    let bytes = buf.len();
    let before = w.records();
    let t0 = Instant::now();
    append(&log, &buf);
    let want = before + burst as f64;
    w.wait("the burst", Duration::from_secs(300), |w| {
        w.records() >= want
    });
    let s = t0.elapsed().as_secs_f64();
    println!(
        "watch/catch-up {burst} lines ({:.0} MB) in {s:.2} s: {:.0} lines/s, {:.0} MB/s; RSS after {:.1} MiB",
        bytes as f64 / 1e6,
        burst as f64 / s,
        bytes as f64 / 1e6 / s,
        w.rss_mib()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --all-targets` only
    // a smoke run.
    if !std::env::args().any(|a| a == "--bench") {
        latency(&[], 3);
        return;
    }
    latency(&[], 200);
    latency(&["--no-notify", "--poll-interval", "200ms"], 40);
    latency(&["--no-notify", "--poll-interval", "20ms"], 40);
    idle_many_files(&[]);
    idle_many_files(&["--no-notify"]);
    memory_and_throughput();
}
