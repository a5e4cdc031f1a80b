//! CloudWatch Logs through `FilterLogEvents`: a time range for `replay`
//! ([`LogGroupRange`]) and a live [`Follower`] for `watch`.
//!
//! Every request takes a slot from one shared [`RateLimiter`]
//! (`--cw-rate`, default 2/s for all log groups together; the AWS quota is
//! 5/s per account and region). The server-side filter pattern only narrows
//! what is fetched: every event is classified again by the scanner. Stream
//! name prefixes are also checked on the client.
//!
//! This module reads; it never tails with StartLiveTail.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudwatchlogs::Client;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::backoff::{Backoff, Call};
use super::context::AwsContext;
use super::error::{AwsError, Needs};
use super::metrics::AwsMetrics;
use super::ratelimit::RateLimiter;
use crate::input::{InputError, InputErrorKind};
use crate::source::{Messages, Opened, Source, SourceKind};

/// A log group and an optional stream-name prefix:
/// `cloudwatch://LOG_GROUP[?stream=PREFIX]` (the scheme is optional where
/// only log groups are expected; log group names cannot hold `?`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogGroupSpec {
    /// Log group name (or ARN).
    pub group: String,
    /// Only streams whose name starts with this.
    pub stream_prefix: Option<String>,
}

impl LogGroupSpec {
    /// Parse `[cloudwatch://]GROUP[?stream=PREFIX]`.
    ///
    /// ```
    /// use denytrail::aws::LogGroupSpec;
    /// let s = LogGroupSpec::parse("cloudwatch:///aws/cloudtrail/org?stream=111122223333_").unwrap();
    /// assert_eq!(s.group, "/aws/cloudtrail/org");
    /// assert_eq!(s.stream_prefix.as_deref(), Some("111122223333_"));
    /// ```
    pub fn parse(s: &str) -> Result<LogGroupSpec, AwsError> {
        let rest = s.strip_prefix("cloudwatch://").unwrap_or(s);
        let (group, query) = match rest.split_once('?') {
            Some((g, q)) => (g, Some(q)),
            None => (rest, None),
        };
        if group.is_empty() || group.len() > 512 {
            return Err(AwsError::Config(format!(
                "{s:?}: expected cloudwatch://LOG_GROUP[?stream=PREFIX]"
            )));
        }
        let stream_prefix = match query {
            None => None,
            Some(q) => match q.strip_prefix("stream=") {
                Some(p) if !p.is_empty() => Some(p.to_string()),
                _ => {
                    return Err(AwsError::Config(format!(
                        "{s:?}: the only option is ?stream=PREFIX"
                    )));
                }
            },
        };
        Ok(LogGroupSpec {
            group: group.to_string(),
            stream_prefix,
        })
    }

    /// `cloudwatch://GROUP[?stream=PREFIX]`.
    pub fn origin(&self) -> String {
        match &self.stream_prefix {
            Some(p) => format!("cloudwatch://{}?stream={p}", self.group),
            None => format!("cloudwatch://{}", self.group),
        }
    }

    fn keeps(&self, stream: &str) -> bool {
        self.stream_prefix
            .as_deref()
            .is_none_or(|p| stream.starts_with(p))
    }
}

/// One log event as fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// The message (one record).
    pub message: String,
    /// Event timestamp, ms since the epoch.
    pub timestamp_ms: i64,
    /// The event's ID (unique within the log group).
    pub event_id: String,
    /// The stream it came from.
    pub log_stream: String,
}

/// One page of `FilterLogEvents`.
struct Page {
    events: Vec<LogEvent>,
    next: Option<String>,
}

/// The parameters of one `FilterLogEvents` query.
struct Query<'a> {
    client: &'a Client,
    spec: &'a LogGroupSpec,
    pattern: Option<&'a str>,
    start_ms: Option<i64>,
    end_ms: Option<i64>,
    limit: Option<i32>,
    call: Call<'a>,
}

