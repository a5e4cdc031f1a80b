//! Wiring of `watch`: the only place that spawns threads and tasks.
//!
//! ```text
//! stdin thread ───────────────────────(bounded channel)──┐
//! CloudWatch followers (tokio, one per log group,        │
//!   one shared rate limit) ─(bounded)─> forwarder ───────┤
//! queue followers (tokio, per queue: receive + fetch     │
//!   objects, acknowledge) ─(bounded)─> forwarder ────────┤
//!   <─(acks: delete after the checkpoint)── ingest loop  │
//! file tailer (inotify → wake, sweeps) ──────────────────┴─> ingest loop
//!     (blocking thread): scan → tally (series, groups, dedup) → metrics;
//!     checkpoints (file offsets + CloudWatch positions + finished
//!     queue objects + counters)
//! HTTP server (tokio) reads metrics and tally
//! ```
//! Shutdown (SIGTERM/SIGINT, or the ingest loop failing): the ingest loop
//! stops reading and writes its last checkpoint, the tracked tasks end,
//! then the server stops last after answering in-flight requests, all
//! within `--shutdown-timeout`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::changes::{Changed, Changes};
use super::checkpoint::{self, Checkpoint, CheckpointError};
use super::config::{ConfigError, LogFormat, Settings, WatchArgs};
use super::queues::{EARLY_CHECKPOINT, Queues, SavedQueues};
use super::series::SeriesTable;
use super::server::{self, Health, Shared};
use super::stdin::{self, Feed};
use super::tail::{Look, StartAt, TailEvent, TailOptions, Tailer};
use super::tally::{MessagesFrom, Now, Tally};
use crate::aws::{
    self, AwsMetrics, Delivery, FollowBatch, Follower, FollowerConfig, QueueConfig, QueueFollower,
    RateLimiter,
};
use crate::events::{
    CheckpointLoaded, CheckpointWriteError, CheckpointWritten, FileClosed, FileIgnored, FileOpened,
    FileRotated, RotationKind,
};
use crate::input::{InputError, InputErrorKind};
use crate::metrics::Metrics;
use crate::scan::{LineStream, Scanner};
use crate::source::SourceKind;

/// Why `watch` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// Bad arguments.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The metrics registry could not be built.
    #[error("cannot set up metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The state directory cannot be created.
    #[error("state directory {path}: {source}")]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another sidecar holds the state directory.
    #[error(
        "state directory {} is in use by another denytrail watch (it holds {}); give each instance its own --state-dir",
        dir.display(),
        lock.display()
    )]
    Locked {
        /// The directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// Loading or writing a checkpoint failed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The server failed.
    #[error("HTTP server: {0}")]
    Serve(std::io::Error),
    /// Threads or the async runtime could not start.
    #[error("cannot start: {0}")]
    Runtime(std::io::Error),
    /// The ingest loop died.
    #[error("the ingest loop stopped unexpectedly: {0}")]
    Ingest(String),
    /// Shutdown took longer than `--shutdown-timeout`.
    #[error("shutdown did not finish within {0:?}")]
    ShutdownTimeout(Duration),
}

/// Bytes read from one file per poll, at most.
const READ_BUDGET: u64 = 16 << 20;
/// How often idle series are looked for.
const EXPIRE_EVERY: Duration = Duration::from_secs(1);
/// Messages waiting between the stdin thread and the ingest loop.
const FEED_CAPACITY: usize = 16;
/// CloudWatch batches waiting between the followers and the forwarder.
const CW_CAPACITY: usize = 4;
/// Queue deliveries waiting between the queue followers and the
/// forwarder.
const QUEUE_CAPACITY: usize = 4;
/// How long a stopping queue follower tries to delete the messages counted
/// by the last checkpoint and to hand the others back to the queue (within
/// the default `--shutdown-timeout`).
const QUEUE_RELEASE: Duration = Duration::from_secs(3);
/// How far back a log group without checkpoint is read with `--from
/// start`.
const CW_FROM_START: Duration = Duration::from_secs(14 * 86_400);

