//! `denytrail watch` end to end: the real binary follows files that the
//! test writes, rotates and truncates; a real Prometheus scrapes it; counts
//! are checked through Prometheus' query API and `/report`; restarts, `kill
//! -9` and SIGTERM keep every event counted exactly once.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::prom::{Prometheus, eventually};
use crate::util::bin;

pub const ACCOUNT: &str = "123456789012";

/// A CloudTrail record (one JSON line) of a denial of `action` for the IAM
/// role `principal`, with event ID `id`.
pub fn denial_line(principal: &str, action: &str, id: &str) -> String {
    denial_line_with(
        principal,
        action,
        id,
        "because no identity-based policy allows the {a} action",
    )
}

/// Same, with an explicit deny in a service control policy.
pub fn scp_denial_line(principal: &str, action: &str, id: &str) -> String {
    denial_line_with(
        principal,
        action,
        id,
        "with an explicit deny in a service control policy: arn:aws:organizations::111111111111:policy/o-abc/service_control_policy/p-deny",
    )
}

fn denial_line_with(principal: &str, action: &str, id: &str, tail: &str) -> String {
    let (service, name) = action.split_once(':').unwrap_or(("iam", action));
    let arn = format!("arn:aws:iam::{ACCOUNT}:role/{principal}");
    let resource = if action == "iam:PassRole" {
        format!("arn:aws:iam::{ACCOUNT}:role/x")
    } else {
        format!("arn:aws:{service}:us-east-1:{ACCOUNT}:profilingGroup/pg")
    };
    let tail = tail.replace("{a}", action);
    let rec = serde_json::json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "AssumedRole", "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{principal}/session-{id}"),
            "accountId": ACCOUNT,
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": arn, "accountId": ACCOUNT}}},
        "eventTime": "2024-05-01T12:00:00Z",
        "eventSource": format!("{service}.amazonaws.com"),
        "eventName": name,
        "awsRegion": "us-east-1",
        "errorCode": "AccessDenied",
        "errorMessage": format!("User: arn:aws:sts::{ACCOUNT}:assumed-role/{principal}/session-{id} is not authorized to perform: {action} on resource: {resource} {tail}"),
        "eventID": id,
        "recipientAccountId": ACCOUNT,
    });
    format!("{rec}\n")
}

/// The principal label a role gets.
pub fn role(principal: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{principal}")
}

/// Append to a file (open, write, close: like a logger that reopens).
pub fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open log for append");
    f.write_all(text.as_bytes()).expect("append");
}

/// Expected per-group counts, and the lines that produce them.
#[derive(Default)]
pub struct Corpus {
    pub want: BTreeMap<(String, String), u64>,
    next_id: u64,
    prefix: String,
}

impl Corpus {
    pub fn new(prefix: &str) -> Corpus {
        Corpus {
            prefix: prefix.to_string(),
            ..Corpus::default()
        }
    }

    /// `n` denials of `principal` on `action`, each a new event.
    pub fn lines(&mut self, principal: &str, action: &str, n: u64) -> String {
        let mut s = String::new();
        for _ in 0..n {
            self.next_id += 1;
            s += &denial_line(
                principal,
                action,
                &format!("{}-{:08}", self.prefix, self.next_id),
            );
        }
        *self
            .want
            .entry((role(principal), action.to_string()))
            .or_insert(0) += n;
        s
    }
}

/// Spawn a prepared `denytrail watch` command with stderr captured (each
/// line kept in the returned log) and wait, at most 30 s, for the address
/// it says it listens on. Panics with the log if it never does.
pub fn spawn_listening(mut cmd: Command) -> (Child, String, Arc<Mutex<Vec<String>>>) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn denytrail watch");
    let stderr = child.stderr.take().expect("stderr");
    let logs = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    {
        let logs = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(i) = line.find("listening on ") {
                    let addr = line[i + "listening on ".len()..]
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let _ = tx.send(addr);
                }
                logs.lock().expect("log lock").push(line);
            }
        });
    }
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(addr) => (child, addr, logs),
        Err(_) => {
            let _ = child.kill();
            panic!(
                "denytrail watch did not start listening; log:\n{}",
                logs.lock().expect("log lock").join("\n")
            );
        }
    }
}