impl Query<'_> {
    async fn page(&self, token: Option<&str>) -> Result<Page, AwsError> {
        let out = self
            .call
            .run(|| {
                let mut r = self.client.filter_log_events();
                r = if self.spec.group.starts_with("arn:") {
                    r.log_group_identifier(&self.spec.group)
                } else {
                    r.log_group_name(&self.spec.group)
                };
                if let Some(p) = &self.spec.stream_prefix {
                    r = r.log_stream_name_prefix(p);
                }
                if let Some(p) = self.pattern {
                    r = r.filter_pattern(p);
                }
                if let Some(t) = self.start_ms {
                    r = r.start_time(t);
                }
                if let Some(t) = self.end_ms {
                    r = r.end_time(t);
                }
                if let Some(l) = self.limit {
                    r = r.limit(l);
                }
                if let Some(t) = token {
                    r = r.next_token(t);
                }
                r.send()
            })
            .await?;
        let events = out
            .events()
            .iter()
            .filter_map(|e| {
                Some(LogEvent {
                    message: e.message()?.to_string(),
                    timestamp_ms: e.timestamp()?,
                    event_id: e.event_id()?.to_string(),
                    log_stream: e.log_stream_name().unwrap_or_default().to_string(),
                })
            })
            .filter(|e| self.spec.keeps(&e.log_stream))
            .collect();
        Ok(Page {
            events,
            next: out.next_token().map(str::to_string),
        })
    }
}

fn filter_call<'a>(
    operation_target: &'a str,
    group: &str,
    policy: &'static str,
    limiter: &'a RateLimiter,
    backoff: Backoff,
    metrics: &'a AwsMetrics,
) -> Call<'a> {
    let resource = if group.starts_with("arn:") {
        group.to_string()
    } else {
        format!("arn:aws:logs:REGION:ACCOUNT_ID:log-group:{group}")
    };
    Call {
        operation: "FilterLogEvents",
        target: operation_target,
        needs: Needs {
            permission: "logs:FilterLogEvents",
            resource,
            policy,
        },
        limiter: Some(limiter),
        backoff,
        metrics,
    }
}

/// How often one pagination may see the same `nextToken` in a row before
/// giving up on it (AWS repeats a token, with empty pages, while it is still
/// searching).
const MAX_TOKEN_REPEATS: u32 = 20;

/// Tracks a pagination's tokens: follows new ones, tolerates repeats.
#[derive(Debug, Default)]
struct Tokens {
    current: Option<String>,
    repeats: u32,
}

impl Tokens {
    /// Take the next token of a page: `Ok(true)` to fetch another page,
    /// `Ok(false)` at the end, `Err` when a token repeats too often.
    fn advance(&mut self, next: Option<String>) -> Result<bool, u32> {
        match next {
            None => Ok(false),
            Some(t) => {
                if self.current.as_deref() == Some(&t) {
                    self.repeats += 1;
                    if self.repeats > MAX_TOKEN_REPEATS {
                        return Err(self.repeats);
                    }
                } else {
                    self.repeats = 0;
                }
                self.current = Some(t);
                Ok(true)
            }
        }
    }
}

/// A log group over the replay time range: one replay input, a source of
/// messages.
#[derive(Debug)]
pub struct LogGroupRange {
    ctx: Arc<AwsContext>,
    spec: LogGroupSpec,
}

impl LogGroupRange {
    pub(crate) fn new(ctx: Arc<AwsContext>, spec: LogGroupSpec) -> LogGroupRange {
        LogGroupRange { ctx, spec }
    }
}

impl Source for LogGroupRange {
    fn origin(&self) -> String {
        self.spec.origin()
    }

    fn key(&self) -> String {
        self.spec.origin()
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Cloudwatch
    }

    fn open(&self) -> Result<Opened<'_>, InputError> {
        Ok(Opened::Messages(Box::new(RangePages {
            range: self,
            origin: self.origin(),
            tokens: Tokens::default(),
            seen: BTreeSet::new(),
            done: false,
        })))
    }
}

/// The pages of one log group over the replay range, fetched one at a time.
struct RangePages<'a> {
    range: &'a LogGroupRange,
    origin: String,
    tokens: Tokens,
    /// Event IDs handed out: a retried request may repeat an event.
    seen: BTreeSet<String>,
    done: bool,
}

