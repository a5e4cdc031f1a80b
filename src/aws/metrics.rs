//! The AWS sources' Prometheus metrics (names fixed in DESIGN.md), declared
//! once and registered into the registry the caller passes in.
//!
//! Label values are closed sets (`operation`, `outcome`, `reason`) or the
//! configured log group and queue names (as many as the user configured).

use prometheus::{GaugeVec, IntCounterVec, Opts, Registry};

use super::notification::Skip;

/// How an API attempt ended: the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A response that was used.
    Ok,
    /// Throttled (ThrottlingException, SlowDown, HTTP 429).
    Throttled,
    /// Any other failure (5xx, network, denied, not found).
    Error,
}

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Throttled => "throttled",
            Outcome::Error => "error",
        }
    }
}

/// Why a queue announcement was not read: the `reason` label of
/// `denytrail_sqs_skipped_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueSkip {
    /// What the envelope itself says is not to be read.
    Announced(Skip),
    /// An object (or a whole message) this replica counted already: a
    /// repeated delivery.
    AlreadyCounted,
}

impl QueueSkip {
    /// Every reason, in a stable order.
    pub const ALL: [QueueSkip; 6] = [
        QueueSkip::Announced(Skip::TestEvent),
        QueueSkip::Announced(Skip::NotCreated),
        QueueSkip::Announced(Skip::Digest),
        QueueSkip::Announced(Skip::Insight),
        QueueSkip::Announced(Skip::NotCloudTrail),
        QueueSkip::AlreadyCounted,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueSkip::Announced(s) => s.as_str(),
            QueueSkip::AlreadyCounted => "already_counted",
        }
    }
}

/// Counters and gauges of the S3, CloudWatch Logs and SQS sources. Cheap
/// to clone (the collectors are shared).
#[derive(Debug, Clone)]
pub struct AwsMetrics {
    api_calls: IntCounterVec,
    throttles: IntCounterVec,
    cw_fetched: IntCounterVec,
    cw_matched: IntCounterVec,
    cw_lag: GaugeVec,
    sqs_received: IntCounterVec,
    sqs_deleted: IntCounterVec,
    sqs_failed: IntCounterVec,
    sqs_objects: IntCounterVec,
    sqs_bytes: IntCounterVec,
    sqs_skipped: IntCounterVec,
    sqs_lag: GaugeVec,
}

impl AwsMetrics {
    /// Declare the metrics and register them into `registry`.
    ///
    /// ```
    /// let r = prometheus::Registry::new();
    /// let m = denytrail::aws::AwsMetrics::register(&r).unwrap();
    /// m.cloudwatch_fetched("/aws/cloudtrail", 3);
    /// assert_eq!(m.fetched_count("/aws/cloudtrail"), 3);
    /// ```
    pub fn register(registry: &Registry) -> Result<AwsMetrics, prometheus::Error> {
        let m = AwsMetrics {
            api_calls: IntCounterVec::new(
                Opts::new(
                    "denytrail_aws_api_calls_total",
                    "AWS API attempts made by denytrail (every retry counts), by operation and outcome.",
                ),
                &["operation", "outcome"],
            )?,
            throttles: IntCounterVec::new(
                Opts::new(
                    "denytrail_aws_throttles_total",
                    "AWS API attempts answered with a throttling error, by operation.",
                ),
                &["operation"],
            )?,
            cw_fetched: IntCounterVec::new(
                Opts::new(
                    "denytrail_cloudwatch_events_fetched_total",
                    "CloudWatch Logs events fetched by FilterLogEvents (after the server-side filter, without repeats).",
                ),
                &["log_group"],
            )?,
            cw_matched: IntCounterVec::new(
                Opts::new(
                    "denytrail_cloudwatch_events_matched_total",
                    "CloudWatch Logs events that denytrail classified as denials or authentication failures.",
                ),
                &["log_group"],
            )?,
            cw_lag: GaugeVec::new(
                Opts::new(
                    "denytrail_cloudwatch_lag_seconds",
                    "Seconds between now and the end of the time window the CloudWatch follower last read completely.",
                ),
                &["log_group"],
            )?,
            sqs_received: queue_counter(
                "denytrail_sqs_messages_received_total",
                "SQS messages received (a message received again counts again).",
            )?,
            sqs_deleted: queue_counter(
                "denytrail_sqs_messages_deleted_total",
                "SQS messages deleted once what they announced was counted (or skipped) and checkpointed.",
            )?,
            sqs_failed: queue_counter(
                "denytrail_sqs_messages_failed_total",
                "SQS messages left on the queue for redelivery and, past its maxReceiveCount, its dead-letter queue: an object could not be read or was damaged, or the body is no known envelope.",
            )?,
            sqs_objects: queue_counter(
                "denytrail_sqs_objects_read_total",
                "S3 objects announced on the queue, downloaded whole.",
            )?,
            sqs_bytes: queue_counter(
                "denytrail_sqs_bytes_read_total",
                "Bytes of S3 objects announced on the queue, as stored (compressed).",
            )?,
            sqs_skipped: IntCounterVec::new(
                Opts::new(
                    "denytrail_sqs_skipped_total",
                    "Announcements not read: test events, events other than object creation, digest, Insight and non-CloudTrail keys, and objects or messages already counted.",
                ),
                &["queue", "reason"],
            )?,
            sqs_lag: GaugeVec::new(
                Opts::new(
                    "denytrail_sqs_lag_seconds",
                    "Age of the oldest message being handled (from its SentTimestamp); 0 when none is.",
                ),
                &["queue"],
            )?,
        };
        registry.register(Box::new(m.api_calls.clone()))?;
        registry.register(Box::new(m.throttles.clone()))?;
        registry.register(Box::new(m.cw_fetched.clone()))?;
        registry.register(Box::new(m.cw_matched.clone()))?;
        registry.register(Box::new(m.cw_lag.clone()))?;
        for c in [
            &m.sqs_received,
            &m.sqs_deleted,
            &m.sqs_failed,
            &m.sqs_objects,
            &m.sqs_bytes,
            &m.sqs_skipped,
        ] {
            registry.register(Box::new(c.clone()))?;
        }
        registry.register(Box::new(m.sqs_lag.clone()))?;
        Ok(m)
    }