/// A running `denytrail watch`, killed when dropped.
pub struct Watch {
    child: Child,
    pub addr: String,
    pub stdin: Option<ChildStdin>,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Watch {
    /// Start `denytrail watch ARGS --listen 127.0.0.1:0` and wait for the
    /// address it bound.
    pub fn start(args: &[&str]) -> Watch {
        Self::start_with(args, false)
    }

    /// Same, with `env` set (and `AWS_PROFILE` unset).
    pub fn start_env(args: &[&str], env: &[(&str, &str)]) -> Watch {
        let mut cmd = Command::new(bin());
        cmd.arg("watch")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .env("DENYTRAIL_LOG", "info")
            .envs(env.iter().copied())
            .env_remove("AWS_PROFILE")
            .stdin(Stdio::null());
        let (child, addr, logs) = spawn_listening(cmd);
        Watch::from_spawned(child, addr, logs)
    }

    /// Same, with a pipe on stdin.
    pub fn start_with(args: &[&str], stdin: bool) -> Watch {
        let listen: &[&str] = if args.contains(&"--listen") {
            &[]
        } else {
            &["--listen", "127.0.0.1:0"]
        };
        let mut cmd = Command::new(bin());
        cmd.arg("watch")
            .args(args)
            .args(listen)
            .env("DENYTRAIL_LOG", "info")
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() });
        let (mut child, addr, logs) = spawn_listening(cmd);
        let stdin = child.stdin.take();
        Watch {
            child,
            addr,
            stdin,
            logs,
        }
    }

    /// Wrap a process that [`spawn_listening`] started (`docker run …`).
    pub fn from_spawned(child: Child, addr: String, logs: Arc<Mutex<Vec<String>>>) -> Watch {
        Watch {
            child,
            addr,
            stdin: None,
            logs,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// GET a path: (status, body).
    pub fn get(&self, path: &str) -> Result<(u16, String), String> {
        let mut r = ureq::get(&format!("http://{}{path}", self.addr))
            .config()
            .http_status_as_error(false)
            .build()
            .call()
            .map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        let body = r.body_mut().read_to_string().map_err(|e| e.to_string())?;
        Ok((status, body))
    }

    /// The `/metrics` text once ready.
    pub fn metrics(&self) -> Result<String, String> {
        match self.get("/metrics")? {
            (200, b) => Ok(b),
            (s, b) => Err(format!("/metrics: {s} {b}")),
        }
    }

    /// The value of one sample in `/metrics` (`name{labels}` as printed).
    pub fn sample(&self, series: &str) -> Result<f64, String> {
        let text = self.metrics()?;
        metric_value(&text, series).ok_or_else(|| format!("no {series} in /metrics"))
    }

    /// `/report` as JSON.
    pub fn report(&self) -> Result<serde_json::Value, String> {
        match self.get("/report")? {
            (200, b) => serde_json::from_str(&b).map_err(|e| e.to_string()),
            (s, b) => Err(format!("/report: {s} {b}")),
        }
    }

    /// Per-group counts of `/report`.
    pub fn report_groups(&self) -> Result<BTreeMap<(String, String), u64>, String> {
        let r = self.report()?;
        Ok(r["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|g| {
                (
                    (
                        g["principal"].as_str().unwrap_or_default().to_string(),
                        g["action"].as_str().unwrap_or_default().to_string(),
                    ),
                    g["count"].as_u64().unwrap_or(0),
                )
            })
            .collect())
    }

    /// Wait until `/report` shows exactly `want`.
    pub fn wait_report(&self, want: &BTreeMap<(String, String), u64>) {
        eventually(
            Duration::from_secs(60),
            "/report to show the denials written",
            || {
                let got = self.report_groups()?;
                if &got == want {
                    Ok(())
                } else {
                    Err(format!("got {got:?}, want {want:?}\nlog:\n{}", self.log()))
                }
            },
        )
    }

    /// Send SIGTERM.
    pub fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -TERM failed");
    }

    /// SIGKILL and reap.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Wait for the process to exit (bounded).
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        eventually(timeout, "denytrail to exit", || {
            self.child
                .try_wait()
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "still running".to_string())
        })
    }

    /// Resident memory, from /proc/PID/status, in bytes.
    pub fn rss(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("status");
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .expect("VmRSS")
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `series` (exactly as the exposition prints name and
/// labels) in a `/metrics` text.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?;
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

fn dir_arg(d: &Path, glob: &str) -> String {
    d.join(glob).display().to_string()
}

fn checkpoint(state: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(state.join("checkpoint.json")).expect("checkpoint.json");
    serde_json::from_str(&text).expect("checkpoint is JSON")
}

struct Setup {
    dir: tempfile::TempDir,
    logs: PathBuf,
    state: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&logs).unwrap();
    Setup { dir, logs, state }
}

fn watch_args<'a>(glob: &'a str, state: &'a str) -> Vec<&'a str> {
    vec![
        "--file",
        glob,
        "--from",
        "start",
        "--state-dir",
        state,
        "--poll-interval",
        "50ms",
        "--checkpoint-interval",
        "200ms",
    ]
}

#[test]
fn appended_denials_reach_prometheus() {
    let s = setup();
    let log = s.logs.join("app.log");
    let mut c = Corpus::new("append");
    append(&log, &c.lines("Deployer", "iam:PassRole", 3));
    let glob = dir_arg(&s.logs, "*.log");
    let state = s.state.display().to_string();
    let w = Watch::start(&watch_args(&glob, &state));
    let p = Prometheus::start(std::slice::from_ref(&w.addr));
    p.wait_denials(&c.want);
    // A partial line waits for its end.
    let more = c.lines("ProfilerAgent", "codeguru-profiler:ConfigureAgent", 4)
        + &c.lines("Deployer", "iam:PassRole", 2);
    let (head, tail) = more.split_at(more.len() - 10);
    append(&log, head);
    append(
        &s.logs.join("other.log"),
        &c.lines("Builder", "iam:PassRole", 1),
    );
    append(&log, tail);
    p.wait_denials(&c.want);
    w.wait_report(&c.want);
    let r = w.report().unwrap();
    assert_eq!(r["summary"]["denials"], 10);
    assert_eq!(r["summary"]["errors"], 0, "{r}");
    // Readiness and health.
    assert_eq!(w.get("/healthz").unwrap().0, 200);
    assert_eq!(w.get("/readyz").unwrap().0, 200);
    let up = p.query("up{job=\"denytrail\"}").unwrap();
    assert_eq!(up[0].value, 1.0);
    // stderr is a pipe here, as when logs go to a file: no colour codes.
    let log = w.log();
    assert!(log.contains("listening on"), "{log}");
    assert!(
        !log.contains('\x1b'),
        "ANSI codes in a log that is not a terminal: {log:?}"
    );
}

/// While checkpoints cannot be written, `/readyz` says so (503) and no
/// temp file is left behind; counting goes on, and once a write succeeds
/// the sidecar is ready again.
#[test]
fn readyz_fails_while_checkpoints_cannot_be_written() {
    let s = setup();
    let log = s.logs.join("app.log");
    let mut c = Corpus::new("ckfail");
    append(&log, &c.lines("A", "iam:PassRole", 2));
    let glob = dir_arg(&s.logs, "*.log");
    let state = s.state.display().to_string();
    let w = Watch::start(&watch_args(&glob, &state));
    w.wait_report(&c.want);
    let ck = s.state.join("checkpoint.json");
    let readyz = |want: u16, says: &str| match w.get("/readyz")? {
        (code, body) if code == want && body.contains(says) => Ok(()),
        other => Err(format!("/readyz: {other:?}")),
    };
    eventually(Duration::from_secs(30), "ready, checkpoint written", || {
        readyz(200, "ready")?;
        if ck.is_file() {
            Ok(())
        } else {
            Err("no checkpoint yet".into())
        }
    });
    // The checkpoint's name now holds a directory: each write fails at the
    // rename, as on a full or read-only state directory.
    std::fs::remove_file(&ck).unwrap();
    std::fs::create_dir_all(ck.join("in-the-way")).unwrap();
    append(&log, &c.lines("A", "iam:PassRole", 1));
    eventually(
        Duration::from_secs(30),
        "/readyz to fail while checkpoints fail",
        || readyz(503, "checkpoints cannot be written"),
    );
    assert!(
        !s.state.join("checkpoint.json.tmp").exists(),
        "temp file left behind"
    );
    let errors = w
        .sample("denytrail_checkpoint_writes_total{outcome=\"error\"}")
        .unwrap();
    assert!(errors >= 1.0, "{errors}");
    w.wait_report(&c.want);
    // Out of the way again: the next write succeeds, ready again.
    std::fs::remove_dir_all(&ck).unwrap();
    append(&log, &c.lines("B", "iam:PassRole", 1));
    eventually(Duration::from_secs(30), "/readyz to recover", || {
        readyz(200, "ready")
    });
    assert!(ck.is_file());
    w.wait_report(&c.want);
}

/// One sidecar per state directory: a second one on the same directory
/// exits 2 at once, saying which directory and what to do; the first goes
/// on. After the first is killed (-9), its lock is gone and a new one starts.
#[test]
fn a_second_sidecar_on_one_state_dir_exits_2() {
    let s = setup();
    let glob = dir_arg(&s.logs, "*.log");
    let state = s.state.display().to_string();
    let first = Watch::start(&watch_args(&glob, &state));
    let mut second = Command::new(bin())
        .arg("watch")
        .args(watch_args(&glob, &state))
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = eventually(
        Duration::from_secs(30),
        "the second sidecar to exit",
        || {
            second
                .try_wait()
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "still running".to_string())
        },
    );
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("in use by another denytrail watch"), "{err}");
    assert!(err.contains(&state), "names the directory: {err}");
    assert_eq!(first.get("/healthz").unwrap().0, 200, "the first goes on");
    first.kill9();
    let again = Watch::start(&watch_args(&glob, &state));
    assert_eq!(again.get("/healthz").unwrap().0, 200);
}

