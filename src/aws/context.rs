//! What every AWS input of one run shares: the runtime the SDK clients run
//! on, the clients, the FilterLogEvents rate limit, the metrics and the
//! settings.

use std::sync::Arc;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;

use super::config::{AwsConnArgs, AwsSettings};
use super::error::AwsError;
use super::metrics::AwsMetrics;
use super::ratelimit::RateLimiter;

/// Shared state of the AWS inputs of a replay run.
#[derive(Debug)]
pub struct AwsContext {
    /// Runs the SDK's I/O; replay workers block on it.
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) logs: aws_sdk_cloudwatchlogs::Client,
    pub(crate) cw_limiter: Arc<RateLimiter>,
    pub(crate) metrics: AwsMetrics,
    pub(crate) settings: AwsSettings,
}

impl AwsContext {
    /// Start a runtime and build the clients from the standard chain plus
    /// the flags.
    pub fn new(
        conn: &AwsConnArgs,
        settings: AwsSettings,
        metrics: AwsMetrics,
    ) -> Result<AwsContext, AwsError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("denytrail-aws")
            .enable_all()
            .build()
            .map_err(|e| AwsError::Runtime(e.to_string()))?;
        let (s3, logs) = rt.block_on(clients(conn));
        let cw_limiter = Arc::new(RateLimiter::per_second(settings.cw_rate).ok_or_else(|| {
            AwsError::Config(format!("--cw-rate {} is out of range", settings.cw_rate))
        })?);
        Ok(AwsContext {
            rt,
            s3,
            logs,
            cw_limiter,
            metrics,
            settings,
        })
    }
}

/// Build the SQS client (`watch --sqs`), with the same chain, flags and
/// timeouts as the others; a long poll waits 20 s at most, well inside the
/// read timeout.
pub async fn sqs_client(conn: &AwsConnArgs) -> aws_sdk_sqs::Client {
    let sdk = conn.sdk_config().await;
    let conf = aws_sdk_sqs::config::Builder::from(&sdk)
        .timeout_config(timeouts())
        .build();
    aws_sdk_sqs::Client::from_conf(conf)
}

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(120))
        .build()
}

/// Build the S3 and CloudWatch Logs clients. With a custom endpoint for S3
/// (the flag, `AWS_ENDPOINT_URL`, or S3's own `AWS_ENDPOINT_URL_S3` or
/// profile `services` section, which the SDK takes over the general one),
/// S3 uses path-style addressing.
pub async fn clients(conn: &AwsConnArgs) -> (aws_sdk_s3::Client, aws_sdk_cloudwatchlogs::Client) {
    let sdk = conn.sdk_config().await;
    let timeouts = timeouts();
    let s3_conf = aws_sdk_s3::config::Builder::from(&sdk)
        .timeout_config(timeouts.clone())
        .force_path_style(sdk.endpoint_url().is_some() || own_endpoint(&sdk, "S3"))
        .build();
    let logs_conf = aws_sdk_cloudwatchlogs::config::Builder::from(&sdk)
        .timeout_config(timeouts)
        .build();
    (
        aws_sdk_s3::Client::from_conf(s3_conf),
        aws_sdk_cloudwatchlogs::Client::from_conf(logs_conf),
    )
}

/// Whether the environment or the profile names an endpoint for this
/// service alone (`AWS_ENDPOINT_URL_<SERVICE>`, a profile's `services`
/// section), as the SDK's client builders look it up.
fn own_endpoint(sdk: &aws_config::SdkConfig, service: &str) -> bool {
    let Ok(key) = aws_types::service_config::ServiceConfigKey::builder()
        .service_id(service)
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
    else {
        return false;
    };
    sdk.service_config()
        .and_then(|c| c.load_config(key))
        .is_some()
}
