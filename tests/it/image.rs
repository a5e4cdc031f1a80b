//! The container image, really built and run: `deploy/build-image.sh` packs
//! the binary under test into a `FROM scratch` image on a Docker engine that
//! this test starts itself (its own data root, exec root and socket under a
//! temporary directory; no bridge, no iptables) and stops at the end.
//! Containers run only with `--network none` or `--network host`; every
//! server binds 127.0.0.1.
//!
//! One test runs every scenario in turn on the one engine: the image's size
//! and layout, `replay` of a mounted corpus, the sidecar scraped by a real
//! Prometheus across `docker kill` and a restart, and `replay s3://…` from
//! moto over TLS checked against a test CA mounted over the image's bundle.
//!
//! A machine where dockerd cannot start fails the test. `DENYTRAIL_NO_DOCKER=1`
//! says there is no usable Docker engine here (an unprivileged container,
//! where dockerd may even start but cannot build or run an image): the test
//! then prints "NOT RUN: …" and passes without trying.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use denytrail::generate::Truth;
use denytrail::report::Report;
use serde_json::Value;

use crate::moto::{ENV as AWS_ENV, Moto};
use crate::prom::{Prometheus, eventually, free_port};
use crate::util::{bin, repo, require_tool, run};
use crate::watch::{Corpus, Watch, append, spawn_listening};

/// The bound on the image, in bytes (`docker image inspect .Size`).
const MAX_IMAGE_BYTES: u64 = 40_000_000;
/// The image's user and group (distroless' "nonroot").
const NONROOT: u32 = 65532;
const TAG: &str = "denytrail:image-test";
const STATE: &str = "/var/lib/denytrail";

#[test]
fn image_is_small_and_runs_replay_watch_and_s3_as_nonroot() {
    if std::env::var("DENYTRAIL_NO_DOCKER").as_deref() == Ok("1") {
        eprintln!(
            "NOT RUN: the container image tests (DENYTRAIL_NO_DOCKER=1: no usable Docker engine here)"
        );
        return;
    }
    let engine = match Engine::start() {
        Ok(e) => e,
        Err(why) => panic!(
            "cannot start a Docker engine for the container image tests: {why}\n\
             Run `bash .ci/setup` (it installs docker.io) as root; on a machine where dockerd \
             cannot run, set DENYTRAIL_NO_DOCKER=1 to skip these tests."
        ),
    };
    build_and_inspect(&engine);
    replay_of_a_mounted_corpus(&engine);
    sidecar_survives_docker_kill(&engine);
    s3_replay_over_tls(&engine);
    engine.stop();
}

// ------------------------------------------------------------ the engine

/// A dockerd of the test's own, stopped by [`Engine::stop`] or on drop.
struct Engine {
    child: Option<Child>,
    dir: tempfile::TempDir,
    docker: PathBuf,
}