#[test]
fn rotation_by_rename_reads_the_old_file_to_its_end_and_the_new_one() {
    let s = setup();
    let log = s.logs.join("app.log");
    let mut c = Corpus::new("rename");
    append(&log, &c.lines("A", "iam:PassRole", 5));
    let glob = dir_arg(&s.logs, "app.log*");
    let state = s.state.display().to_string();
    let w = Watch::start(&watch_args(&glob, &state));
    let p = Prometheus::start(std::slice::from_ref(&w.addr));
    p.wait_denials(&c.want);
    // logrotate `create`: move away, the writer still writes a little to
    // the old file, a new file appears at the path.
    let old = s.logs.join("app.log.1");
    std::fs::rename(&log, &old).unwrap();
    append(&old, &c.lines("A", "iam:PassRole", 2));
    append(&log, &c.lines("B", "iam:PassRole", 3));
    // The rotated file is compressed next to it: not read a second time.
    let gz = s.logs.join("app.log.1.gz");
    std::fs::write(&gz, gzip_stored(&std::fs::read(&old).unwrap())).unwrap();
    std::fs::remove_file(&old).unwrap();
    append(&log, &c.lines("B", "iam:PassRole", 1));
    p.wait_denials(&c.want);
    w.wait_report(&c.want);
    // A second rotation, to a name outside the glob.
    let away = s.logs.join("archived");
    std::fs::rename(&log, &away).unwrap();
    append(&away, &c.lines("C", "iam:PassRole", 2));
    append(&log, &c.lines("C", "iam:PassRole", 2));
    p.wait_denials(&c.want);
    eventually(
        Duration::from_secs(30),
        "the rename rotation to be counted",
        || {
            let v = w.sample("denytrail_file_rotations_total{kind=\"rename\"}")?;
            if v >= 1.0 {
                Ok(())
            } else {
                Err(format!("{v}"))
            }
        },
    );
}