/// Run `denytrail watch` until SIGTERM/SIGINT.
pub fn run(args: WatchArgs) -> Result<(), WatchError> {
    let settings = args.build()?;
    let dispatch = log_dispatch(settings.log_format);
    // watch's subscriber (level info, `--log-format`) is the global one;
    // should one be installed already (a test harness), it is the default
    // of every thread watch runs on instead.
    let global = tracing::dispatcher::set_global_default(dispatch.clone()).is_ok();
    let _log = (!global).then(|| tracing::dispatcher::set_default(&dispatch));
    let for_threads = (!global).then(|| dispatch.clone());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("denytrail-watch")
        .enable_all()
        .on_thread_start(move || {
            if let Some(d) = &for_threads {
                std::mem::forget(tracing::dispatcher::set_default(d));
            }
        })
        .build()
        .map_err(WatchError::Runtime)?;
    let deadline = settings.shutdown_timeout;
    let r = rt.block_on(watch(settings, dispatch));
    // The stdin thread may still be blocked in a read; do not wait for it.
    rt.shutdown_timeout(deadline);
    r
}

/// Take the state directory's lock (`DIR/lock`, an advisory lock the
/// kernel drops when the process ends, even by `kill -9`), or say who has it.
fn lock_state_dir(dir: &std::path::Path) -> Result<std::fs::File, WatchError> {
    let lock = dir.join("lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .map_err(|source| WatchError::StateDir {
            path: lock.clone(),
            source,
        })?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(WatchError::Locked {
            dir: dir.to_path_buf(),
            lock,
        }),
        Err(std::fs::TryLockError::Error(source)) => {
            Err(WatchError::StateDir { path: lock, source })
        }
    }
}

fn log_dispatch(format: LogFormat) -> tracing::Dispatch {
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("DENYTRAIL_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    match format {
        LogFormat::Text => tracing::Dispatch::new(
            tracing_subscriber::fmt()
                .with_env_filter(filter())
                // Colour only for a person at a terminal, never in a log file.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_writer(std::io::stderr)
                .finish(),
        ),
        LogFormat::Json => tracing::Dispatch::new(
            tracing_subscriber::fmt()
                .json()
                .with_env_filter(filter())
                .with_writer(std::io::stderr)
                .finish(),
        ),
    }
}