fn find(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

impl Engine {
    fn start() -> Result<Engine, String> {
        let install = "not installed (`bash .ci/setup` installs docker.io)";
        let dockerd = find("dockerd").ok_or(format!("dockerd is {install}"))?;
        let docker = find("docker").ok_or(format!("docker is {install}"))?;
        // Short paths: the sockets under it must fit in sun_path.
        let dir = tempfile::Builder::new()
            .prefix("dtd")
            .tempdir_in("/tmp")
            .map_err(|e| format!("tempdir: {e}"))?;
        let d = dir.path();
        fs::create_dir(d.join("config")).map_err(|e| e.to_string())?;
        let log = fs::File::create(d.join("dockerd.log")).map_err(|e| e.to_string())?;
        let child = Command::new(&dockerd)
            .args(["--bridge=none", "--iptables=false"])
            .arg(format!("--data-root={}", d.join("data").display()))
            .arg(format!("--exec-root={}", d.join("x").display()))
            .arg(format!("--pidfile={}", d.join("dockerd.pid").display()))
            .arg(format!("--host=unix://{}", d.join("s").display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", dockerd.display()))?;
        let mut e = Engine {
            child: Some(child),
            dir,
            docker,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let status = e.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = status {
                return Err(format!(
                    "dockerd exited with {status}; its log:\n{}",
                    e.log()
                ));
            }
            let info = e.docker().arg("info").output();
            if info.is_ok_and(|o| o.status.success()) {
                return Ok(e);
            }
            if std::time::Instant::now() > deadline {
                return Err(format!(
                    "dockerd did not answer `docker info` within 60 s; its log:\n{}",
                    e.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self) -> String {
        let text = fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// The environment that points a docker client (or the build script)
    /// at this engine and nowhere else.
    fn env(&self, c: &mut Command) {
        c.env(
            "DOCKER_HOST",
            format!("unix://{}", self.dir.path().join("s").display()),
        )
        .env("DOCKER_CONFIG", self.dir.path().join("config"));
    }

    fn docker(&self) -> Command {
        let mut c = Command::new(&self.docker);
        self.env(&mut c);
        c
    }

    /// Run `docker ARGS`.
    fn run(&self, args: &[&str]) -> Output {
        self.docker()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run docker")
    }

    /// Run `docker ARGS`, which must succeed; its stdout, trimmed.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "docker {}: {}\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Remove every container, then SIGTERM dockerd and wait (bounded) for
    /// it to exit.
    fn shutdown(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(out) = self.docker().args(["ps", "-aq"]).output() {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = self.docker().args(["rm", "-f", "-v", id]).output();
            }
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Stop the engine; it must exit on SIGTERM and leave no mount behind.
    fn stop(mut self) {
        let status = self.shutdown();
        assert!(
            status.is_some(),
            "dockerd did not exit within 30 s of SIGTERM; log:\n{}",
            self.log()
        );
        let left = self.unmount();
        assert!(
            left.is_empty(),
            "mounts under the engine's directory: {left:?}"
        );
    }

    /// Mount points under the engine's directory, innermost first.
    fn mounts(&self) -> Vec<String> {
        let root = format!("{}/", self.dir.path().display());
        let table = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let mut points: Vec<String> = table
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|p| p.starts_with(&root))
            .map(str::to_string)
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        points
    }

    /// Unmount what dockerd leaves behind (it keeps the bind mount of its
    /// default network namespace after exiting), so that the directory can
    /// be removed; what is still mounted afterwards.
    fn unmount(&self) -> Vec<String> {
        for p in self.mounts() {
            let _ = Command::new("umount").args(["-l", &p]).status();
        }
        self.mounts()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
        self.unmount();
    }
}

/// A named container, removed (with its anonymous volumes) when dropped.
struct Container<'a> {
    engine: &'a Engine,
    name: String,
}

impl<'a> Container<'a> {
    fn named(engine: &'a Engine, what: &str) -> Container<'a> {
        let name = format!("dt-{what}-{}", std::process::id());
        let _ = engine.run(&["rm", "-f", "-v", &name]);
        Container { engine, name }
    }

    fn inspect(&self, format: &str) -> String {
        self.engine.ok(&["inspect", "-f", format, &self.name])
    }

    /// Wait (bounded) until the container has stopped; its exit code.
    fn wait_stopped(&self) -> i64 {
        eventually(
            Duration::from_secs(30),
            "the container to stop",
            || match self
                .inspect("{{.State.Running}} {{.State.ExitCode}}")
                .split_once(' ')
            {
                Some(("false", code)) => code.parse().map_err(|e| format!("{code}: {e}")),
                other => Err(format!("{other:?}")),
            },
        )
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = self.engine.run(&["rm", "-f", "-v", &self.name]);
    }
}

fn world_readable(dir: &Path) {
    for e in walkdir::WalkDir::new(dir) {
        let e = e.expect("walk");
        let mode = if e.file_type().is_dir() { 0o755 } else { 0o644 };
        fs::set_permissions(e.path(), fs::Permissions::from_mode(mode)).expect("chmod");
    }
}

/// The generator's corpus (3000 records, 5 % denials), readable by the
/// container's nonroot user.
fn generate(dir: &Path, seed: &str, formats: &str) -> Truth {
    let truth = crate::formats::generate(dir, seed, "3000", "0.05", formats);
    world_readable(dir);
    truth
}

/// (principal, action, count) of every group, sorted.
fn groups(r: &Report) -> Vec<(String, String, u64)> {
    let mut g: Vec<_> = r
        .groups
        .iter()
        .map(|g| (g.principal.clone(), g.action.clone(), g.count))
        .collect();
    g.sort();
    g
}

fn truth_groups(t: &Truth) -> Vec<(String, String, u64)> {
    let mut g: Vec<_> = t
        .groups_all
        .iter()
        .map(|g| (g.principal.clone(), g.action.clone(), g.count))
        .collect();
    g.sort();
    g
}

fn report(out: &Output, what: &str) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{what}: {stderr}");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what}: the report is not JSON ({e}); stderr: {stderr}"))
}

// ------------------------------------------------------------ scenarios

/// The build script on the binary under test: an image within the size
/// bound whose config and filesystem are the runtime layout of
/// deploy/Dockerfile, that runs as nonroot with a read-only root.
fn build_and_inspect(e: &Engine) {
    let debug = e.dir.path().join("denytrail.debug");
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("deploy/build-image.sh"))
        .arg(TAG)
        .arg(bin())
        .env("DEBUG_FILE", &debug)
        .stdin(Stdio::null());
    e.env(&mut cmd);
    let out = cmd.output().expect("run deploy/build-image.sh");
    assert!(
        out.status.success(),
        "deploy/build-image.sh: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let debug_len = fs::metadata(&debug).map(|m| m.len()).unwrap_or(0);
    assert!(debug_len > 0, "no debug info kept at {}", debug.display());

    let size: u64 = e
        .ok(&["image", "inspect", "-f", "{{.Size}}", TAG])
        .parse()
        .expect("image size");
    eprintln!("image {TAG}: {size} bytes");
    assert!(
        size <= MAX_IMAGE_BYTES,
        "image is {size} bytes, over {MAX_IMAGE_BYTES}"
    );

    let config: Value =
        serde_json::from_str(&e.ok(&["image", "inspect", "-f", "{{json .Config}}", TAG]))
            .expect("config JSON");
    assert_eq!(config["User"], "65532:65532", "{config}");
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(["/usr/local/bin/denytrail"])
    );
    assert!(config["Volumes"].get(STATE).is_some(), "{config}");
    assert!(config["ExposedPorts"].get("9466/tcp").is_some(), "{config}");

    // The filesystem, as `docker export` gives it.
    let fs_box = Container::named(e, "fs");
    e.ok(&["create", "--name", &fs_box.name, TAG]);
    let tarball = e.dir.path().join("rootfs.tar");
    e.ok(&["export", "-o", tarball.to_str().unwrap(), &fs_box.name]);
    let listing = Command::new("tar")
        .args(["--numeric-owner", "-tvf"])
        .arg(&tarball)
        .output()
        .expect("tar");
    assert!(listing.status.success());
    // path -> (mode string, uid/gid, size)
    let entries: BTreeMap<String, (String, String, u64)> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let name = f.get(5)?.trim_end_matches('/').to_string();
            Some((
                name,
                (f[0].to_string(), f[1].to_string(), f[2].parse().ok()?),
            ))
        })
        .collect();
    let entry = |p: &str| {
        entries
            .get(p)
            .unwrap_or_else(|| panic!("{p} is not in the image: {:?}", entries.keys()))
    };
    let (mode, owner, _) = entry("usr/local/bin/denytrail");
    assert_eq!((mode.as_str(), owner.as_str()), ("-rwxr-xr-x", "0/0"));
    let (mode, owner, _) = entry("var/lib/denytrail");
    assert_eq!(
        (mode.as_str(), owner.as_str()),
        ("drwxr-x---", "65532/65532")
    );
    let (_, _, ca_len) = entry("etc/ssl/certs/ca-certificates.crt");
    let host_ca = fs::metadata("/etc/ssl/certs/ca-certificates.crt").expect("host CA bundle");
    assert!(
        *ca_len > 0 && *ca_len == host_ca.len(),
        "CA bundle {ca_len}"
    );
    // Nothing but the state directory belongs to nonroot; no shell.
    for (path, (_, owner, _)) in &entries {
        assert!(
            owner == "0/0" || path == "var/lib/denytrail",
            "{path} is owned by {owner}"
        );
        let name = path.rsplit('/').next().unwrap_or_default();
        assert!(
            !matches!(name, "sh" | "bash" | "busybox"),
            "{path} in image"
        );
    }
    let passwd = Command::new("tar")
        .args(["-xOf"])
        .arg(&tarball)
        .arg("etc/passwd")
        .output()
        .expect("tar");
    let passwd = String::from_utf8_lossy(&passwd.stdout);
    assert!(passwd.contains("nonroot:x:65532:65532:"), "{passwd}");
    drop(fs_box);

    // The same version as the host binary, in a container with nothing
    // writable and no network.
    let host = run(&["--version"]);
    let inside = e.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--read-only",
        TAG,
        "--version",
    ]);
    assert!(
        inside.status.success(),
        "{}",
        String::from_utf8_lossy(&inside.stderr)
    );
    assert_eq!(inside.stdout, host.stdout);

    // Without --user: the image's user. The sidecar writes its checkpoint
    // to the anonymous volume on /var/lib/denytrail, the only writable path
    // under --read-only, and exits 0 on `docker stop` (SIGTERM to PID 1).
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("app.log");
    append(&log, &Corpus::new("user").lines("A", "iam:PassRole", 3));
    world_readable(logs.path());
    let logs_mount = format!("{}:/logs:ro", logs.path().display());
    let c = Container::named(e, "user");
    e.ok(&[
        "run",
        "-d",
        "--name",
        &c.name,
        "--network",
        "none",
        "--read-only",
        "-e",
        "DENYTRAIL_LOG=info",
        "-v",
        &logs_mount,
        TAG,
        "watch",
        "--file",
        "/logs/*.log",
        "--from",
        "start",
        "--state-dir",
        STATE,
        "--listen",
        "127.0.0.1:9466",
    ]);
    eventually(Duration::from_secs(30), "the sidecar to listen", || {
        let logs = e.run(&["logs", &c.name]);
        let text = String::from_utf8_lossy(&logs.stderr).into_owned();
        if text.contains("listening on") {
            Ok(())
        } else {
            Err(text)
        }
    });
    let pid = c.inspect("{{.State.Pid}}");
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    for key in ["Uid:", "Gid:"] {
        let ids: Vec<&str> = status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .expect(key)
            .split_whitespace()
            .collect();
        assert_eq!(ids, ["65532"; 4], "{key} of the container's process");
    }
    e.ok(&["stop", "-t", "20", &c.name]);
    assert_eq!(c.wait_stopped(), 0, "exit code after docker stop");
    // `docker cp … -` writes a tar of the one file.
    let cp = e.run(&["cp", &format!("{}:{STATE}/checkpoint.json", c.name), "-"]);
    assert!(
        cp.status.success(),
        "no checkpoint in the state volume: {}",
        String::from_utf8_lossy(&cp.stderr)
    );
    let mut untar = Command::new("tar")
        .args(["-xOf", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("tar");
    untar
        .stdin
        .take()
        .unwrap()
        .write_all(&cp.stdout)
        .expect("to tar");
    let ck = untar.wait_with_output().expect("tar");
    let ck: Value = serde_json::from_slice(&ck.stdout).expect("checkpoint is JSON");
    let size = fs::metadata(&log).unwrap().len();
    assert_eq!(ck["files"][0]["offset"], size, "{ck}");
}

/// `replay` of a corpus mounted read-only, in a container with no network
/// and a read-only root: the same report as the host binary's, equal to the
/// generator's truth.
fn replay_of_a_mounted_corpus(e: &Engine) {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(dir.path(), "23", "records,jsonl");
    for f in ["records", "jsonl"] {
        let args = ["replay", "--format", "json", "--quiet", "--scope", "all"];
        let host = report(
            &Command::new(bin())
                .args(args)
                .arg(dir.path().join(f))
                .output()
                .expect("run denytrail"),
            "host replay",
        );
        let mount = format!("{}:/data:ro", dir.path().display());
        let mut docker = vec![
            "run",
            "--rm",
            "--network",
            "none",
            "--read-only",
            "--user",
            "65532:65532",
            "-v",
            &mount,
            TAG,
        ];
        docker.extend(args);
        let data = format!("/data/{f}");
        docker.push(&data);
        let inside = report(&e.run(&docker), "replay in the container");
        assert_eq!(inside, host, "{f}: the container's report differs");
        let r: Report = serde_json::from_value(inside).expect("report");
        assert_eq!(r.summary.errors, 0, "{f}: {:?}", r.errors);
        assert_eq!(r.summary.denials, truth.denials_all, "{f}");
        assert_eq!(groups(&r), truth_groups(&truth), "{f}");
    }
}

/// The sidecar in a container on the host network, scraped by a real
/// Prometheus: `docker kill` after a checkpoint, lines written while it is
/// down, a new container on the same state: every event counted once, no
/// counter reset; `docker stop` exits 0 with the checkpoint at the end of
/// the log.
fn sidecar_survives_docker_kill(e: &Engine) {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let logs = dir.path().join("logs");
    let state = dir.path().join("state");
    fs::create_dir(&logs).unwrap();
    fs::create_dir(&state).unwrap();
    std::os::unix::fs::chown(&state, Some(NONROOT), Some(NONROOT)).expect("chown state");
    let log = logs.join("app.log");
    let mut c = Corpus::new("image");
    append(&log, &c.lines("A", "iam:PassRole", 20));
    world_readable(&logs);

    let listen = format!("127.0.0.1:{}", free_port());
    let logs_mount = format!("{}:/logs:ro", logs.display());
    let state_mount = format!("{}:{STATE}", state.display());
    let start = |box_: &Container| {
        let mut cmd = e.docker();
        cmd.args(["run", "--name", &box_.name, "--network", "host"])
            .args(["--read-only", "--user", "65532:65532"])
            .args([
                "-e",
                "DENYTRAIL_LOG=info",
                "-v",
                &logs_mount,
                "-v",
                &state_mount,
            ])
            .args([TAG, "watch", "--file", "/logs/*.log", "--from", "start"])
            .args(["--state-dir", STATE, "--poll-interval", "50ms"])
            .args(["--checkpoint-interval", "200ms", "--listen", &listen])
            .stdin(Stdio::null());
        let (child, addr, lines) = spawn_listening(cmd);
        assert_eq!(addr, listen);
        Watch::from_spawned(child, addr, lines)
    };

    let first = Container::named(e, "watch1");
    let w = start(&first);
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
    // Counted (or not yet) since the checkpoint, then SIGKILL.
    append(&log, &c.lines("A", "iam:PassRole", 50));
    append(
        &log,
        &c.lines("B", "codeguru-profiler:PostAgentProfile", 30),
    );
    e.ok(&["kill", &first.name]);
    assert_eq!(first.wait_stopped(), 137, "docker kill is SIGKILL");
    drop(w);
    append(&log, &c.lines("B", "codeguru-profiler:PostAgentProfile", 5));

    let second = Container::named(e, "watch2");
    let mut w = start(&second);
    w.wait_report(&c.want);
    p.wait_denials(&c.want);
    let resets = p
        .query("sum(resets(denytrail_denials_total[10m]))")
        .unwrap();
    assert_eq!(resets.first().map(|s| s.value), Some(0.0), "{resets:?}");

    e.ok(&["stop", "-t", "20", &second.name]);
    assert_eq!(second.wait_stopped(), 0, "log:\n{}", w.log());
    w.wait_exit(Duration::from_secs(30));
    let ck_path = state.join("checkpoint.json");
    let meta = fs::metadata(&ck_path).expect("checkpoint.json in the state volume");
    assert_eq!((meta.uid(), meta.gid()), (NONROOT, NONROOT));
    let ck: Value = serde_json::from_slice(&fs::read(&ck_path).unwrap()).unwrap();
    let size = fs::metadata(&log).unwrap().len();
    assert_eq!(ck["files"][0]["offset"], size, "{ck}");
}

/// A test CA and a certificate for localhost, [`DNS_NAME`] and 127.0.0.1
/// signed by it.
fn make_certs(dir: &Path) {
    let openssl = require_tool("openssl");
    let sh = |args: &[&str]| {
        let out = Command::new(&openssl)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    sh(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=denytrail test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ]);
    sh(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    fs::write(
        dir.join("server.ext"),
        format!(
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,DNS:{DNS_NAME},IP:127.0.0.1\n"
        ),
    )
    .unwrap();
    sh(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.crt",
    ]);
    fs::set_permissions(dir.join("ca.crt"), fs::Permissions::from_mode(0o644)).unwrap();
}

/// `replay s3://…` from inside the container against moto on loopback over
/// TLS, by the name `localhost` (resolved through /etc/hosts in a scratch
/// image): with the test CA mounted over the image's bundle the counts are
/// the truth's; with the image's own bundle the server is not trusted.
fn s3_replay_over_tls(e: &Engine) {
    const BUCKET: &str = "image-trail";
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    make_certs(dir.path());
    let ca = dir.path().join("ca.crt");
    let pem = fs::read(&ca).unwrap();
    let cert = ureq::tls::Certificate::from_pem(&pem)
        .expect("CA PEM")
        .to_owned();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![cert])))
                .build(),
        )
        .build()
        .into();
    let moto = Moto::start_tls(
        &dir.path().join("server.crt"),
        &dir.path().join("server.key"),
        &|url| agent.get(format!("{url}/moto-api/")).call().is_ok(),
    );

    // The generated CloudTrail archive, uploaded under its own keys
    // (unsigned requests: moto serves S3 to them).
    let corpus = dir.path().join("corpus");
    let truth = generate(&corpus, "29", "records");
    let records = corpus.join("records");
    agent
        .put(format!("{}/{BUCKET}", moto.url))
        .send_empty()
        .expect("create bucket");
    let mut uploaded = 0;
    for f in walkdir::WalkDir::new(&records) {
        let f = f.unwrap();
        if !f.file_type().is_file() {
            continue;
        }
        let key = f.path().strip_prefix(&records).unwrap().to_str().unwrap();
        agent
            .put(format!("{}/{BUCKET}/{key}", moto.url))
            .send(&fs::read(f.path()).unwrap()[..])
            .unwrap_or_else(|err| panic!("put {key}: {err}"));
        uploaded += 1;
    }
    assert!(uploaded > 1, "{uploaded} objects");

    let host: Report = serde_json::from_value(report(
        &Command::new(bin())
            .args(["replay", "--format", "json", "--quiet", "--scope", "all"])
            .arg(&records)
            .output()
            .expect("run denytrail"),
        "host replay",
    ))
    .unwrap();

    let ca_mount = format!("{}:/etc/ssl/certs/ca-certificates.crt:ro", ca.display());
    let url = format!("s3://{BUCKET}");
    let replay = |mounts: &[&str], endpoint: &str| {
        let mut args: Vec<String> = [
            "run",
            "--rm",
            "--network",
            "host",
            "--read-only",
            "--user",
            "65532:65532",
        ]
        .map(String::from)
        .to_vec();
        for m in mounts {
            args.extend(["-v".to_string(), m.to_string()]);
        }
        for (k, v) in AWS_ENV {
            args.extend(["-e".to_string(), format!("{k}={v}")]);
        }
        args.extend(["-e".to_string(), format!("AWS_ENDPOINT_URL={endpoint}")]);
        args.extend(
            [TAG, "replay", &url, "--scope", "all", "--format", "json"]
                .map(String::from)
                .to_vec(),
        );
        args.push("--quiet".to_string());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        e.run(&refs)
    };

    let out = replay(&[&ca_mount], &moto.url);
    let r: Report = serde_json::from_value(report(&out, "s3 replay in the container")).unwrap();
    assert_eq!(r.summary.errors, 0, "{:?}", r.errors);
    assert_eq!(r.summary.denials, truth.denials_all);
    assert_eq!(groups(&r), truth_groups(&truth));
    assert_eq!(
        r.groups, host.groups,
        "S3 in the container vs files on the host"
    );

    // By a name that only DNS knows, asked of a resolver of the test's own
    // (its resolv.conf mounted over the engine's): glibc's built-in dns
    // module works in the scratch image with no libnss file.
    let dns = Dns::start();
    let resolv = dir.path().join("resolv.conf");
    fs::write(
        &resolv,
        format!("nameserver {DNS_ADDR}\noptions timeout:2 attempts:3\n"),
    )
    .unwrap();
    fs::set_permissions(&resolv, fs::Permissions::from_mode(0o644)).unwrap();
    let resolv_mount = format!("{}:/etc/resolv.conf:ro", resolv.display());
    let by_name = format!("https://{DNS_NAME}:{}", moto.addr.port());
    let out = replay(&[&ca_mount, &resolv_mount], &by_name);
    let r: Report = serde_json::from_value(report(&out, "s3 replay by a DNS name")).unwrap();
    assert_eq!(
        (r.summary.denials, r.summary.errors),
        (truth.denials_all, 0)
    );
    assert!(
        dns.answered() > 0,
        "no DNS query for {DNS_NAME} reached the resolver"
    );
    drop(dns);

    // The image's own bundle (the host's public roots) does not trust the
    // test CA: TLS is verified, against the bundle at the image's path.
    let out = replay(&[], &moto.url);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "untrusted server accepted");
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");
}