/// A gzip member holding `data` (the test writes it by hand: stored
/// blocks, so no compression library is needed).
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[][..]]
    } else {
        data.chunks(65535).collect()
    };
    for (i, ch) in chunks.iter().enumerate() {
        out.push(u8::from(i + 1 == chunks.len()));
        let len = ch.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(ch);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xedb8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[test]
fn rotation_by_truncate_restarts_at_zero() {
    let s = setup();
    let log = s.logs.join("app.log");
    let mut c = Corpus::new("truncate");
    append(&log, &c.lines("A", "iam:PassRole", 6));
    let glob = dir_arg(&s.logs, "*.log");
    let state = s.state.display().to_string();
    let w = Watch::start(&watch_args(&glob, &state));
    let p = Prometheus::start(std::slice::from_ref(&w.addr));
    p.wait_denials(&c.want);
    // logrotate `copytruncate`: copy away (outside the glob), cut in place.
    std::fs::copy(&log, s.logs.join("app.log.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&log, &c.lines("B", "iam:PassRole", 2));
    p.wait_denials(&c.want);
    eventually(
        Duration::from_secs(30),
        "the truncation to be counted",
        || {
            let v = w.sample("denytrail_file_rotations_total{kind=\"truncate\"}")?;
            if v >= 1.0 {
                Ok(())
            } else {
                Err(format!("{v}"))
            }
        },
    );
    // Cut again and refilled past the old offset before the next poll can
    // see it short: the changed first line gives it away.
    let refill = c.lines("C", "iam:PassRole", 8);
    std::fs::write(&log, refill).unwrap();
    p.wait_denials(&c.want);
    w.wait_report(&c.want);
}

#[test]
fn sigterm_exits_zero_after_writing_the_checkpoint() {
    let s = setup();
    let log = s.logs.join("app.log");
    let mut c = Corpus::new("term");
    append(&log, &c.lines("A", "iam:PassRole", 4));
    let glob = dir_arg(&s.logs, "*.log");
    let state = s.state.display().to_string();
    let mut args = watch_args(&glob, &state);
    // Only the shutdown checkpoint can have the last lines.
    let at = args
        .iter()
        .position(|a| *a == "--checkpoint-interval")
        .unwrap();
    args[at + 1] = "1h";
    let mut w = Watch::start(&args);
    w.wait_report(&c.want);
    append(&log, &c.lines("A", "iam:PassRole", 1));
    w.wait_report(&c.want);
    w.sigterm();
    let status = w.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "log:\n{}", w.log());
    let ck = checkpoint(&s.state);
    let size = std::fs::metadata(&log).unwrap().len();
    assert_eq!(ck["files"][0]["offset"], size, "{ck}");
    assert_eq!(ck["tally"]["series"][0]["labels"][0]["count"], 5, "{ck}");
}

#[test]
fn restart_resumes_from_the_checkpoint_without_counter_resets() {
    let s = setup();
    let log = s.logs.join("app.log");
    let mut c = Corpus::new("restart");
    append(&log, &c.lines("A", "iam:PassRole", 4));
    let glob = dir_arg(&s.logs, "*.log");
    let state = s.state.display().to_string();
    let args = watch_args(&glob, &state);
    let port = crate::prom::free_port();
    let listen = format!("127.0.0.1:{port}");
    let start = |extra: &[&str]| {
        let mut a: Vec<&str> = args.clone();
        a.extend_from_slice(extra);
        Watch::start_listen(&a, &listen)
    };
    let mut w = start(&[]);
    let p = Prometheus::start(std::slice::from_ref(&w.addr));
    p.wait_denials(&c.want);
    w.sigterm();
    assert_eq!(w.wait_exit(Duration::from_secs(10)).code(), Some(0));
    drop(w);
    // Written while stopped: read after the restart, from the checkpoint.
    append(&log, &c.lines("A", "iam:PassRole", 3));
    append(&log, &c.lines("B", "iam:PassRole", 2));
    let w = start(&[]);
    w.wait_report(&c.want);
    p.wait_denials(&c.want);
    let r = w.report().unwrap();
    assert_eq!(r["summary"]["duplicates"], 0);
    // The counters were re-seeded: Prometheus saw no reset.
    let resets = p
        .query("sum(resets(denytrail_denials_total[10m]))")
        .unwrap();
    assert_eq!(resets.first().map(|s| s.value), Some(0.0), "{resets:?}");
}

#[test]
fn kill_9_then_restart_counts_every_event_once() {
    let s = setup();
    let log = s.logs.join("app.log");
    let mut c = Corpus::new("kill");
    append(&log, &c.lines("A", "iam:PassRole", 20));
    let glob = dir_arg(&s.logs, "*.log");
    let state = s.state.display().to_string();
    let args = watch_args(&glob, &state);
    let port = crate::prom::free_port();
    let listen = format!("127.0.0.1:{port}");
    let w = Watch::start_listen(&args, &listen);
    let p = Prometheus::start(std::slice::from_ref(&w.addr));
    p.wait_denials(&c.want);
    eventually(Duration::from_secs(30), "a checkpoint", || {
        let v = w.sample("denytrail_checkpoint_writes_total{outcome=\"ok\"}")?;
        if v >= 1.0 {
            Ok(())
        } else {
            Err(format!("{v}"))
        }
    });
    // Lines counted (or not yet) after the last checkpoint, then SIGKILL:
    // whatever was counted since the checkpoint is read and counted again
    // from the checkpoint's totals, so nothing is lost or doubled.
    append(&log, &c.lines("A", "iam:PassRole", 50));
    append(
        &log,
        &c.lines("B", "codeguru-profiler:PostAgentProfile", 30),
    );
    w.kill9();
    append(&log, &c.lines("B", "codeguru-profiler:PostAgentProfile", 5));
    let w = Watch::start_listen(&args, &listen);
    w.wait_report(&c.want);
    p.wait_denials(&c.want);
    let resets = p
        .query("sum(resets(denytrail_denials_total[10m]))")
        .unwrap();
    assert_eq!(resets.first().map(|s| s.value), Some(0.0), "{resets:?}");
}

impl Watch {
    /// Start on a fixed address (restarts keep the scrape target).
    pub fn start_listen(args: &[&str], listen: &str) -> Watch {
        let mut a: Vec<&str> = args.to_vec();
        a.extend(["--listen", listen]);
        Self::start(&a)
    }
}

#[test]
fn a_million_principals_keep_memory_flat() {
    let w = Watch::start_with(
        &["--stdin", "--max-series", "100", "--series-ttl", "0"],
        true,
    );
    let mut stdin = w.stdin.as_ref().expect("stdin pipe");
    let write = |stdin: &mut &ChildStdin, from: u64, to: u64| {
        let mut buf = String::with_capacity(8 << 20);
        for i in from..to {
            buf += &denial_line(
                &format!("role-{i:07}"),
                "iam:PassRole",
                &format!("ev-{i:07}"),
            );
            if buf.len() > (4 << 20) {
                stdin.write_all(buf.as_bytes()).expect("write to denytrail");
                buf.clear();
            }
        }
        stdin.write_all(buf.as_bytes()).expect("write to denytrail");
    };
    let wait_records = |n: u64| {
        eventually(
            Duration::from_secs(300),
            "denytrail to scan the lines",
            || {
                let v = w.sample("denytrail_records_scanned_total{source_kind=\"stdin\"}")?;
                if v as u64 == n {
                    Ok(())
                } else {
                    Err(format!("{v} of {n}"))
                }
            },
        )
    };
    write(&mut stdin, 0, 100_000);
    wait_records(100_000);
    let rss_100k = w.rss();
    write(&mut stdin, 100_000, 1_000_000);
    wait_records(1_000_000);
    let rss_1m = w.rss();
    let m = w.metrics().unwrap();
    let folded = metric_value(&m, "denytrail_series_folded_total").unwrap();
    let series = metric_value(&m, "denytrail_series").unwrap();
    eprintln!(
        "RSS at 100k principals: {:.1} MiB; at 1M: {:.1} MiB; growth {:.1} MiB; series {series}; folded {folded}",
        rss_100k as f64 / 1048576.0,
        rss_1m as f64 / 1048576.0,
        (rss_1m as f64 - rss_100k as f64) / 1048576.0
    );
    assert_eq!(folded, 999_900.0);
    assert!(series <= 201.0, "{series}");
    let r = w.report().unwrap();
    assert_eq!(r["summary"]["denials"], 1_000_000);
    assert!(r["groups"].as_array().unwrap().len() <= 201);
    assert!(
        rss_1m < rss_100k + 30 * 1024 * 1024,
        "RSS grew from {rss_100k} to {rss_1m} bytes"
    );
}

/// Start `denytrail watch ARGS` under a descriptor limit of `fds`.
fn start_with_fd_limit(fds: u32, args: &[&str]) -> Watch {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -n {fds} && exec \"$0\" \"$@\""))
        .arg(bin())
        .arg("watch")
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .env("DENYTRAIL_LOG", "info")
        .stdin(Stdio::null());
    let (child, addr, logs) = spawn_listening(cmd);
    Watch::from_spawned(child, addr, logs)
}

