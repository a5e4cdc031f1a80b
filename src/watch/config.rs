//! `denytrail watch` settings: the clap arguments as typed, checked once and
//! turned into working values by [`WatchArgs::build`]. Nothing here runs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::tail::{FileSource, SourceError, StartAt};
use crate::aws::{AwsConnArgs, AwsError, LogGroupSpec, QueueSpec};
use crate::scan::Scanner;
use crate::scope::Scope;
use crate::time::parse_duration;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `denytrail watch`: follow logs, count denials, serve Prometheus metrics.
#[derive(Debug, Clone, clap::Args)]
pub struct WatchArgs {
    /// Follow files matching `[NAME=]GLOB` like `tail -F` (repeatable). NAME
    /// is the `source` label (default: the glob). Files with gzip content
    /// are not followed.
    #[arg(long = "file", value_name = "[NAME=]GLOB")]
    pub files: Vec<String>,
    /// Also read standard input until it ends (the server keeps running).
    #[arg(long)]
    pub stdin: bool,
    /// Follow a CloudWatch Logs log group by polling FilterLogEvents
    /// (repeatable; `cloudwatch://` prefix optional). Its name is the
    /// `source` label. Needs logs:FilterLogEvents
    /// (deploy/iam/watch-cloudwatch.json).
    #[arg(long = "cloudwatch", value_name = "LOG_GROUP[?stream=PREFIX]")]
    pub cloudwatch: Vec<String>,
    /// Follow an SQS queue that announces new CloudTrail log files (S3
    /// event notifications, straight or through SNS, EventBridge events):
    /// each announced object is downloaded and counted, and its message
    /// deleted once the counts are checkpointed (repeatable; replicas may
    /// share a queue). Needs deploy/iam/watch-sqs.json.
    #[arg(long = "sqs", value_name = "QUEUE_URL")]
    pub sqs: Vec<String>,
    /// How long a received queue message stays invisible to other
    /// consumers; extended while its objects are read and counted. A
    /// message of a replica that dies comes back after this long.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub sqs_visibility: Duration,
    /// How far back each CloudWatch poll looks again for events ingested
    /// late (events ingested later than this after their timestamp are
    /// missed).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub cw_lookback: Duration,
    /// Pause between two polls of one CloudWatch log group (the request
    /// rate is capped by --cw-rate in any case).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub cw_poll_interval: Duration,
    /// Longest time span one CloudWatch poll covers when catching up
    /// (bounds the memory of one poll).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration, hide = true)]
    pub cw_max_window: Duration,
    /// How to reach AWS (CloudWatch and SQS sources only).
    #[command(flatten)]
    pub aws: AwsConnArgs,
    /// Where to start in files present at start when there is no
    /// checkpoint: `end` (only new lines) or `start` (everything). Files
    /// that appear later are always read from their start. CloudWatch log
    /// groups without a checkpoint start now (`end`) or 14 days back
    /// (`start`, the FilterLogEvents horizon of a fresh follower).
    #[arg(long, value_enum, default_value_t = StartAt::End)]
    pub from: StartAt,
    /// Directory for checkpoints (offsets, counts, dedup window). Without
    /// it, a restart starts over (`--from`) and counters restart at 0.
    #[arg(long, value_name = "DIR", env = "DENYTRAIL_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Set the state directory's checkpoint aside (`checkpoint.json.<unix
    /// time>.old`) and start over: counters from 0, files from `--from`. The
    /// way out when a checkpoint is corrupt or from another version, which
    /// otherwise stops the start.
    #[arg(long, requires = "state_dir")]
    pub reset_state: bool,
    /// How often the checkpoint is written (when something changed).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub checkpoint_interval: Duration,
    /// How often files are checked for new lines and rotation when change
    /// notification (inotify) is off or unavailable for their directory.
    #[arg(long, value_name = "DURATION", default_value = "200ms", value_parser = parse_duration)]
    pub poll_interval: Duration,
    /// With change notification, how often every file is checked anyway
    /// (for what notifications cannot see, such as other hosts' writes on
    /// a network filesystem).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub rescan_interval: Duration,
    /// Do not use change notification: check files every --poll-interval.
    #[arg(long)]
    pub no_notify: bool,
    /// Most followed files open at once. Past it, the least recently
    /// written files are closed and followed by path until they change
    /// (the default leaves room for --http-max-connections under the usual
    /// limit of 1,024 descriptors).
    #[arg(long, value_name = "N", default_value_t = crate::watch::tail::DEFAULT_MAX_OPEN)]
    pub max_open_files: usize,
    /// Address of the HTTP server (`/metrics`, `/report`, `/healthz`, `/readyz`).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9466")]
    pub listen: SocketAddr,
    /// Most HTTP connections held open at once. At the limit a new
    /// connection is still taken, and the oldest one that has not sent a
    /// whole request (else the oldest) is closed, so a scraper always gets
    /// through and the process never runs out of file descriptors.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub http_max_connections: usize,
    /// Longest wait for a request's headers, from the connection's start
    /// or from the end of its previous request (the keep-alive idle time).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub http_header_timeout: Duration,
    /// Most principal/action label sets; past it, new principals are
    /// counted under principal="__other__".
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_series: usize,
    /// Remove a principal/action series after this long without a denial
    /// (`0` keeps them forever).
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
    pub series_ttl: Duration,
    /// Event IDs remembered to drop repeated deliveries (saved in the
    /// checkpoint).
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub dedup_window: usize,
    /// Which denied actions to count: `default` (codeguru-profiler:* and
    /// iam:PassRole), `all`, or comma-separated action globs.
    #[arg(long, default_value = "default", value_parser = crate::scope::parse_flag)]
    pub scope: Scope,
    /// Largest single line kept, in bytes; longer ones are counted as
    /// `oversized_record` errors and skipped.
    #[arg(long, default_value_t = crate::scan::DEFAULT_MAX_RECORD)]
    pub max_record: usize,
    /// Values kept per list of a group in `/report` (resources, sessions,
    /// accounts, …): exact counts for these, a count and an estimate of the
    /// rest.
    #[arg(long, value_name = "N", default_value_t = crate::aggregate::group::DEFAULT_K, value_parser = crate::aggregate::group::parse_list_max)]
    pub list_max: usize,
    /// Log format (logs go to stderr; level from `DENYTRAIL_LOG`, default info).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Longest wait for sources, checkpoint and server to stop after
    /// SIGTERM/SIGINT.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
}

