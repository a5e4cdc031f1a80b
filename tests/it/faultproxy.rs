//! A tiny fault-injecting HTTP/1.1 proxy on loopback, in front of moto: it
//! answers the first N requests of an operation with a throttling error, a
//! 5xx or an AccessDenied (or stalls one answer half-way), then forwards
//! everything to moto. The real SDK talks to it as to AWS.
//!
//! One request per connection (the proxy answers `Connection: close`), which
//! keeps the framing trivial and is valid HTTP/1.1.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Operations the proxy can recognise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// CloudWatch Logs `FilterLogEvents` (by `X-Amz-Target`).
    FilterLogEvents,
    /// S3 `ListObjectsV2` (`GET /bucket?list-type=2…`).
    ListObjectsV2,
    /// S3 `GetObject` (`GET /bucket/key`).
    GetObject,
    /// SQS `ReceiveMessage` (by `X-Amz-Target`).
    ReceiveMessage,
    /// SQS `DeleteMessageBatch`.
    DeleteMessageBatch,
    /// SQS `ChangeMessageVisibilityBatch`.
    ChangeMessageVisibilityBatch,
}

impl Op {
    /// Operations answered in the JSON protocols (the others are S3's XML).
    fn json(self) -> Option<&'static str> {
        match self {
            Op::FilterLogEvents => Some("1.1"),
            Op::ReceiveMessage | Op::DeleteMessageBatch | Op::ChangeMessageVisibilityBatch => {
                Some("1.0")
            }
            Op::ListObjectsV2 | Op::GetObject => None,
        }
    }
}

/// What to answer instead of forwarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 400 ThrottlingException (JSON) or 503 SlowDown (S3).
    Throttle,
    /// 500 with an internal error.
    ServerError,
    /// 400 AccessDeniedException (JSON) or 403 AccessDenied (S3).
    Denied,
    /// Forward, relay the answer's head and half its body, then hold the
    /// rest until [`FaultProxy::release`] (or the client goes away).
    Stall,
}

/// Answer the first `times` requests of `op` with `fault`.
#[derive(Debug)]
pub struct Rule {
    /// Which requests.
    pub op: Op,
    /// What answer.
    pub fault: Fault,
    /// How many of them.
    pub times: u32,
}

struct State {
    rules: Mutex<Vec<Rule>>,
    injected: AtomicU32,
    forwarded: AtomicU32,
    stalled: AtomicU32,
    release: tokio::sync::Notify,
    released: std::sync::atomic::AtomicBool,
}

