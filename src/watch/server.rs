//! The HTTP server: `/` (the web page, [`crate::page`]), `/metrics`
//! (Prometheus text format), `/report` (the JSON of `replay --format json`,
//! for the groups counted so far, with an `ETag` so that the page's refresh
//! costs nothing while nothing changed),
//! `/healthz` (alive) and `/readyz` (checkpoint loaded, every source
//! read up to where it was at start, and the last checkpoint write
//! succeeded).
//!
//! `/metrics` answers 503 until ready: after a restart the counters are
//! re-seeded from the checkpoint and the lines read since it are counted
//! again before any scrape, so Prometheus never sees a counter go back.
//!
//! Takes the listener and a shutdown future (tests bind `127.0.0.1:0`);
//! in-flight requests are answered before it returns.
//!
//! Hostile or broken clients cannot starve it: each connection has
//! [`HttpLimits::header_timeout`] to send a request's headers (from its
//! start, and again after each response: the keep-alive idle time), and at
//! [`HttpLimits::max_connections`] a new connection is still taken while
//! the oldest one that has not sent a whole request (else the oldest) is
//! closed. A scraper that sends its request at once always gets through,
//! and open connections never exhaust the file descriptors.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::config::HttpLimits;
use super::tally::{Now, Tally};
use crate::metrics::Metrics;
use crate::page::{self, Filter, PageOptions};

/// Readiness and checkpoint freshness, shared by the ingest loop and the
/// server.
#[derive(Debug)]
pub struct Health {
    ready: AtomicBool,
    checkpoints: bool,
    /// The last checkpoint write failed.
    checkpoint_failing: AtomicBool,
    /// Unix milliseconds of the last checkpoint (or of start, before one).
    last_checkpoint_ms: AtomicU64,
}

fn unix_ms(now: Now) -> u64 {
    (now.unix * 1000.0) as u64
}

impl Health {
    /// Not ready; `checkpoints` says whether checkpoints are written at all.
    pub fn new(checkpoints: bool, now: Now) -> Health {
        Health {
            ready: AtomicBool::new(false),
            checkpoints,
            checkpoint_failing: AtomicBool::new(false),
            last_checkpoint_ms: AtomicU64::new(unix_ms(now)),
        }
    }

    /// Mark ready.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Ready?
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// A checkpoint was just written.
    pub fn checkpointed(&self, now: Now) {
        self.last_checkpoint_ms
            .store(unix_ms(now), Ordering::Release);
        self.checkpoint_failing.store(false, Ordering::Release);
    }

    /// A checkpoint could not be written: not ready until one is.
    pub fn checkpoint_failed(&self) {
        self.checkpoint_failing.store(true, Ordering::Release);
    }

    /// Is the last checkpoint write a failure?
    pub fn is_checkpoint_failing(&self) -> bool {
        self.checkpoint_failing.load(Ordering::Acquire)
    }

    /// Seconds since the last checkpoint (0 without checkpoints).
    pub fn checkpoint_age(&self, now: Now) -> f64 {
        if !self.checkpoints {
            return 0.0;
        }
        let last = self.last_checkpoint_ms.load(Ordering::Acquire);
        unix_ms(now).saturating_sub(last) as f64 / 1000.0
    }
}

/// What the handlers read.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The registry.
    pub metrics: Arc<Metrics>,
    /// What was counted.
    pub tally: Arc<Mutex<Tally>>,
    /// Readiness.
    pub health: Arc<Health>,
}