/// A name that resolves only through [`Dns`].
const DNS_NAME: &str = "moto.denytrail.test";
/// Where [`Dns`] listens: a loopback address of its own, since resolv.conf
/// takes no port.
const DNS_ADDR: &str = "127.77.0.1";

/// A DNS responder on `DNS_ADDR:53` that answers `A DNS_NAME` with
/// 127.0.0.1 and every other question with no answer; stopped on drop.
struct Dns {
    stop: Arc<std::sync::atomic::AtomicBool>,
    answered: Arc<std::sync::atomic::AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Dns {
    fn start() -> Dns {
        use std::sync::atomic::Ordering;
        let sock = std::net::UdpSocket::bind((DNS_ADDR, 53))
            .unwrap_or_else(|e| panic!("bind {DNS_ADDR}:53 for the test resolver: {e}"));
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let answered = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let thread = {
            let (stop, answered) = (stop.clone(), answered.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 512];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                        continue;
                    };
                    if let Some((reply, is_ours)) = dns_reply(&buf[..n]) {
                        if is_ours {
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        let _ = sock.send_to(&reply, peer);
                    }
                }
            })
        };
        Dns {
            stop,
            answered,
            thread: Some(thread),
        }
    }

    /// `A` questions for [`DNS_NAME`] answered so far.
    fn answered(&self) -> u64 {
        self.answered.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The reply to one query (header, one question), and whether it was an
/// `A IN` question for [`DNS_NAME`] (answered with 127.0.0.1).
fn dns_reply(q: &[u8]) -> Option<(Vec<u8>, bool)> {
    if q.len() < 12 || u16::from_be_bytes([q[4], q[5]]) != 1 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + len)?).to_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    let question_end = i + 4;
    q.get(..question_end)?;
    let ours = labels.join(".") == DNS_NAME;
    let answer = ours && qtype == 1;
    // Same ID; response, recursion desired and available; NOERROR for our
    // name (no AAAA record), NXDOMAIN for any other.
    let mut r = q[..2].to_vec();
    r.extend([0x81, if ours { 0x80 } else { 0x83 }]);
    r.extend([0, 1, 0, u8::from(answer), 0, 0, 0, 0]);
    r.extend(&q[12..question_end]);
    if answer {
        // Name by pointer to the question, A, IN, TTL 0, 4 bytes.
        r.extend([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 127, 0, 0, 1]);
    }
    Some((r, answer))
}