/// A running proxy; stopped on drop.
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<State>,
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Start a proxy to `upstream` with `rules`.
    pub fn start(upstream: SocketAddr, rules: Vec<Rule>) -> FaultProxy {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("proxy addr");
        let state = Arc::new(State {
            rules: Mutex::new(rules),
            injected: AtomicU32::new(0),
            forwarded: AtomicU32::new(0),
            stalled: AtomicU32::new(0),
            release: tokio::sync::Notify::new(),
            released: std::sync::atomic::AtomicBool::new(false),
        });
        let stop = CancellationToken::new();
        let (st, sp) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).expect("tokio listener");
                let tracker = tokio_util::task::TaskTracker::new();
                loop {
                    tokio::select! {
                        _ = sp.cancelled() => break,
                        acc = listener.accept() => {
                            if let Ok((conn, _)) = acc {
                                let st = st.clone();
                                let sp = sp.clone();
                                tracker.spawn(async move {
                                    tokio::select! {
                                        _ = sp.cancelled() => {}
                                        _ = serve(conn, upstream, st) => {}
                                    }
                                });
                            }
                        }
                    }
                }
                tracker.close();
                tracker.wait().await;
            });
        });
        FaultProxy {
            url: format!("http://{addr}"),
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// Faults answered so far.
    pub fn injected(&self) -> u32 {
        self.state.injected.load(Ordering::SeqCst)
    }

    /// Requests forwarded to moto so far.
    pub fn forwarded(&self) -> u32 {
        self.state.forwarded.load(Ordering::SeqCst)
    }

    /// Answers stalled half-way so far (the client holds half a body).
    pub fn stalled(&self) -> u32 {
        self.state.stalled.load(Ordering::SeqCst)
    }

    /// Let the stalled answers finish.
    pub fn release(&self) {
        self.state.released.store(true, Ordering::SeqCst);
        self.state.release.notify_waiters();
    }

    /// Add a rule.
    pub fn add(&self, rule: Rule) {
        self.state
            .rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(rule);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Read one request (head and Content-Length body).
async fn read_request(conn: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((head, body))
}

fn op_of(head: &str) -> Option<Op> {
    let lower = head.to_ascii_lowercase();
    for (target, op) in [
        ("logs_20140328.filterlogevents", Op::FilterLogEvents),
        ("amazonsqs.receivemessage", Op::ReceiveMessage),
        ("amazonsqs.deletemessagebatch", Op::DeleteMessageBatch),
        (
            "amazonsqs.changemessagevisibilitybatch",
            Op::ChangeMessageVisibilityBatch,
        ),
    ] {
        if lower.contains(&format!("x-amz-target: {target}\r\n")) {
            return Some(op);
        }
    }
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    let (method, target) = (parts.next()?, parts.next()?);
    if method != "GET" || lower.contains("x-amz-target:") {
        return None;
    }
    let path = target.split('?').next().unwrap_or("");
    if target.contains("list-type=2") {
        Some(Op::ListObjectsV2)
    } else if path.trim_start_matches('/').contains('/') {
        Some(Op::GetObject)
    } else {
        None
    }
}

fn fault_response(op: Op, fault: Fault, n: u32) -> Vec<u8> {
    let version = op.json();
    let json = version.is_some();
    let (status, code, message) = match (fault, json) {
        (Fault::Throttle, true) => ("400 Bad Request", "ThrottlingException", "Rate exceeded"),
        (Fault::Throttle, false) => (
            "503 Slow Down",
            "SlowDown",
            "Please reduce your request rate.",
        ),
        (Fault::ServerError, true) => (
            "500 Internal Server Error",
            "ServiceUnavailableException",
            "injected failure",
        ),
        (Fault::ServerError, false) => (
            "500 Internal Server Error",
            "InternalError",
            "We encountered an internal error. Please try again.",
        ),
        (Fault::Denied, true) => (
            "400 Bad Request",
            "AccessDeniedException",
            "User: arn:aws:iam::123456789012:user/denytrail is not authorized to perform: logs:FilterLogEvents",
        ),
        (Fault::Denied, false) => ("403 Forbidden", "AccessDenied", "Access Denied"),
        (Fault::Stall, _) => unreachable!("a stall is forwarded"),
    };
    let (ctype, body) = if let Some(v) = version {
        (
            if v == "1.0" {
                "application/x-amz-json-1.0"
            } else {
                "application/x-amz-json-1.1"
            },
            format!(r#"{{"__type":"{code}","message":"{message}"}}"#),
        )
    } else {
        (
            "application/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>fault-{n}</RequestId></Error>"
            ),
        )
    };
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nx-amzn-RequestId: fault-{n}\r\nConnection: close\r\n",
        body.len()
    );
    if json {
        r.push_str(&format!("x-amzn-ErrorType: {code}\r\n"));
    }
    r.push_str("\r\n");
    r.push_str(&body);
    r.into_bytes()
}

async fn serve(mut conn: TcpStream, upstream: SocketAddr, st: Arc<State>) {
    let Some((head, body)) = read_request(&mut conn).await else {
        return;
    };
    let fault = op_of(&head).and_then(|op| {
        let mut rules = st.rules.lock().unwrap_or_else(|p| p.into_inner());
        let rule = rules.iter_mut().find(|r| r.op == op && r.times > 0)?;
        rule.times -= 1;
        Some((op, rule.fault))
    });
    let stall = matches!(fault, Some((_, Fault::Stall)));
    if let Some((op, f)) = fault.filter(|_| !stall) {
        let n = st.injected.fetch_add(1, Ordering::SeqCst) + 1;
        let _ = conn.write_all(&fault_response(op, f, n)).await;
        let _ = conn.shutdown().await;
        return;
    }
    st.forwarded.fetch_add(1, Ordering::SeqCst);
    // Forward with `Connection: close` and relay the answer to its end.
    let mut fwd = String::new();
    for line in head.trim_end_matches("\r\n").split("\r\n") {
        if line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        fwd.push_str(line);
        fwd.push_str("\r\n");
    }
    fwd.push_str("Connection: close\r\n\r\n");
    let Ok(mut up) = TcpStream::connect(upstream).await else {
        return;
    };
    if up.write_all(fwd.as_bytes()).await.is_err() || up.write_all(&body).await.is_err() {
        return;
    }
    let mut resp = Vec::new();
    if up.read_to_end(&mut resp).await.is_err() {
        return;
    }
    if stall {
        let head_end = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(resp.len(), |i| i + 4);
        let half = head_end + (resp.len() - head_end) / 2;
        if conn.write_all(&resp[..half]).await.is_err() || conn.flush().await.is_err() {
            return;
        }
        let released = st.release.notified();
        st.stalled.fetch_add(1, Ordering::SeqCst);
        if !st.released.load(Ordering::SeqCst) {
            released.await;
        }
        let _ = conn.write_all(&resp[half..]).await;
    } else {
        let _ = conn.write_all(&resp).await;
    }
    let _ = conn.shutdown().await;
}
