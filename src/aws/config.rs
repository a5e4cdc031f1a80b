//! Flags of the AWS sources, parsed and checked once, then turned into the
//! working values ([`AwsSettings`], SDK clients) by `build`.
//!
//! Credentials, region and endpoint come from the standard AWS chain
//! (`AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL`, `~/.aws/config`, SSO,
//! web identity, ECS/EC2 roles); the flags only override it.

use std::time::Duration;

use crate::scope::TimeRange;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;

use super::backoff::Backoff;
use super::error::AwsError;

/// Default FilterLogEvents request rate (requests per second, all log groups
/// together). The account-and-region quota is 5/s, shared with every other
/// client, so stay well under it.
pub const DEFAULT_CW_RATE: f64 = 2.0;

/// The built-in term pattern for plain-text log groups (any of the
/// prefilter's markers, as CloudWatch Logs terms).
pub const TEXT_PATTERN: &str = r#"?AccessDenied ?AccessDeniedException ?"Access Denied" ?Unauthorized ?UnauthorizedOperation ?"not authorized" ?NotAuthorized ?Forbidden ?InvalidClientTokenId ?ExpiredToken ?SignatureDoesNotMatch ?AuthFailure ?InvalidAccessKeyId"#;

/// How to reach AWS: shared by `replay` and `watch`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct AwsConnArgs {
    /// AWS profile (default: AWS_PROFILE or the default profile).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// AWS region of the API calls (default: AWS_REGION or the profile's).
    /// Not a filter: see --trail-region.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Send AWS API calls to this endpoint (also AWS_ENDPOINT_URL); S3 then
    /// uses path-style addressing.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// CloudWatch Logs filter pattern: `cloudtrail` (JSON conditions on
    /// errorCode/errorMessage, the default), `text` (terms for plain-text
    /// logs), `all` (no server-side filter), or any literal pattern.
    #[arg(long, value_name = "PATTERN", default_value = "cloudtrail")]
    pub filter_pattern: String,
    /// FilterLogEvents requests per second, all log groups and retries
    /// together (the AWS quota is 5/s per account and region, shared with
    /// every other client).
    #[arg(long, value_name = "REQ_PER_S", default_value_t = DEFAULT_CW_RATE)]
    pub cw_rate: f64,
    /// Events per FilterLogEvents page (default: as many as AWS returns).
    #[arg(long, value_name = "N", hide = true)]
    pub cw_page_limit: Option<i32>,
    /// Attempts per AWS API call on throttling, 5xx and network errors.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub aws_max_attempts: u32,
}

/// Flags of `replay s3://…` and `replay cloudwatch://…`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct AwsArgs {
    /// How to reach AWS.
    #[command(flatten)]
    pub conn: AwsConnArgs,
    /// S3: only these account IDs of the CloudTrail key layout (repeatable
    /// or comma-separated).
    #[arg(long, value_name = "ID", value_delimiter = ',')]
    pub account: Vec<String>,
    /// S3: only these trail regions of the key layout (repeatable or
    /// comma-separated; not the API region, see --region).
    #[arg(long, value_name = "REGION", value_delimiter = ',')]
    pub trail_region: Vec<String>,
    /// S3: how late after an event its log file may be delivered; keys
    /// delivered up to this long before --since or after --until are read.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = crate::time::parse_duration)]
    pub delivery_slack: Duration,
}

/// Working values of the AWS flags.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    /// Time range of a replay.
    pub range: TimeRange,
    /// Account filter (empty: all).
    pub accounts: Vec<String>,
    /// Trail-region filter (empty: all).
    pub trail_regions: Vec<String>,
    /// Delivery slack around the range for S3 key selection.
    pub delivery_slack: Duration,
    /// CloudWatch Logs filter pattern (`None`: no filter).
    pub filter_pattern: Option<String>,
    /// FilterLogEvents requests per second.
    pub cw_rate: f64,
    /// FilterLogEvents page size.
    pub cw_page_limit: Option<i32>,
    /// Retry settings.
    pub backoff: Backoff,
}