    /// Metrics registered into a private registry (for runs that export none,
    /// like `replay`).
    pub fn detached() -> AwsMetrics {
        match AwsMetrics::register(&Registry::new()) {
            Ok(m) => m,
            // A fresh registry holds no clashing names, and the names are
            // valid constants: this cannot fail.
            Err(e) => unreachable!("registering AWS metrics into a fresh registry: {e}"),
        }
    }

    /// Count one API attempt.
    pub fn api_call(&self, operation: &str, outcome: Outcome) {
        self.api_calls
            .with_label_values(&[operation, outcome.as_str()])
            .inc();
        if outcome == Outcome::Throttled {
            self.throttles.with_label_values(&[operation]).inc();
        }
    }

    /// `n` new events fetched from `log_group`.
    pub fn cloudwatch_fetched(&self, log_group: &str, n: u64) {
        self.cw_fetched.with_label_values(&[log_group]).inc_by(n);
    }

    /// `n` fetched events of `log_group` classified as denials or
    /// authentication failures.
    pub fn cloudwatch_matched(&self, log_group: &str, n: u64) {
        self.cw_matched.with_label_values(&[log_group]).inc_by(n);
    }

    /// Set the follower lag of `log_group`.
    pub fn cloudwatch_lag(&self, log_group: &str, seconds: f64) {
        self.cw_lag.with_label_values(&[log_group]).set(seconds);
    }

    /// Export every series of `queue` at zero (its counters then exist
    /// from the start, so `increase()` sees their first step).
    pub fn sqs_queue(&self, queue: &str) {
        for c in [
            &self.sqs_received,
            &self.sqs_deleted,
            &self.sqs_failed,
            &self.sqs_objects,
            &self.sqs_bytes,
        ] {
            c.with_label_values(&[queue]);
        }
        for r in QueueSkip::ALL {
            self.sqs_skipped.with_label_values(&[queue, r.as_str()]);
        }
        self.sqs_lag.with_label_values(&[queue]).set(0.0);
    }

    /// `n` messages received from `queue`.
    pub fn sqs_received(&self, queue: &str, n: u64) {
        self.sqs_received.with_label_values(&[queue]).inc_by(n);
    }

    /// `n` messages of `queue` deleted.
    pub fn sqs_deleted(&self, queue: &str, n: u64) {
        self.sqs_deleted.with_label_values(&[queue]).inc_by(n);
    }

    /// A message of `queue` left for redelivery.
    pub fn sqs_failed(&self, queue: &str) {
        self.sqs_failed.with_label_values(&[queue]).inc();
    }

    /// An object announced on `queue` was downloaded: `bytes` as stored.
    pub fn sqs_object_read(&self, queue: &str, bytes: u64) {
        self.sqs_objects.with_label_values(&[queue]).inc();
        self.sqs_bytes.with_label_values(&[queue]).inc_by(bytes);
    }

    /// An announcement on `queue` was not read.
    pub fn sqs_skipped(&self, queue: &str, why: QueueSkip) {
        self.sqs_skipped
            .with_label_values(&[queue, why.as_str()])
            .inc();
    }

    /// Set the lag of `queue`: the age of its oldest message being handled.
    pub fn sqs_lag(&self, queue: &str, seconds: f64) {
        self.sqs_lag.with_label_values(&[queue]).set(seconds);
    }

    /// Attempts of `operation` that ended with `outcome` so far.
    pub fn api_call_count(&self, operation: &str, outcome: Outcome) -> u64 {
        self.api_calls
            .with_label_values(&[operation, outcome.as_str()])
            .get()
    }

    /// Throttled attempts of `operation` so far.
    pub fn throttle_count(&self, operation: &str) -> u64 {
        self.throttles.with_label_values(&[operation]).get()
    }

    /// Events fetched from `log_group` so far.
    pub fn fetched_count(&self, log_group: &str) -> u64 {
        self.cw_fetched.with_label_values(&[log_group]).get()
    }

    /// Events of `log_group` matched so far.
    pub fn matched_count(&self, log_group: &str) -> u64 {
        self.cw_matched.with_label_values(&[log_group]).get()
    }
}

fn queue_counter(name: &str, help: &str) -> Result<IntCounterVec, prometheus::Error> {
    IntCounterVec::new(Opts::new(name, help), &["queue"])
}