impl Messages for RangePages<'_> {
    fn next_page(&mut self) -> Option<Result<Vec<String>, InputError>> {
        if self.done {
            return None;
        }
        let ctx = &self.range.ctx;
        let s = &ctx.settings;
        let query = Query {
            client: &ctx.logs,
            spec: &self.range.spec,
            pattern: s.filter_pattern.as_deref(),
            start_ms: s.range.since.map(|t| t.timestamp_millis()),
            // FilterLogEvents' endTime is inclusive; the range's end is not.
            end_ms: s.range.until.map(|t| t.timestamp_millis() - 1),
            limit: s.cw_page_limit,
            call: filter_call(
                &self.origin,
                &self.range.spec.group,
                "replay-cloudwatch.json",
                &ctx.cw_limiter,
                s.backoff,
                &ctx.metrics,
            ),
        };
        let failed = |e: AwsError| InputError {
            origin: self.origin.clone(),
            offset: 0,
            kind: InputErrorKind::Unreadable,
            detail: e.to_string(),
        };
        let page = match ctx.rt.block_on(query.page(self.tokens.current.as_deref())) {
            Ok(p) => p,
            Err(e) => {
                self.done = true;
                return Some(Err(failed(e)));
            }
        };
        let mut messages = Vec::with_capacity(page.events.len());
        for e in page.events {
            if self.seen.insert(e.event_id) {
                messages.push(e.message);
            }
        }
        ctx.metrics
            .cloudwatch_fetched(&self.range.spec.group, messages.len() as u64);
        match self.tokens.advance(page.next) {
            Ok(true) => {}
            Ok(false) => self.done = true,
            Err(n) => {
                self.done = true;
                if messages.is_empty() {
                    return Some(Err(failed(AwsError::Api {
                        operation: "FilterLogEvents",
                        target: self.origin.clone(),
                        code: "RepeatedNextToken".into(),
                        message: format!(
                            "the same nextToken came back {n} times in a row; events after it were not read"
                        ),
                    })));
                }
            }
        }
        Some(Ok(messages))
    }
}

/// Where a [`Follower`] is: the start of the next query and the events
/// already delivered at or after it, so a restart neither loses nor repeats
/// an event.
///
/// At rest (after a complete poll, no lookback) `start_ms` is the newest
/// event's timestamp and `seen` holds the IDs of the events at exactly that
/// timestamp. Mid-poll (a checkpoint sent with a batch) `start_ms` stays
/// the poll's start and `seen` holds everything delivered since it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Start of the next query (inclusive), ms since the epoch.
    pub start_ms: i64,
    /// `(timestamp_ms, event_id)` of the events delivered at or after
    /// `start_ms`.
    pub seen: BTreeSet<(i64, String)>,
}

impl Checkpoint {
    /// Start reading at `start_ms` with nothing delivered yet.
    pub fn at(start_ms: i64) -> Checkpoint {
        Checkpoint {
            start_ms,
            seen: BTreeSet::new(),
        }
    }

    /// Has this event been delivered already (or is it before the start)?
    pub fn has(&self, timestamp_ms: i64, event_id: &str) -> bool {
        timestamp_ms < self.start_ms || self.seen.contains(&(timestamp_ms, event_id.to_string()))
    }

    fn newest(&self) -> Option<i64> {
        self.seen.last().map(|(t, _)| *t)
    }

    /// Move the start to `start_ms` (never back) and forget what is before it.
    fn advance(&mut self, start_ms: i64) {
        if start_ms > self.start_ms {
            self.start_ms = start_ms;
            self.seen = self.seen.split_off(&(start_ms, String::new()));
        }
    }
}

/// A batch of new events of one log group and the checkpoint to save once
/// they are processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowBatch {
    /// The log group (as configured).
    pub log_group: String,
    /// New events, in page order (empty when only the checkpoint moved).
    pub events: Vec<LogEvent>,
    /// The checkpoint covering these events and every one before.
    pub checkpoint: Checkpoint,
    /// Set on one event-less batch that [`Follower::run`] sends after its
    /// first poll that reached the present (or failed): every event the
    /// follower had delivered to a previous process after `start` has been
    /// delivered again before it, so a consumer that re-seeded its counters
    /// from a checkpoint may now report them.
    pub caught_up: bool,
}

/// Knobs of a [`Follower`].
#[derive(Debug, Clone)]
pub struct FollowerConfig {
    /// What to follow.
    pub spec: LogGroupSpec,
    /// Server-side filter pattern (`None`: every event).
    pub filter_pattern: Option<String>,
    /// Pause between two polls.
    pub poll_interval: Duration,
    /// How far back each poll looks again for late-ingested events (events
    /// ingested later than this after their timestamp are missed).
    pub lookback: Duration,
    /// Longest time span one poll covers, so catching up after a long stop
    /// goes in steps with bounded memory.
    pub max_window: Duration,
    /// Events per page (`None`: as many as AWS returns).
    pub page_limit: Option<i32>,
    /// Retry settings for each request.
    pub backoff: Backoff,
}

