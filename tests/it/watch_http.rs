//! The sidecar's HTTP server against hostile and broken clients: a flood of
//! connections that never finish their headers cannot keep a scraper out
//! or the file descriptors used up, and a connection that sends nothing
//! (at its start, or idle after a response) is closed once its header time
//! is up.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::prom::eventually;
use crate::watch::{Watch, metric_value};

/// A sidecar on an empty log, ready (its `/metrics` answers 200).
fn ready_watch(dir: &tempfile::TempDir, extra: &[&str]) -> Watch {
    let log = dir.path().join("app.log");
    std::fs::write(&log, "").expect("write log");
    let glob = log.display().to_string();
    let mut args = vec!["--file", glob.as_str(), "--from", "start"];
    args.extend_from_slice(extra);
    let w = Watch::start(&args);
    eventually(Duration::from_secs(30), "the sidecar to be ready", || {
        w.metrics().map(|_| ())
    });
    w
}

/// Is the server's end of `c` still open? (Nothing to read yet, where a
/// closed one reads its end or a reset.)
fn is_open(c: &TcpStream) -> bool {
    c.set_nonblocking(true).expect("nonblocking");
    let mut b = [0u8; 256];
    let mut r = c;
    let open = matches!(r.read(&mut b), Err(e) if e.kind() == ErrorKind::WouldBlock);
    c.set_nonblocking(false).expect("blocking");
    open
}

/// Wait (bounded) for the server to close `c`: the read ends with its end
/// of stream or a reset, not with the client's own timeout.
fn closed_by_server(c: &mut TcpStream) -> Result<(), String> {
    c.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut b = [0u8; 4096];
    loop {
        match c.read(&mut b) {
            Ok(0) => return Ok(()),
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(()),
            Err(e) => return Err(format!("the server did not close the connection: {e}")),
        }
    }
}

#[test]
fn slow_clients_cannot_keep_a_scraper_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limit = 16;
    let limit_arg = limit.to_string();
    let w = ready_watch(
        &dir,
        &[
            "--http-max-connections",
            &limit_arg,
            "--http-header-timeout",
            "3s",
        ],
    );
    // Four times the limit, each stuck in the middle of its headers.
    let mut slow: Vec<TcpStream> = (0..4 * limit)
        .map(|_| {
            let mut c = TcpStream::connect(&w.addr).expect("connect");
            c.write_all(b"GET /metrics HTTP/1.1\r\nHost: denytrail\r\n")
                .expect("send half a request");
            c
        })
        .collect();
    // A scraper sends its whole request and is answered.
    let (status, body) = w.get("/metrics").expect("scrape during the flood");
    assert_eq!(status, 200, "{body}");
    // The server holds at most its limit: the oldest half-requests were
    // closed to make room, and it says how many.
    eventually(
        Duration::from_secs(30),
        "the server to close the connections over its limit",
        || {
            let open = slow.iter().filter(|c| is_open(c)).count();
            if open <= limit {
                Ok(())
            } else {
                Err(format!("{open} slow connections still open, limit {limit}"))
            }
        },
    );
    let text = w.metrics().expect("metrics");
    let closed = metric_value(
        &text,
        "denytrail_http_connections_closed_total{reason=\"limit\"}",
    )
    .expect("the closed-at-limit counter");
    assert!(closed >= (3 * limit) as f64, "{closed}\n{text}");
    // The rest are closed when their header time is up.
    for c in &mut slow {
        closed_by_server(c).unwrap();
    }
    eventually(Duration::from_secs(30), "no connection left open", || {
        let text = w.metrics()?;
        // The scrape's own connection is the one left.
        match metric_value(&text, "denytrail_http_connections") {
            Some(n) if n <= 1.0 => Ok(()),
            other => Err(format!("denytrail_http_connections = {other:?}")),
        }
    });
}

#[test]
fn silent_and_idle_connections_are_closed_after_the_header_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = ready_watch(&dir, &["--http-header-timeout", "1s"]);
    // Connected, never a byte sent.
    let mut silent = TcpStream::connect(&w.addr).expect("connect");
    // One whole request, answered, then idle on keep-alive.
    let mut idle = TcpStream::connect(&w.addr).expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: denytrail\r\n\r\n")
        .expect("send a request");
    idle.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut got = Vec::new();
    let mut b = [0u8; 1024];
    while !got.ends_with(b"ok\n") {
        let n = idle.read(&mut b).expect("read the response");
        assert!(
            n > 0,
            "closed before answering: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&b[..n]);
    }
    let head = String::from_utf8_lossy(&got);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    closed_by_server(&mut silent).unwrap();
    closed_by_server(&mut idle).unwrap();
    // The server still answers.
    assert_eq!(w.get("/healthz").unwrap().0, 200);
}

/// Zero limits cannot work: usage errors (exit 2), naming the flag, as
/// every other zero a watch flag refuses.
#[test]
fn zero_limits_are_usage_errors() {
    for (flag, value) in [
        ("--http-max-connections", "0"),
        ("--http-header-timeout", "0s"),
        ("--max-series", "0"),
        ("--poll-interval", "0s"),
    ] {
        let out = std::process::Command::new(crate::util::bin())
            .args(["watch", "--stdin", flag, value])
            .output()
            .expect("run denytrail");
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{flag}: {err}");
    }
}