impl AwsConnArgs {
    /// The filter pattern to send (`None`: no server-side filter).
    pub fn pattern(&self) -> Option<String> {
        resolve_pattern(&self.filter_pattern)
    }

    /// Check the rate and attempts flags.
    pub fn check(&self) -> Result<(), AwsError> {
        if !(self.cw_rate > 0.0 && self.cw_rate <= 1000.0) {
            return Err(AwsError::Config(format!(
                "--cw-rate {} must be above 0 and at most 1000 requests per second (AWS allows 5/s per account and region)",
                self.cw_rate
            )));
        }
        if self.aws_max_attempts == 0 {
            return Err(AwsError::Config(
                "--aws-max-attempts must be at least 1".into(),
            ));
        }
        if self
            .cw_page_limit
            .is_some_and(|l| !(1..=10_000).contains(&l))
        {
            return Err(AwsError::Config("--cw-page-limit must be 1..=10000".into()));
        }
        Ok(())
    }

    /// Retry settings from the flags.
    pub fn backoff(&self) -> Backoff {
        Backoff {
            max_attempts: self.aws_max_attempts.max(1),
            ..Backoff::default()
        }
    }

    /// Load the SDK configuration from the standard chain, with the flags
    /// on top. The SDK's own retries are off: denytrail retries, counts and
    /// rate-limits every attempt itself.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).retry_config(RetryConfig::disabled());
        if let Some(p) = &self.profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = &self.region {
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        if let Some(u) = &self.endpoint_url {
            loader = loader.endpoint_url(u);
        }
        loader.load().await
    }
}

/// `cloudtrail`, `text`, `all` or a literal pattern.
pub fn resolve_pattern(p: &str) -> Option<String> {
    match p.trim() {
        "cloudtrail" => Some(crate::prefilter::cloudtrail_pattern()),
        "text" => Some(TEXT_PATTERN.to_string()),
        "all" | "" => None,
        other => Some(other.to_string()),
    }
}

impl AwsArgs {
    /// Check the flags and compute the working values for a replay of the
    /// time range `range`.
    pub fn build(&self, range: TimeRange) -> Result<AwsSettings, AwsError> {
        self.conn.check()?;
        for a in &self.account {
            if a.is_empty() || !a.bytes().all(|b| b.is_ascii_digit()) {
                return Err(AwsError::Config(format!(
                    "--account {a:?} is not an AWS account ID (12 digits)"
                )));
            }
        }
        Ok(AwsSettings {
            range,
            accounts: self.account.clone(),
            trail_regions: self.trail_region.clone(),
            delivery_slack: self.delivery_slack,
            filter_pattern: self.conn.pattern(),
            cw_rate: self.conn.cw_rate,
            cw_page_limit: self.conn.cw_page_limit,
            backoff: self.conn.backoff(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_checks_flags() {
        let now = TimeRange::default();
        let mut a = AwsArgs {
            delivery_slack: Duration::from_secs(3600),
            conn: AwsConnArgs {
                cw_rate: 2.0,
                aws_max_attempts: 3,
                filter_pattern: "cloudtrail".into(),
                ..AwsConnArgs::default()
            },
            ..AwsArgs::default()
        };
        assert!(a.build(now).is_ok());
        a.conn.cw_rate = 0.0;
        assert!(a.build(now).unwrap_err().to_string().contains("--cw-rate"));
        a.conn.cw_rate = 2.0;
        a.account = vec!["12ab".into()];
        assert!(a.build(now).unwrap_err().to_string().contains("--account"));
    }

    #[test]
    fn builtin_patterns_fit_the_api_limit() {
        assert!(TEXT_PATTERN.len() <= 1024);
        assert_eq!(resolve_pattern("all"), None);
        assert_eq!(
            resolve_pattern("{ $.x = 1 }").as_deref(),
            Some("{ $.x = 1 }")
        );
    }
}