impl FollowerConfig {
    /// Defaults for `spec`: the CloudTrail pattern, a 10 s poll, a 5 min
    /// lookback, 1 h windows.
    pub fn new(spec: LogGroupSpec) -> FollowerConfig {
        FollowerConfig {
            spec,
            filter_pattern: Some(crate::prefilter::cloudtrail_pattern()),
            poll_interval: Duration::from_secs(10),
            lookback: Duration::from_secs(300),
            max_window: Duration::from_secs(3600),
            page_limit: None,
            backoff: Backoff::default(),
        }
    }
}

/// How a poll ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollEnd {
    /// Every page was read; the checkpoint moved forward.
    Complete,
    /// The pagination was abandoned (a token repeated too often); the
    /// checkpoint did not move, the next poll reads the window again.
    Incomplete,
    /// Cancelled, or the receiver is gone.
    Stopped,
}

/// Follows one log group by polling `FilterLogEvents`, sending new events
/// over a bounded channel (backpressure: a slow consumer slows the polls).
pub struct Follower {
    client: Client,
    cfg: FollowerConfig,
    limiter: Arc<RateLimiter>,
    metrics: AwsMetrics,
    clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    target: String,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Follower {
    /// A follower of `cfg.spec` through `client`, taking request slots from
    /// `limiter` (share one limiter between every follower of an account
    /// and region).
    pub fn new(
        client: Client,
        cfg: FollowerConfig,
        limiter: Arc<RateLimiter>,
        metrics: AwsMetrics,
    ) -> Follower {
        let target = cfg.spec.origin();
        Follower {
            client,
            cfg,
            limiter,
            metrics,
            clock: Arc::new(now_ms),
            target,
        }
    }

    /// Replace the clock (ms since the epoch), for tests.
    pub fn with_clock(mut self, clock: Arc<dyn Fn() -> i64 + Send + Sync>) -> Follower {
        self.clock = clock;
        self
    }

    /// One poll: read every page from `cp.start_ms` to now (or to the end of
    /// the window), sending new events with the checkpoint after each page,
    /// then move the checkpoint forward and send it.
    pub async fn poll(
        &self,
        cp: &mut Checkpoint,
        tx: &mpsc::Sender<FollowBatch>,
        cancel: &CancellationToken,
    ) -> Result<PollEnd, AwsError> {
        let now = (self.clock)();
        let window_end = cp
            .start_ms
            .saturating_add(self.cfg.max_window.as_millis() as i64);
        let capped = window_end < now;
        let end = if capped {
            window_end
        } else {
            now.max(cp.start_ms)
        };
        let query = Query {
            client: &self.client,
            spec: &self.cfg.spec,
            pattern: self.cfg.filter_pattern.as_deref(),
            start_ms: Some(cp.start_ms),
            end_ms: Some(end),
            limit: self.cfg.page_limit,
            call: filter_call(
                &self.target,
                &self.cfg.spec.group,
                "watch-cloudwatch.json",
                &self.limiter,
                self.cfg.backoff,
                &self.metrics,
            ),
        };
        let group = &self.cfg.spec.group;
        let mut tokens = Tokens::default();
        loop {
            let page = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Ok(PollEnd::Stopped),
                p = query.page(tokens.current.as_deref()) => p?,
            };
            let mut fresh = Vec::new();
            for e in page.events {
                if cp.has(e.timestamp_ms, &e.event_id) {
                    continue;
                }
                cp.seen.insert((e.timestamp_ms, e.event_id.clone()));
                fresh.push(e);
            }
            if !fresh.is_empty() {
                self.metrics.cloudwatch_fetched(group, fresh.len() as u64);
                let batch = FollowBatch {
                    log_group: group.clone(),
                    events: fresh,
                    checkpoint: cp.clone(),
                    caught_up: false,
                };
                if !self.send(tx, batch, cancel).await {
                    return Ok(PollEnd::Stopped);
                }
            }
            match tokens.advance(page.next) {
                Ok(true) => {}
                Ok(false) => break,
                Err(n) => {
                    tracing::warn!(
                        log_group = %group,
                        "FilterLogEvents on {}: the same nextToken came back {n} times; reading the window again next poll",
                        self.target
                    );
                    return Ok(PollEnd::Incomplete);
                }
            }
        }
        let lookback = self.cfg.lookback.as_millis() as i64;
        let settled = end.saturating_sub(lookback);
        let next_start = if capped {
            settled
        } else {
            settled.min(cp.newest().unwrap_or(settled))
        };
        let before = cp.start_ms;
        cp.advance(next_start);
        self.metrics
            .cloudwatch_lag(group, ((now - end).max(0) as f64) / 1000.0);
        if cp.start_ms != before {
            let batch = FollowBatch {
                log_group: group.clone(),
                events: Vec::new(),
                checkpoint: cp.clone(),
                caught_up: false,
            };
            if !self.send(tx, batch, cancel).await {
                return Ok(PollEnd::Stopped);
            }
        }
        Ok(PollEnd::Complete)
    }