async fn watch(s: Settings, dispatch: tracing::Dispatch) -> Result<(), WatchError> {
    let metrics = Arc::new(Metrics::new()?);
    let now = Now::system();
    let mut tally = Tally::new(
        metrics.clone(),
        SeriesTable::new(s.max_series, s.series_ttl),
        s.dedup_window,
        s.list_max,
        s.scanner.scope().describe(),
    );
    let mut tailer = Tailer::new(
        s.files.clone(),
        TailOptions {
            from: s.from,
            read_budget: READ_BUDGET,
            max_open: s.max_open_files,
            rotate_wait: super::tail::DEFAULT_ROTATE_WAIT,
        },
    );
    let mut saved_cw = BTreeMap::new();
    let mut saved_queues = SavedQueues::default();
    // Held until watch returns: one sidecar per state directory.
    let mut _lock = None;
    if let Some(dir) = &s.state_dir {
        std::fs::create_dir_all(dir).map_err(|source| WatchError::StateDir {
            path: dir.clone(),
            source,
        })?;
        _lock = Some(lock_state_dir(dir)?);
        if s.reset_state
            && let Some(moved) = checkpoint::set_aside(dir)?
        {
            tracing::warn!(
                "--reset-state: the checkpoint was moved to {}; starting over",
                moved.display()
            );
        }
        match checkpoint::load(dir) {
            Ok(Some(c)) => {
                CheckpointLoaded {
                    path: &checkpoint::path_in(dir),
                    files: c.files.len(),
                    series: c.tally.series.len(),
                    event_ids: c.tally.aggregate.dedup.len(),
                }
                .emit(&metrics);
                tally.restore(c.tally, now);
                tailer.restore(c.files);
                saved_cw = c.cloudwatch;
                saved_queues = c.queues;
            }
            Ok(None) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if !s.sqs.is_empty() {
        // Replicas may share the queues: /report carries what merge needs.
        tally.share_state();
    }
    let tally = Arc::new(Mutex::new(tally));
    let health = Arc::new(Health::new(s.state_dir.is_some(), now));

    let listener = tokio::net::TcpListener::bind(s.listen)
        .await
        .map_err(|source| WatchError::Bind {
            addr: s.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(WatchError::Runtime)?;
    tracing::info!(%addr, "listening on {addr}");

    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    tracker.spawn(on_signal(shutdown.clone()));

    let (tx, rx) = std::sync::mpsc::sync_channel::<Feed>(FEED_CAPACITY);
    if s.stdin {
        stdin::spawn(std::io::stdin(), tx.clone(), dispatch).map_err(WatchError::Runtime)?;
    }
    {
        let (shutdown, tx) = (shutdown.clone(), tx.clone());
        tracker.spawn(async move {
            shutdown.cancelled().await;
            let _ = tx.try_send(Feed::Wake);
        });
    }
    let changes = {
        let tx = tx.clone();
        let wake = Box::new(move || {
            // Full: the loop is awake and will look anyway.
            let _ = tx.try_send(Feed::Wake);
        });
        match Changes::new(&s.files, s.notify && !s.files.is_empty(), wake) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(
                    "file change notification is unavailable ({e}); polling files every {:?}",
                    s.poll_interval
                );
                Changes::new(&s.files, false, Box::new(|| {}))
                    .map_err(|e| WatchError::Runtime(std::io::Error::other(e.to_string())))?
            }
        }
    };
    // One set of AWS metrics for every AWS source.
    let aws_metrics = if s.cloudwatch.is_empty() && s.sqs.is_empty() {
        None
    } else {
        Some(AwsMetrics::register(metrics.registry())?)
    };
    let cloudwatch = match &aws_metrics {
        Some(m) if !s.cloudwatch.is_empty() => {
            Some(start_cloudwatch(&s, m, saved_cw, &shutdown, &tracker, tx.clone()).await?)
        }
        _ => None,
    };
    let queues = match &aws_metrics {
        Some(m) if !s.sqs.is_empty() => {
            let mut q = start_queues(&s, m, &shutdown, &tracker, tx.clone()).await;
            q.restore(saved_queues);
            Some(q)
        }
        _ => None,
    };
    let ingest = Ingest {
        tailer,
        tally: tally.clone(),
        metrics: metrics.clone(),
        health: health.clone(),
        scanner: s.scanner.clone(),
        rx,
        _keep_open: tx,
        state_dir: s.state_dir.clone(),
        checkpoint_interval: s.checkpoint_interval,
        poll_interval: s.poll_interval,
        rescan_interval: s.rescan_interval,
        changes,
        shutdown: shutdown.clone(),
        saved: None,
        cloudwatch,
        queues,
        streams: std::collections::HashMap::new(),
        stdin: None,
    };
    let ingest = {
        let shutdown = shutdown.clone();
        tracker.spawn_blocking(move || {
            let r = ingest.run();
            // However it ended, everything else stops too.
            shutdown.cancel();
            r
        })
    };
    tracker.close();

    let server_stop = CancellationToken::new();
    let server = {
        let (shutdown, stop, http) = (shutdown.clone(), server_stop.clone(), s.http);
        let shared = Shared {
            metrics,
            tally,
            health,
        };
        tokio::spawn(async move {
            let r = server::serve(listener, shared, http, stop.cancelled_owned()).await;
            shutdown.cancel();
            r
        })
    };

    shutdown.cancelled().await;
    tracing::info!("stopping: sources first, then the checkpoint, then the server");
    let deadline = tokio::time::Instant::now() + s.shutdown_timeout;
    let waited = tokio::time::timeout_at(deadline, tracker.wait()).await;
    server_stop.cancel();
    let served = tokio::time::timeout_at(deadline + Duration::from_secs(1), server).await;
    if waited.is_err() {
        return Err(WatchError::ShutdownTimeout(s.shutdown_timeout));
    }
    let ingested = match ingest.await {
        Ok(r) => r,
        Err(e) => Err(WatchError::Ingest(e.to_string())),
    };
    ingested?;
    match served {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => return Err(WatchError::Serve(e)),
        Ok(Err(e)) => return Err(WatchError::Ingest(e.to_string())),
        Err(_) => return Err(WatchError::ShutdownTimeout(s.shutdown_timeout)),
    }
    tracing::info!("stopped");
    Ok(())
}

/// Start one follower per log group (all taking request slots from one
/// rate limiter) and the forwarder that moves their batches into the
/// ingest channel. Each follower starts from its saved position, else now
/// (`--from end`) or 14 days back (`--from start`).
async fn start_cloudwatch(
    s: &Settings,
    aws_metrics: &AwsMetrics,
    mut saved: BTreeMap<String, aws::Checkpoint>,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
    feed: SyncSender<Feed>,
) -> Result<CloudWatch, WatchError> {
    let (_, logs) = aws::context::clients(&s.aws).await;
    let limiter = Arc::new(RateLimiter::per_second(s.aws.cw_rate).ok_or_else(|| {
        ConfigError::Aws(aws::AwsError::Config(format!(
            "--cw-rate {} is out of range",
            s.aws.cw_rate
        )))
    })?);
    let now_ms = chrono::Utc::now().timestamp_millis();
    let fresh = match s.from {
        StartAt::End => now_ms,
        StartAt::Start => now_ms.saturating_sub(CW_FROM_START.as_millis() as i64),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<FollowBatch>(CW_CAPACITY);
    let mut positions = BTreeMap::new();
    for spec in &s.cloudwatch {
        let (start, from) = match saved.remove(&spec.group) {
            Some(cp) => (cp, "checkpoint"),
            None => (aws::Checkpoint::at(fresh), "flag"),
        };
        let mut cfg = FollowerConfig::new(spec.clone());
        cfg.filter_pattern = s.aws.pattern();
        cfg.page_limit = s.aws.cw_page_limit;
        cfg.lookback = s.cw_lookback;
        cfg.poll_interval = s.cw_poll_interval;
        cfg.max_window = s.cw_max_window;
        cfg.backoff = s.aws.backoff();
        tracing::info!(
            log_group = %spec.group,
            start_ms = start.start_ms,
            from,
            "following {}",
            spec.origin()
        );
        positions.insert(spec.group.clone(), start.clone());
        let follower = Follower::new(logs.clone(), cfg, limiter.clone(), aws_metrics.clone());
        tracker.spawn(follower.run(start, shutdown.clone(), tx.clone()));
    }
    // The followers hold the only senders: the forwarder ends with them,
    // or when the ingest loop is gone.
    drop(tx);
    tracker.spawn_blocking(move || {
        while let Some(b) = rx.blocking_recv() {
            if feed.send(Feed::CloudWatch(b)).is_err() {
                break;
            }
        }
    });
    Ok(CloudWatch {
        metrics: aws_metrics.clone(),
        waiting: positions.keys().cloned().collect(),
        offsets: BTreeMap::new(),
        positions,
        generation: 0,
    })
}

/// Start, per queue, the task that receives messages and fetches what
/// they announce and the task that answers them (deletes after the
/// checkpoint, visibility extensions, and at the end hands back what was
/// not finished), and the forwarder that moves deliveries into the ingest
/// channel.
async fn start_queues(
    s: &Settings,
    aws_metrics: &AwsMetrics,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
    feed: SyncSender<Feed>,
) -> Queues {
    let sqs = aws::context::sqs_client(&s.aws).await;
    let (s3, _) = aws::context::clients(&s.aws).await;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Delivery>(QUEUE_CAPACITY);
    let mut ackers = std::collections::HashMap::new();
    for spec in &s.sqs {
        let mut cfg = QueueConfig::new(spec.clone());
        cfg.visibility = s.sqs_visibility;
        cfg.backoff = s.aws.backoff();
        tracing::info!(queue = %spec.name, "following queue {}", spec.url);
        let follower = QueueFollower::new(sqs.clone(), s3.clone(), cfg, aws_metrics.clone());
        let (ack_tx, ack_rx) = tokio::sync::mpsc::unbounded_channel();
        ackers.insert(spec.name.clone(), ack_tx);
        // Ends when the ingest loop drops its senders, after its last
        // checkpoint.
        tracker.spawn(follower.clone().acknowledge(ack_rx, QUEUE_RELEASE));
        let (shutdown, tx) = (shutdown.clone(), tx.clone());
        tracker.spawn(async move {
            if let Err(e) = follower.check().await {
                tracing::error!(queue = %follower.name(), "{e}");
            }
            follower.receive(shutdown, tx).await;
        });
    }
    // The followers hold the only senders: the forwarder ends with them,
    // or when the ingest loop is gone.
    drop(tx);
    tracker.spawn_blocking(move || {
        while let Some(d) = rx.blocking_recv() {
            if feed.send(Feed::Queue(Box::new(d))).is_err() {
                break;
            }
        }
    });
    Queues::new(aws_metrics.clone(), ackers)
}

async fn on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("cannot listen for SIGTERM: {e}");
            None
        }
    };
    let sigterm = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = sigterm => tracing::info!("SIGTERM"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
        _ = shutdown.cancelled() => return,
    }
    shutdown.cancel();
}

