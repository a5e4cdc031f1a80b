//! Every Prometheus metric denytrail exports, declared once, with its help
//! text.
//!
//! Names and labels are a contract with `dashboards/` and `deploy/` (the
//! table in `DESIGN.md`). There are no globals: [`Metrics::new`] builds one
//! [`prometheus::Registry`] and the handles to every metric in it, and the
//! caller passes the `Metrics` down to whatever counts. Nothing here decides
//! *when* a metric moves; that is [`crate::events`]' job.
//!
//! The AWS sources' metrics (`denytrail_aws_*`, `denytrail_cloudwatch_*`)
//! are declared in `aws::metrics` and registered into [`Metrics::registry`]
//! by whoever runs those sources.
//!
//! Label values come from closed sets ([`crate::input::InputErrorKind`],
//! [`SourceKind`], hint and reason codes) except `principal` and `action`,
//! which callers must only set behind the series cap (`watch::series`).

use prometheus::{
    Encoder, Gauge, GaugeVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// A label value from a log, with control characters (ESC, CR, NUL, …)
/// escaped as `\u{1b}`, so that a scraped page cannot carry them.
///
/// ```
/// assert_eq!(denytrail::metrics::label("u\u{1b}]0;x\u{7}"), "u\\u{1b}]0;x\\u{7}");
/// ```
pub fn label(s: &str) -> std::borrow::Cow<'_, str> {
    crate::report::shown(s)
}

/// The `principal` label value denials are folded into past the series cap.
pub const OTHER: &str = crate::aggregate::FOLDED_PRINCIPAL;

/// The `error_code` label values of `denytrail_auth_failures_total`: the
/// well-known codes, anything else is `other`.
///
/// ```
/// use denytrail::metrics::auth_failure_label;
/// assert_eq!(auth_failure_label("ExpiredToken"), "ExpiredToken");
/// assert_eq!(auth_failure_label("SomethingNew"), "other");
/// ```
pub fn auth_failure_label(code: &str) -> &'static str {
    match code {
        "InvalidClientTokenId" => "InvalidClientTokenId",
        "ExpiredToken" | "ExpiredTokenException" => "ExpiredToken",
        "SignatureDoesNotMatch" => "SignatureDoesNotMatch",
        _ => "other",
    }
}

/// Every value [`auth_failure_label`] can return.
pub const AUTH_FAILURE_LABELS: [&str; 4] = [
    "InvalidClientTokenId",
    "ExpiredToken",
    "SignatureDoesNotMatch",
    "other",
];

/// The registry and a handle to every metric in it.
///
/// ```
/// let m = denytrail::metrics::Metrics::new().unwrap();
/// m.duplicates.inc();
/// assert!(m.encode().unwrap().contains("denytrail_duplicates_total 1"));
/// ```
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `denytrail_denials_total{principal,action,hint,reason}`.
    pub denials: IntCounterVec,
    /// `denytrail_series_folded_total`.
    pub series_folded: IntCounter,
    /// `denytrail_series`.
    pub series: IntGauge,
    /// `denytrail_series_expired_total`.
    pub series_expired: IntCounter,
    /// `denytrail_auth_failures_total{error_code}`.
    pub auth_failures: IntCounterVec,
    /// `denytrail_duplicates_total`.
    pub duplicates: IntCounter,
    /// `denytrail_records_scanned_total{source_kind}`.
    pub records_scanned: IntCounterVec,
    /// `denytrail_bytes_scanned_total{source_kind}`.
    pub bytes_scanned: IntCounterVec,
    /// `denytrail_input_errors_total{kind}`.
    pub input_errors: IntCounterVec,
    /// `denytrail_last_event_timestamp_seconds{source}`.
    pub last_event_timestamp: GaugeVec,
    /// `denytrail_checkpoint_age_seconds`.
    pub checkpoint_age: Gauge,
    /// `denytrail_checkpoint_writes_total{outcome}`.
    pub checkpoint_writes: IntCounterVec,
    /// `denytrail_file_rotations_total{kind}`.
    pub file_rotations: IntCounterVec,
    /// `denytrail_files_followed`.
    pub files_followed: IntGauge,
    /// `denytrail_http_connections`.
    pub http_connections: IntGauge,
    /// `denytrail_http_connections_closed_total{reason}`.
    pub http_closed: IntCounterVec,
    /// `denytrail_build_info{version,rustc}`.
    pub build_info: IntGaugeVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// The compiler that built this binary (set by `build.rs`).
pub const RUSTC_VERSION: &str = match option_env!("DENYTRAIL_RUSTC_VERSION") {
    Some(v) => v,
    None => "unknown",
};