    async fn send(
        &self,
        tx: &mpsc::Sender<FollowBatch>,
        batch: FollowBatch,
        cancel: &CancellationToken,
    ) -> bool {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => false,
            r = tx.send(batch) => r.is_ok(),
        }
    }

    /// Poll until cancelled or until the receiver is dropped, starting from
    /// `start`; returns the last checkpoint. API errors are logged (with
    /// the permission to grant when denied) and the next poll tries again.
    /// After the first poll that reached the present (or failed), one
    /// event-less batch with [`FollowBatch::caught_up`] set is sent.
    pub async fn run(
        self,
        start: Checkpoint,
        cancel: CancellationToken,
        tx: mpsc::Sender<FollowBatch>,
    ) -> Checkpoint {
        let mut cp = start;
        let mut announced = false;
        loop {
            let mut attempt = cp.clone();
            let complete = match self.poll(&mut attempt, &tx, &cancel).await {
                Ok(PollEnd::Stopped) => return attempt,
                Ok(end) => end == PollEnd::Complete,
                Err(e) => {
                    tracing::error!(log_group = %self.cfg.spec.group, "{e}");
                    false
                }
            };
            // Events already sent are in `attempt.seen`: keep them.
            cp = attempt;
            // Catching up: poll again at once while windows are capped.
            let behind = (self.clock)() - cp.start_ms > self.cfg.max_window.as_millis() as i64;
            if complete && behind && !cancel.is_cancelled() {
                continue;
            }
            if !announced {
                announced = true;
                let batch = FollowBatch {
                    log_group: self.cfg.spec.group.clone(),
                    events: Vec::new(),
                    checkpoint: cp.clone(),
                    caught_up: true,
                };
                if !self.send(&tx, batch, &cancel).await {
                    return cp;
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return cp,
                _ = tokio::time::sleep(self.cfg.poll_interval) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        let s = LogGroupSpec::parse("cloudwatch://app").unwrap();
        assert_eq!((s.group.as_str(), s.stream_prefix), ("app", None));
        assert_eq!(LogGroupSpec::parse("/aws/x").unwrap().group, "/aws/x");
        assert!(LogGroupSpec::parse("cloudwatch://").is_err());
        assert!(LogGroupSpec::parse("g?foo=1").is_err());
        assert!(LogGroupSpec::parse("g?stream=").is_err());
        let s = LogGroupSpec::parse("g?stream=a").unwrap();
        assert!(s.keeps("abc") && !s.keeps("bcd"));
        assert_eq!(s.origin(), "cloudwatch://g?stream=a");
    }

    #[test]
    fn tokens_tolerate_repeats_then_give_up() {
        let mut t = Tokens::default();
        assert_eq!(t.advance(Some("a".into())), Ok(true));
        assert_eq!(t.advance(Some("a".into())), Ok(true));
        assert_eq!(t.advance(Some("b".into())), Ok(true));
        for _ in 0..MAX_TOKEN_REPEATS {
            assert_eq!(t.advance(Some("b".into())), Ok(true));
        }
        assert!(t.advance(Some("b".into())).is_err());
        assert_eq!(t.advance(None), Ok(false));
    }

    #[test]
    fn checkpoints_advance_and_forget() {
        let mut cp = Checkpoint::at(100);
        for (t, id) in [(100, "a"), (150, "b"), (200, "c"), (200, "d")] {
            cp.seen.insert((t, id.to_string()));
        }
        assert!(cp.has(99, "zz") && cp.has(150, "b") && !cp.has(150, "x"));
        cp.advance(200);
        assert_eq!(cp.start_ms, 200);
        assert_eq!(cp.seen.len(), 2);
        assert!(cp.has(200, "c") && !cp.has(200, "e"));
        cp.advance(50);
        assert_eq!(cp.start_ms, 200);
        let json = serde_json::to_string(&cp).unwrap();
        assert_eq!(serde_json::from_str::<Checkpoint>(&json).unwrap(), cp);
    }
}