/// The HTTP server's bounds (`--http-max-connections`,
/// `--http-header-timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Connections held open at once.
    pub max_connections: usize,
    /// Longest wait for a request's headers (also the keep-alive idle time).
    pub header_timeout: Duration,
}

/// Settings that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Nothing to read.
    #[error(
        "nothing to watch: give --file GLOB, --cloudwatch LOG_GROUP, --sqs QUEUE_URL (all repeatable) and/or --stdin"
    )]
    NoSources,
    /// A bad `--cloudwatch` or AWS flag.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The same log group given twice (its checkpoint would be shared).
    #[error("--cloudwatch {0:?} is given more than once")]
    DuplicateLogGroup(String),
    /// Two queues of one name (its `queue` label would be shared).
    #[error("--sqs {0:?}: a queue of this name is given more than once")]
    DuplicateQueue(String),
    /// A visibility timeout SQS does not take.
    #[error("--sqs-visibility {0:?} is outside 1s..12h, what SQS accepts")]
    Visibility(Duration),
    /// A bad `--file`.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A zero that must not be.
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
    /// Scanner limits.
    #[error("invalid scanner settings: {0}")]
    Scanner(#[from] crate::scan::BuildError),
}

/// Working settings of `watch`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// File sources.
    pub files: Vec<FileSource>,
    /// Read stdin.
    pub stdin: bool,
    /// CloudWatch Logs log groups to follow (distinct groups).
    pub cloudwatch: Vec<LogGroupSpec>,
    /// SQS queues to follow (distinct names).
    pub sqs: Vec<QueueSpec>,
    /// Visibility timeout of received queue messages.
    pub sqs_visibility: Duration,
    /// How to reach AWS (used only when `cloudwatch` or `sqs` is not
    /// empty).
    pub aws: AwsConnArgs,
    /// CloudWatch lookback per poll.
    pub cw_lookback: Duration,
    /// Pause between two polls of one log group.
    pub cw_poll_interval: Duration,
    /// Longest span of one CloudWatch poll.
    pub cw_max_window: Duration,
    /// Start position for files without checkpoint.
    pub from: StartAt,
    /// Checkpoint directory.
    pub state_dir: Option<PathBuf>,
    /// Set the checkpoint aside before starting.
    pub reset_state: bool,
    /// Checkpoint period.
    pub checkpoint_interval: Duration,
    /// File poll period (without change notification).
    pub poll_interval: Duration,
    /// Full sweep period (with change notification).
    pub rescan_interval: Duration,
    /// Use change notification.
    pub notify: bool,
    /// Followed files open at once, at most.
    pub max_open_files: usize,
    /// Server address.
    pub listen: SocketAddr,
    /// What the server holds at most, and how long it waits.
    pub http: HttpLimits,
    /// Series cap.
    pub max_series: usize,
    /// Series idle time (`None`: forever).
    pub series_ttl: Option<Duration>,
    /// Dedup window size.
    pub dedup_window: usize,
    /// The scanner (scope, record cap).
    pub scanner: Scanner,
    /// Values kept per list of a group.
    pub list_max: usize,
    /// Log format.
    pub log_format: LogFormat,
    /// Shutdown deadline.
    pub shutdown_timeout: Duration,
}