/// The CloudWatch side of the ingest loop.
struct CloudWatch {
    metrics: AwsMetrics,
    /// Where each log group's follower stands, as of the events counted.
    positions: BTreeMap<String, aws::Checkpoint>,
    /// Log groups whose follower has not caught up yet (not ready).
    waiting: BTreeSet<String>,
    /// Bytes read per log group by this process (error offsets).
    offsets: BTreeMap<String, u64>,
    /// Changes whenever a position changes.
    generation: u64,
}

/// The ingest loop: owns the tailer; counts into the tally; checkpoints.
struct Ingest {
    tailer: Tailer,
    tally: Arc<Mutex<Tally>>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    scanner: Scanner,
    rx: Receiver<Feed>,
    /// Keeps the channel open when there is no stdin thread.
    _keep_open: SyncSender<Feed>,
    state_dir: Option<PathBuf>,
    checkpoint_interval: Duration,
    poll_interval: Duration,
    rescan_interval: Duration,
    /// Change notification for the followed files.
    changes: Changes,
    shutdown: CancellationToken,
    /// Generations of tailer, tally, CloudWatch positions and finished
    /// queue objects at the last checkpoint.
    saved: Option<(u64, u64, u64, u64)>,
    cloudwatch: Option<CloudWatch>,
    /// Followed SQS queues.
    queues: Option<Queues>,
    /// The line framer of each followed file, by serial number.
    streams: std::collections::HashMap<u64, LineStream>,
    /// The line framer of stdin.
    stdin: Option<LineStream>,
}

