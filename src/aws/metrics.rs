//! The AWS sources' Prometheus metrics (names fixed in DESIGN.md), declared
//! once and registered into the registry the caller passes in.
//!
//! Label values are closed sets (`operation`, `outcome`) or the configured
//! log group names (as many as the user configured).

use prometheus::{GaugeVec, IntCounterVec, Opts, Registry};

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

/// Counters and gauges of the S3 and CloudWatch Logs sources. Cheap to
/// clone (the collectors are shared).
#[derive(Debug, Clone)]
pub struct AwsMetrics {
    api_calls: IntCounterVec,
    throttles: IntCounterVec,
    cw_fetched: IntCounterVec,
    cw_matched: IntCounterVec,
    cw_lag: GaugeVec,
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
        };
        registry.register(Box::new(m.api_calls.clone()))?;
        registry.register(Box::new(m.throttles.clone()))?;
        registry.register(Box::new(m.cw_fetched.clone()))?;
        registry.register(Box::new(m.cw_matched.clone()))?;
        registry.register(Box::new(m.cw_lag.clone()))?;
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