/// Far more files than descriptors (400 files, `ulimit -n 64`, the default
/// --max-open-files of 512): every file is followed, and after a restart
/// each one resumes at its checkpoint offset. An open that fails for want
/// of a descriptor is tried again later; it never loses a file, and never
/// makes one be read again from 0 (which would show as duplicates).
#[test]
fn far_more_files_than_descriptors_count_every_line_once() {
    let s = setup();
    let n = 400;
    let mut c = Corpus::new("fds");
    let path = |k: usize| s.logs.join(format!("f{k:04}.log"));
    for k in 0..n {
        append(
            &path(k),
            &c.lines(&format!("P{}", k % 7), "iam:PassRole", 1),
        );
    }
    let glob = dir_arg(&s.logs, "*.log");
    let state = s.state.display().to_string();
    let args = watch_args(&glob, &state);
    let mut w = start_with_fd_limit(64, &args);
    w.wait_report(&c.want);
    assert!(
        w.log().contains("out of file descriptors"),
        "the limit was not reached, so this test proves nothing:\n{}",
        w.log()
    );
    w.sigterm();
    assert_eq!(w.wait_exit(Duration::from_secs(10)).code(), Some(0));
    drop(w);
    // Written while stopped: read after the restart, from the checkpoint.
    for k in 0..n {
        append(
            &path(k),
            &c.lines(&format!("P{}", k % 5), "iam:PassRole", 1),
        );
    }
    let w = start_with_fd_limit(64, &args);
    w.wait_report(&c.want);
    let r = w.report().unwrap();
    assert_eq!(r["summary"]["duplicates"], 0, "{}", w.log());
    assert_eq!(r["summary"]["errors"], 0, "{r}");
    assert_eq!(w.get("/readyz").unwrap().0, 200);
    // Appends now reach the files closed to stay under the bound.
    for k in (0..n).step_by(37) {
        append(&path(k), &c.lines("Late", "iam:PassRole", 1));
    }
    w.wait_report(&c.want);
}