fn counter(r: &Registry, name: &str, help: &str) -> prometheus::Result<IntCounter> {
    let c = IntCounter::new(name, help)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn gauge(r: &Registry, name: &str, help: &str) -> prometheus::Result<IntGauge> {
    let g = IntGauge::new(name, help)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

fn counter_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn gauge_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<GaugeVec> {
    let g = GaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

impl Metrics {
    /// A fresh registry with every denytrail metric, the process collector
    /// (`process_*`) and `denytrail_build_info` set to 1.
    pub fn new() -> prometheus::Result<Metrics> {
        let r = Registry::new();
        let m = Metrics {
            denials: counter_vec(
                &r,
                "denytrail_denials_total",
                "AccessDenied events counted, by principal (folded into __other__ past the series cap), denied action, remediation hint code and denial reason code.",
                &["principal", "action", "hint", "reason"],
            )?,
            series_folded: counter(
                &r,
                "denytrail_series_folded_total",
                "Denials whose principal was folded into principal=\"__other__\" because the principal/action series cap was reached.",
            )?,
            series: gauge(
                &r,
                "denytrail_series",
                "Live principal/action label sets of denytrail_denials_total.",
            )?,
            series_expired: counter(
                &r,
                "denytrail_series_expired_total",
                "Principal/action label sets removed after --series-ttl without a denial.",
            )?,
            auth_failures: counter_vec(
                &r,
                "denytrail_auth_failures_total",
                "Authentication failures (bad or expired credentials; not denials), by error code.",
                &["error_code"],
            )?,
            duplicates: counter(
                &r,
                "denytrail_duplicates_total",
                "Events dropped as repeated deliveries (same eventID or sharedEventID).",
            )?,
            records_scanned: counter_vec(
                &r,
                "denytrail_records_scanned_total",
                "Records (lines, log events) scanned, by source kind.",
                &["source_kind"],
            )?,
            bytes_scanned: counter_vec(
                &r,
                "denytrail_bytes_scanned_total",
                "Bytes scanned (decompressed), by source kind.",
                &["source_kind"],
            )?,
            input_errors: counter_vec(
                &r,
                "denytrail_input_errors_total",
                "Bad input skipped (invalid JSON, oversized records, unreadable files, ...), by kind.",
                &["kind"],
            )?,
            last_event_timestamp: gauge_vec(
                &r,
                "denytrail_last_event_timestamp_seconds",
                "Unix time at which the newest record was read from the source.",
                &["source"],
            )?,
            checkpoint_age: {
                let g = Gauge::new(
                    "denytrail_checkpoint_age_seconds",
                    "Seconds since the last checkpoint was written (since start if none yet; 0 without --state-dir).",
                )?;
                r.register(Box::new(g.clone()))?;
                g
            },
            checkpoint_writes: counter_vec(
                &r,
                "denytrail_checkpoint_writes_total",
                "Checkpoint writes, by outcome (ok, error).",
                &["outcome"],
            )?,
            file_rotations: counter_vec(
                &r,
                "denytrail_file_rotations_total",
                "Followed files rotated, by kind (rename: moved away and recreated; truncate: cut in place).",
                &["kind"],
            )?,
            files_followed: gauge(
                &r,
                "denytrail_files_followed",
                "Files followed now (open, or closed under --max-open-files until they change).",
            )?,
            http_connections: gauge(
                &r,
                "denytrail_http_connections",
                "HTTP connections open to the metrics server.",
            )?,
            http_closed: counter_vec(
                &r,
                "denytrail_http_connections_closed_total",
                "HTTP connections the server closed to stay within --http-max-connections (reason=\"limit\"), or to make room after it could not accept one (reason=\"accept_error\").",
                &["reason"],
            )?,
            build_info: {
                let g = IntGaugeVec::new(
                    Opts::new(
                        "denytrail_build_info",
                        "Always 1; labels name the denytrail version and the compiler that built it.",
                    ),
                    &["version", "rustc"],
                )?;
                r.register(Box::new(g.clone()))?;
                g
            },
            registry: r,
        };
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), RUSTC_VERSION])
            .set(1);
        // Closed label sets start at zero, so that rate() and increase()
        // have a series (and alerts a baseline) before the first event.
        for kind in ["rename", "truncate"] {
            m.file_rotations.with_label_values(&[kind]);
        }
        for outcome in ["ok", "error"] {
            m.checkpoint_writes.with_label_values(&[outcome]);
        }
        for reason in ["limit", "accept_error"] {
            m.http_closed.with_label_values(&[reason]);
        }
        for kind in crate::input::InputErrorKind::ALL {
            m.input_errors.with_label_values(&[kind.as_str()]);
        }
        for code in AUTH_FAILURE_LABELS {
            m.auth_failures.with_label_values(&[code]);
        }
        #[cfg(target_os = "linux")]
        m.registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(m)
    }

    /// The registry (to gather or to register more collectors).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Everything in the Prometheus text exposition format.
    pub fn encode(&self) -> Result<String, prometheus::Error> {
        let mut buf = Vec::with_capacity(16 * 1024);
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        String::from_utf8(buf).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_design_metric_is_exported() {
        let m = Metrics::new().unwrap();
        m.denials.with_label_values(&["p", "a", "h", "r"]).inc();
        m.auth_failures.with_label_values(&["other"]).inc();
        m.records_scanned.with_label_values(&["file"]).inc();
        m.bytes_scanned.with_label_values(&["file"]).inc();
        m.input_errors.with_label_values(&["binary"]).inc();
        m.last_event_timestamp.with_label_values(&["s"]).set(1.0);
        // The AWS sources declare theirs in `aws::metrics`, into this
        // registry (as `watch` does when it follows one).
        let aws = crate::aws::AwsMetrics::register(m.registry()).unwrap();
        aws.api_call("GetObject", crate::aws::metrics::Outcome::Ok);
        aws.api_call("GetObject", crate::aws::metrics::Outcome::Throttled);
        aws.cloudwatch_fetched("g", 1);
        aws.cloudwatch_matched("g", 1);
        aws.cloudwatch_lag("g", 1.0);
        aws.sqs_queue("q");
        let text = m.encode().unwrap();
        let design = include_str!("../DESIGN.md");
        for line in design.lines().filter(|l| l.starts_with("| `denytrail_")) {
            let name = line.split('`').nth(1).unwrap();
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "{name} is not exported"
            );
        }
        assert!(text.contains("process_resident_memory_bytes"));
        assert!(text.contains("denytrail_build_info{rustc="));
    }

    #[test]
    fn metrics_are_send_sync() {
        fn ok<T: Send + Sync>() {}
        ok::<Metrics>();
    }
}