impl Ingest {
    fn run(mut self) -> Result<(), WatchError> {
        self.saved = Some(self.generations());
        let mut last_checkpoint = Instant::now();
        let mut last_expire = Instant::now();
        let mut last_sweep: Option<Instant> = None;
        let mut unwatched_logged = false;
        let none = std::collections::HashSet::new();
        while !self.shutdown.is_cancelled() {
            // Every file at each sweep (every --poll-interval without
            // notifications, every --rescan-interval with them); between
            // sweeps, only the files a notification named.
            let sweep_every = if self.changes.complete() {
                self.rescan_interval
            } else {
                self.poll_interval
            };
            let due = last_sweep.is_none_or(|t| t.elapsed() >= sweep_every);
            if due {
                for (dir, e) in self.changes.retry() {
                    if !unwatched_logged {
                        tracing::warn!(
                            "cannot watch {} for changes ({e}); polling its files every {:?}",
                            dir.display(),
                            self.poll_interval
                        );
                    }
                }
                unwatched_logged = true;
            }
            let changed = self.changes.take();
            let more = match (&changed, due) {
                (Changed::All, _) | (_, true) => {
                    last_sweep = Some(Instant::now());
                    self.poll_files(Look::All)
                }
                (Changed::Paths(p), false) => self.poll_files(Look::Paths(p)),
                (Changed::Nothing, false) => self.poll_files(Look::Paths(&none)),
            };
            while let Ok(f) = self.rx.try_recv() {
                self.feed(f);
            }
            let cw_waiting = self
                .cloudwatch
                .as_ref()
                .is_some_and(|c| !c.waiting.is_empty());
            if !more && !cw_waiting && !self.health.is_ready() {
                self.health.set_ready();
                tracing::info!(
                    files = self.tailer.followed(),
                    log_groups = self.cloudwatch.as_ref().map_or(0, |c| c.positions.len()),
                    "ready"
                );
            }
            let now = Now::system();
            if now.mono.duration_since(last_expire) >= EXPIRE_EVERY {
                self.lock().expire(now);
                last_expire = now.mono;
            }
            if now.mono.duration_since(last_checkpoint) >= self.checkpoint_interval {
                // A failed periodic checkpoint is counted and logged; the
                // previous one stays valid.
                let _ = self.checkpoint();
                last_checkpoint = now.mono;
            }
            if !more {
                // Sleep until a feed or a notification arrives, or the
                // next sweep, expiry or checkpoint is due.
                let since_sweep = last_sweep.map_or(Duration::ZERO, |t| t.elapsed());
                let wait = sweep_every
                    .saturating_sub(since_sweep)
                    .min(EXPIRE_EVERY.saturating_sub(last_expire.elapsed()))
                    .min(
                        self.checkpoint_interval
                            .saturating_sub(last_checkpoint.elapsed()),
                    );
                match self.rx.recv_timeout(wait) {
                    Ok(f) => self.feed(f),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
                }
            }
        }
        self.checkpoint().map_err(WatchError::from)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tally> {
        // A panic while counting leaves numbers that are still usable.
        self.tally.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn generations(&self) -> (u64, u64, u64, u64) {
        (
            self.tailer.generation(),
            self.lock().generation(),
            self.cloudwatch.as_ref().map_or(0, |c| c.generation),
            self.queues.as_ref().map_or(0, Queues::generation),
        )
    }

    fn poll_files(&mut self, look: Look<'_>) -> bool {
        let (tally, scanner, metrics) = (&self.tally, &self.scanner, &self.metrics);
        let streams = &mut self.streams;
        let lock = || tally.lock().unwrap_or_else(|p| p.into_inner());
        self.tailer.poll(look, &mut |ev| match ev {
            TailEvent::Bytes {
                serial,
                source,
                origin,
                bytes,
                ..
            } => {
                let Some(stream) = streams.get_mut(&serial) else {
                    return;
                };
                let now = Now::system();
                let mut t = lock();
                let stats = stream.push(scanner, bytes, origin, &mut |e| t.event(e, now));
                t.scanned(SourceKind::File, source, stats, now);
            }
            TailEvent::Opened {
                serial,
                path,
                offset,
                from,
            } => {
                streams.insert(serial, scanner.line_stream(offset));
                FileOpened { path, offset, from }.emit(metrics);
                lock().file_opened();
            }
            TailEvent::Rotated { serial, path, kind } => {
                if kind == RotationKind::Truncate
                    && let Some(s) = streams.get_mut(&serial)
                {
                    s.reset(0);
                }
                FileRotated { path, kind }.emit(metrics)
            }
            TailEvent::Closed {
                serial,
                path,
                offset,
            } => {
                streams.remove(&serial);
                FileClosed { path, offset }.emit(metrics)
            }
            TailEvent::Ignored { path, why } => FileIgnored { path, why }.emit(metrics),
            TailEvent::Crowded { path, max_open } => tracing::warn!(
                "out of file descriptors opening {}: following with at most {max_open} files \
                 open at once (raise the limit, `ulimit -n`, or lower --max-open-files)",
                path.display()
            ),
            TailEvent::Unreadable { path, error } => lock().error(InputError {
                origin: path.display().to_string(),
                offset: 0,
                kind: InputErrorKind::Unreadable,
                detail: format!("cannot read: {error}"),
            }),
        })
    }

    fn feed(&mut self, f: Feed) {
        match f {
            Feed::Bytes { base, bytes } => {
                let scanner = &self.scanner;
                let stream = self.stdin.get_or_insert_with(|| scanner.line_stream(base));
                let now = Now::system();
                let mut t = self.tally.lock().unwrap_or_else(|p| p.into_inner());
                let stats = stream.push(scanner, &bytes, "-", &mut |e| t.event(e, now));
                t.scanned(SourceKind::Stdin, "stdin", stats, now);
            }
            Feed::Failed { offset, error } => self.lock().error(InputError {
                origin: "-".to_string(),
                offset,
                kind: InputErrorKind::Unreadable,
                detail: format!("cannot read stdin: {error}; stdin closed"),
            }),
            Feed::End => {
                if let Some(mut stream) = self.stdin.take() {
                    let now = Now::system();
                    let mut t = self.tally.lock().unwrap_or_else(|p| p.into_inner());
                    let stats = stream.finish(&self.scanner, "-", &mut |e| t.event(e, now));
                    t.scanned(SourceKind::Stdin, "stdin", stats, now);
                }
                tracing::info!("stdin ended; still serving")
            }
            Feed::CloudWatch(b) => self.follow_batch(b),
            Feed::Queue(d) => self.queue_delivery(*d),
            Feed::Wake => {}
        }
    }

    /// Count a CloudWatch batch, then take its position: the next
    /// checkpoint holds both or neither.
    fn follow_batch(&mut self, b: FollowBatch) {
        let Some(cw) = self.cloudwatch.as_mut() else {
            return;
        };
        let Some(position) = cw.positions.get_mut(&b.log_group) else {
            return;
        };
        if !b.events.is_empty() {
            let origin = origin_of(&b.log_group);
            let offset = cw.offsets.entry(b.log_group.clone()).or_insert(0);
            let matched = self
                .tally
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .scan_messages(
                    &self.scanner,
                    MessagesFrom {
                        kind: SourceKind::Cloudwatch,
                        source: &b.log_group,
                        origin: &origin,
                        base: *offset,
                    },
                    b.events.iter().map(|e| e.message.as_bytes()),
                    Now::system(),
                );
            *offset += b
                .events
                .iter()
                .map(|e| e.message.len() as u64 + 1)
                .sum::<u64>();
            cw.metrics.cloudwatch_matched(&b.log_group, matched);
        }
        *position = b.checkpoint;
        cw.generation += 1;
        if b.caught_up && cw.waiting.remove(&b.log_group) {
            tracing::info!(log_group = %b.log_group, "caught up with {}", origin_of(&b.log_group));
        }
    }

    /// Count what a queue message delivered. Its message is deleted after
    /// the next checkpoint: early, when many wait for one.
    fn queue_delivery(&mut self, d: Delivery) {
        let Some(queues) = self.queues.as_mut() else {
            return;
        };
        {
            let mut t = self.tally.lock().unwrap_or_else(|p| p.into_inner());
            queues.deliver(d, &mut t, &self.scanner, Now::system());
        }
        if self.state_dir.is_none() {
            // No checkpoints: nothing to wait for.
            queues.checkpointed();
        } else if queues.pending() >= EARLY_CHECKPOINT {
            // A failure is counted and logged; the messages wait.
            let _ = self.checkpoint();
        }
    }

    /// Write the checkpoint if anything changed since the last one; then
    /// the counted queue messages it covers are deleted.
    fn checkpoint(&mut self) -> Result<(), CheckpointError> {
        let Some(dir) = &self.state_dir else {
            return Ok(());
        };
        let now = Now::system();
        let gens = self.generations();
        if self.saved == Some(gens) {
            // The checkpoint on disk still describes the current state.
            self.health.checkpointed(now);
            if let Some(q) = self.queues.as_mut() {
                q.checkpointed();
            }
            return Ok(());
        }
        let started = Instant::now();
        let c = Checkpoint {
            version: checkpoint::VERSION,
            written_at: now.unix,
            files: {
                let streams = &self.streams;
                self.tailer
                    .positions(&|serial| streams.get(&serial).map(LineStream::consumed))
            },
            cloudwatch: self
                .cloudwatch
                .as_ref()
                .map(|c| c.positions.clone())
                .unwrap_or_default(),
            queues: self.queues.as_ref().map(Queues::save).unwrap_or_default(),
            tally: self.lock().save(),
        };
        let path = checkpoint::path_in(dir);
        match checkpoint::store(dir, &c) {
            Ok(bytes) => {
                self.saved = Some(gens);
                self.health.checkpointed(now);
                if let Some(q) = self.queues.as_mut() {
                    q.checkpointed();
                }
                CheckpointWritten {
                    path: &path,
                    bytes,
                    took: started.elapsed(),
                }
                .emit(&self.metrics);
                Ok(())
            }
            Err(e) => {
                let io = match &e {
                    CheckpointError::Io { source, .. } => {
                        std::io::Error::new(source.kind(), source.to_string())
                    }
                    other => std::io::Error::other(other.to_string()),
                };
                CheckpointWriteError {
                    path: &path,
                    error: &io,
                }
                .emit(&self.metrics);
                self.health.checkpoint_failed();
                Err(e)
            }
        }
    }
}

/// The `origin` of a log group's input errors.
fn origin_of(group: &str) -> String {
    format!("cloudwatch://{group}")
}