/// With change notification, an append is counted without any polling
/// (polls and sweeps are an hour apart here), and so is a rename rotation.
#[test]
fn change_notification_delivers_appends_and_rotations_without_polling() {
    let s = setup();
    let log = s.logs.join("app.log");
    let mut c = Corpus::new("notify");
    append(&log, &c.lines("A", "iam:PassRole", 2));
    let glob = dir_arg(&s.logs, "app.log*");
    let state = s.state.display().to_string();
    let mut args = watch_args(&glob, &state);
    let at = args.iter().position(|a| *a == "--poll-interval").unwrap();
    args[at + 1] = "1h";
    args.extend(["--rescan-interval", "1h"]);
    let w = Watch::start(&args);
    w.wait_report(&c.want);
    eventually(Duration::from_secs(30), "ready", || {
        match w.get("/readyz")?.0 {
            200 => Ok(()),
            s => Err(format!("{s}")),
        }
    });
    append(&log, &c.lines("B", "iam:PassRole", 3));
    w.wait_report(&c.want);
    // Rotated inside the globs, then a new file at the path.
    std::fs::rename(&log, s.logs.join("app.log.1")).unwrap();
    append(&s.logs.join("app.log.1"), &c.lines("C", "iam:PassRole", 1));
    append(&log, &c.lines("D", "iam:PassRole", 2));
    w.wait_report(&c.want);
    let r = w.report().unwrap();
    assert_eq!(r["summary"]["duplicates"], 0, "{r}");
}