impl WatchArgs {
    /// Check the arguments and build the working settings.
    pub fn build(&self) -> Result<Settings, ConfigError> {
        if self.files.is_empty() && !self.stdin && self.cloudwatch.is_empty() && self.sqs.is_empty()
        {
            return Err(ConfigError::NoSources);
        }
        if self.max_series == 0 {
            return Err(ConfigError::Zero("--max-series"));
        }
        if self.poll_interval.is_zero() {
            return Err(ConfigError::Zero("--poll-interval"));
        }
        if self.checkpoint_interval.is_zero() {
            return Err(ConfigError::Zero("--checkpoint-interval"));
        }
        if self.rescan_interval.is_zero() {
            return Err(ConfigError::Zero("--rescan-interval"));
        }
        if self.max_open_files == 0 {
            return Err(ConfigError::Zero("--max-open-files"));
        }
        if self.http_max_connections == 0 {
            return Err(ConfigError::Zero("--http-max-connections"));
        }
        if self.http_header_timeout.is_zero() {
            return Err(ConfigError::Zero("--http-header-timeout"));
        }
        let files = self
            .files
            .iter()
            .map(|s| FileSource::parse(s))
            .collect::<Result<Vec<_>, _>>()?;
        let mut cloudwatch: Vec<LogGroupSpec> = Vec::with_capacity(self.cloudwatch.len());
        for arg in &self.cloudwatch {
            let spec = LogGroupSpec::parse(arg)?;
            if cloudwatch.iter().any(|s| s.group == spec.group) {
                return Err(ConfigError::DuplicateLogGroup(spec.group));
            }
            cloudwatch.push(spec);
        }
        let mut sqs: Vec<QueueSpec> = Vec::with_capacity(self.sqs.len());
        for arg in &self.sqs {
            let spec = QueueSpec::parse(arg)?;
            if sqs.iter().any(|s| s.name == spec.name) {
                return Err(ConfigError::DuplicateQueue(spec.url));
            }
            sqs.push(spec);
        }
        if !sqs.is_empty() {
            self.aws.check()?;
            if !(Duration::from_secs(1)..=Duration::from_secs(12 * 3600))
                .contains(&self.sqs_visibility)
            {
                return Err(ConfigError::Visibility(self.sqs_visibility));
            }
        }
        if !cloudwatch.is_empty() {
            self.aws.check()?;
            if self.cw_poll_interval.is_zero() {
                return Err(ConfigError::Zero("--cw-poll-interval"));
            }
            if self.cw_max_window.is_zero() {
                return Err(ConfigError::Zero("--cw-max-window"));
            }
        }
        let scanner = Scanner::builder()
            .scope(self.scope.clone())
            .max_record(self.max_record)
            .build()?;
        Ok(Settings {
            files,
            stdin: self.stdin,
            cloudwatch,
            sqs,
            sqs_visibility: self.sqs_visibility,
            aws: self.aws.clone(),
            cw_lookback: self.cw_lookback,
            cw_poll_interval: self.cw_poll_interval,
            cw_max_window: self.cw_max_window,
            from: self.from,
            state_dir: self.state_dir.clone(),
            reset_state: self.reset_state,
            checkpoint_interval: self.checkpoint_interval,
            poll_interval: self.poll_interval,
            rescan_interval: self.rescan_interval,
            notify: !self.no_notify,
            max_open_files: self.max_open_files,
            listen: self.listen,
            http: HttpLimits {
                max_connections: self.http_max_connections,
                header_timeout: self.http_header_timeout,
            },
            max_series: self.max_series,
            series_ttl: (!self.series_ttl.is_zero()).then_some(self.series_ttl),
            dedup_window: self.dedup_window,
            scanner,
            list_max: self.list_max,
            log_format: self.log_format,
            shutdown_timeout: self.shutdown_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        w: WatchArgs,
    }

    fn build(args: &[&str]) -> Result<Settings, ConfigError> {
        let mut v = vec!["watch"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).unwrap().w.build()
    }

    #[test]
    fn checks_arguments() {
        assert!(matches!(build(&[]), Err(ConfigError::NoSources)));
        assert!(matches!(
            build(&["--stdin", "--max-series", "0"]),
            Err(ConfigError::Zero(_))
        ));
        assert!(Cli::try_parse_from(["watch", "--stdin", "--scope", "["]).is_err());
        let s = build(&["--file", "app=/tmp/*.log", "--series-ttl", "0"]).unwrap();
        assert_eq!(s.files[0].name, "app");
        assert_eq!(s.series_ttl, None);
        assert_eq!(s.listen.port(), 9466);
        assert_eq!(s.from, StartAt::End);
        assert!(s.cloudwatch.is_empty());
    }

    #[test]
    fn checks_cloudwatch_arguments() {
        let s = build(&[
            "--cloudwatch",
            "cloudwatch:///aws/ct?stream=111_",
            "--cloudwatch",
            "app",
            "--cw-rate",
            "4",
            "--cw-lookback",
            "30s",
        ])
        .unwrap();
        assert_eq!(s.cloudwatch.len(), 2);
        assert_eq!(s.cloudwatch[0].group, "/aws/ct");
        assert_eq!(s.cloudwatch[0].stream_prefix.as_deref(), Some("111_"));
        assert_eq!(s.cw_lookback, Duration::from_secs(30));
        assert_eq!(s.cw_poll_interval, Duration::from_secs(10));
        assert_eq!(s.aws.cw_rate, 4.0);
        assert!(matches!(
            build(&["--cloudwatch", "a", "--cloudwatch", "a?stream=x"]),
            Err(ConfigError::DuplicateLogGroup(_))
        ));
        assert!(matches!(
            build(&["--cloudwatch", "a", "--cw-rate", "0"]),
            Err(ConfigError::Aws(_))
        ));
        assert!(matches!(
            build(&["--cloudwatch", "a?x=1"]),
            Err(ConfigError::Aws(_))
        ));
        // AWS flags are not checked without a log group.
        assert!(build(&["--stdin", "--cw-rate", "0"]).is_ok());
    }

    #[test]
    fn checks_sqs_arguments() {
        let url = "https://sqs.eu-west-1.amazonaws.com/111122223333/trail";
        let s = build(&["--sqs", url, "--sqs-visibility", "2m"]).unwrap();
        assert_eq!(s.sqs[0].name, "trail");
        assert_eq!(s.sqs_visibility, Duration::from_secs(120));
        assert!(matches!(
            build(&["--sqs", "trail"]),
            Err(ConfigError::Aws(AwsError::Config(_)))
        ));
        assert!(matches!(
            build(&[
                "--sqs",
                url,
                "--sqs",
                "https://sqs.us-east-1.amazonaws.com/444455556666/trail"
            ]),
            Err(ConfigError::DuplicateQueue(_))
        ));
        for bad in ["0s", "13h"] {
            assert!(matches!(
                build(&["--sqs", url, "--sqs-visibility", bad]),
                Err(ConfigError::Visibility(_))
            ));
        }
    }
}
