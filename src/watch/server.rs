//! The HTTP server: `/` (the web page, [`crate::page`]), `/metrics`
//! (Prometheus text format), `/report` (the JSON of `replay --format json`,
//! for the groups counted so far, with an `ETag` so that the page's refresh
//! costs nothing while nothing changed),
//! `/healthz` (alive) and `/readyz` (checkpoint loaded and every source
//! read up to where it was at start).
//!
//! `/metrics` answers 503 until ready: after a restart the counters are
//! re-seeded from the checkpoint and the lines read since it are counted
//! again before any scrape, so Prometheus never sees a counter go back.
//!
//! Takes the listener and a shutdown future (tests bind `127.0.0.1:0`);
//! in-flight requests are answered before it returns.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::tally::{Now, Tally};
use crate::metrics::Metrics;
use crate::page::{self, Filter, PageOptions};

/// Readiness and checkpoint freshness, shared by the ingest loop and the
/// server.
#[derive(Debug)]
pub struct Health {
    ready: AtomicBool,
    checkpoints: bool,
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

/// Serve until `shutdown` completes, then finish in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shared: Shared,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(shared))
        .with_graceful_shutdown(shutdown)
        .await
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
            (t.report(), etag)
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
    if s.health.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response()
    }
}