/// The routes.
pub fn router(shared: Shared) -> Router {
    // Tells this process's `/report` versions from another's (a restart
    // starts the tally's generation again).
    let boot = format!("{:016x}", rand::random::<u64>());
    Router::new()
        .route("/", get(page))
        .route("/metrics", get(metrics))
        .route(
            "/report",
            get(move |s: State<Shared>, h: HeaderMap| report(s, h, boot)),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(shared)
}

/// The connections the server holds, oldest first.
#[derive(Debug, Default)]
struct Open {
    next_id: u64,
    conns: VecDeque<Conn>,
}

#[derive(Debug)]
struct Conn {
    id: u64,
    /// A whole request arrived on it.
    served: Arc<AtomicBool>,
    /// Closes it: at once if it has not sent a whole request, else once
    /// its request in flight is answered.
    close: CancellationToken,
}

impl Open {
    /// Close connections until fewer than `max` are open: the oldest that
    /// has not sent a whole request first, else the oldest. How many.
    fn make_room(&mut self, max: usize) -> u64 {
        let mut closed = 0;
        while self.conns.len() >= max.max(1) {
            let i = self
                .conns
                .iter()
                .position(|c| !c.served.load(Ordering::Acquire))
                .unwrap_or(0);
            match self.conns.remove(i) {
                Some(c) => c.close.cancel(),
                None => break,
            }
            closed += 1;
        }
        closed
    }

    fn add(&mut self, close: CancellationToken) -> (u64, Arc<AtomicBool>) {
        self.next_id += 1;
        let served = Arc::new(AtomicBool::new(false));
        self.conns.push_back(Conn {
            id: self.next_id,
            served: served.clone(),
            close,
        });
        (self.next_id, served)
    }

    fn remove(&mut self, id: u64) {
        if let Some(i) = self.conns.iter().position(|c| c.id == id) {
            self.conns.remove(i);
        }
    }
}

/// Pause after an accept error (out of file descriptors: the oldest
/// connection was closed to make room), so that the loop never spins.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(20);

/// Serve until `shutdown` completes, then finish in-flight requests,
/// within `limits` (see the module comment).
pub async fn serve(
    listener: tokio::net::TcpListener,
    shared: Shared,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let metrics = shared.metrics.clone();
    let app = router(shared);
    let open = Arc::new(Mutex::new(Open::default()));
    let tasks = TaskTracker::new();
    let stop = CancellationToken::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            r = listener.accept() => r,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                let closed = {
                    let mut o = lock(&open);
                    let n = o.conns.len();
                    o.make_room(n)
                };
                metrics
                    .http_closed
                    .with_label_values(&["accept_error"])
                    .inc_by(closed);
                tracing::warn!(
                    error = %e,
                    "cannot accept an HTTP connection: {e}; closed {closed} to make room (raise the file descriptor limit or lower --http-max-connections)"
                );
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let close = stop.child_token();
        let (id, served) = {
            let mut o = lock(&open);
            let closed = o.make_room(limits.max_connections);
            metrics
                .http_closed
                .with_label_values(&["limit"])
                .inc_by(closed);
            o.add(close.clone())
        };
        metrics.http_connections.inc();
        let (app, open, metrics) = (app.clone(), open.clone(), metrics.clone());
        tasks.spawn(async move {
            let seen = served.clone();
            let service = hyper::service::service_fn(move |req: axum::http::Request<Incoming>| {
                seen.store(true, Ordering::Release);
                app.clone().oneshot(req)
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = close.cancelled() => {
                    // Answer a request in flight; drop one still sending
                    // its headers.
                    if served.load(Ordering::Acquire) {
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.as_mut().await;
                    }
                }
            }
            lock(&open).remove(id);
            metrics.http_connections.dec();
        });
    }
    stop.cancel();
    tasks.close();
    tasks.wait().await;
    Ok(())
}

fn lock(open: &Mutex<Open>) -> std::sync::MutexGuard<'_, Open> {
    // The registry holds no invariant a panicking holder could break.
    open.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn metrics(State(s): State<Shared>) -> Response {
    if !s.health.is_ready() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "catching up since the last checkpoint\n",
        )
            .into_response();
    }
    s.metrics
        .checkpoint_age
        .set(s.health.checkpoint_age(Now::system()));
    match s.metrics.encode() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn report(State(s): State<Shared>, headers: HeaderMap, boot: String) -> Response {
    let (report, etag) = match s.tally.lock() {
        Ok(t) => {
            let etag = format!("\"{boot}-{}\"", t.generation());
            let fresh = headers
                .get(header::IF_NONE_MATCH)
                .is_some_and(|v| v.as_bytes() == etag.as_bytes());
            if fresh {
                return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
            }
            (t.served_report(), etag)
        }
        Err(_) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "counting stopped\n").into_response();
        }
    };
    (
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (header::CACHE_CONTROL, "no-cache".to_string()),
            (header::ETAG, etag),
        ],
        report.to_json(),
    )
        .into_response()
}

/// The web page, with the filters of the query string applied (so that
/// they work without JavaScript).
async fn page(State(s): State<Shared>, Query(filter): Query<Filter>) -> Response {
    let report = match s.tally.lock() {
        Ok(t) => t.report(),
        Err(_) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "counting stopped\n").into_response();
        }
    };
    match page::render(&report, &PageOptions::live(filter)) {
        Ok(html) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            html,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn readyz(State(s): State<Shared>) -> Response {
    if !s.health.is_ready() {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response()
    } else if s.health.is_checkpoint_failing() {
        // A restart now would count again what was counted since the last
        // checkpoint: say so (the log names the file and the error).
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "checkpoints cannot be written (see the log)\n",
        )
            .into_response()
    } else {
        (StatusCode::OK, "ready\n").into_response()
    }
}
