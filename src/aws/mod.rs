//! AWS sources: CloudTrail archives in S3 and CloudWatch Logs log groups,
//! for `replay` (a time range) and `watch` (a live [`Follower`]), and SQS
//! queues that announce new CloudTrail objects, for `watch` (a
//! [`QueueFollower`]).
//!
//! This module does the network I/O and hands out bytes (S3 objects) and
//! messages (log events) as [`Source`]s or, for a queue, [`Delivery`]s; it decides nothing about formats
//! or what a denial is. Errors name the bucket, key or log group and, when
//! denytrail itself is denied, the permission to grant.

pub mod backoff;
pub mod cloudwatch;
pub mod config;
pub mod context;
pub mod error;
pub mod metrics;
pub mod notification;
pub mod ratelimit;
pub mod s3;
pub mod sqs;

use std::sync::Arc;

pub use backoff::Backoff;
pub use cloudwatch::{
    Checkpoint, FollowBatch, Follower, FollowerConfig, LogEvent, LogGroupSpec, PollEnd,
};
pub use config::{AwsArgs, AwsConnArgs};
pub use context::AwsContext;
pub use error::AwsError;
pub use metrics::AwsMetrics;
pub use ratelimit::RateLimiter;
pub use s3::S3Url;
pub use sqs::{Ack, Delivery, Item, QueueConfig, QueueFollower, QueueSpec};

use crate::scope::TimeRange;
use crate::source::{Expanded, Source};

/// Is this command-line input one for this module (`s3://…`,
/// `cloudwatch://…`)?
///
/// ```
/// assert!(denytrail::aws::is_remote("s3://bucket/AWSLogs/"));
/// assert!(!denytrail::aws::is_remote("./logs"));
/// ```
pub fn is_remote(arg: &str) -> bool {
    arg.starts_with("s3://") || arg.starts_with("cloudwatch://")
}

/// Expand `s3://…` and `cloudwatch://…` arguments into replay sources: one
/// per S3 object delivered in the time range `range` (give or take the
/// delivery slack), one per log group. Listing failures below the top level
/// become input errors; bad flags, bad URLs and a failed top-level listing
/// are fatal.
pub fn expand_inputs(
    remote: &[String],
    args: &AwsArgs,
    range: TimeRange,
) -> Result<Expanded, AwsError> {
    let settings = args.build(range)?;
    let mut s3_urls = Vec::new();
    let mut groups = Vec::new();
    for r in remote {
        if r.starts_with("s3://") {
            s3_urls.push(S3Url::parse(r)?);
        } else {
            groups.push(LogGroupSpec::parse(r)?);
        }
    }
    let ctx = Arc::new(AwsContext::new(
        &args.conn,
        settings,
        AwsMetrics::detached(),
    )?);
    let mut inputs: Vec<Arc<dyn Source>> = Vec::new();
    let mut errors = Vec::new();
    for u in &s3_urls {
        let (keys, errs) = ctx.rt.block_on(s3::select_keys(&ctx, u))?;
        tracing::info!(bucket = %u.bucket, objects = keys.len(), "S3 objects selected");
        errors.extend(errs);
        for k in keys {
            inputs.push(Arc::new(s3::S3Object::new(
                ctx.clone(),
                u.bucket.clone(),
                k,
            )));
        }
    }
    for g in groups {
        inputs.push(Arc::new(cloudwatch::LogGroupRange::new(ctx.clone(), g)));
    }
    Ok((inputs, errors))
}
