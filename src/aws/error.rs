//! Errors of the AWS sources, each naming the bucket, key or log group it
//! concerns and, for denytrail's own AccessDenied, the permission to grant.
//!
//! Messages carry only the error code and message AWS returned, never a
//! request, a signature or a credential.

/// What an AWS API call needs, to say so when it is denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    /// IAM action, e.g. `s3:ListBucket`.
    pub permission: &'static str,
    /// The resource ARN (or a pattern) the action is needed on.
    pub resource: String,
    /// The policy file under `deploy/iam/` that grants it.
    pub policy: &'static str,
}

/// An error of the S3 or CloudWatch Logs sources.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AwsError {
    /// A flag or URL that cannot work.
    #[error("{0}")]
    Config(String),
    /// The async runtime for the AWS clients could not start.
    #[error("cannot start the AWS client runtime: {0}")]
    Runtime(String),
    /// denytrail itself was denied: say which permission to grant.
    #[error(
        "{operation} on {target} was denied ({code}: {message}): denytrail needs {} on {} (see deploy/iam/{})",
        needs.permission, needs.resource, needs.policy
    )]
    Denied {
        /// API operation, e.g. `ListObjectsV2`.
        operation: &'static str,
        /// `s3://bucket/key`, `cloudwatch://group`.
        target: String,
        /// AWS error code.
        code: String,
        /// AWS error message.
        message: String,
        /// The permission that would allow the call.
        needs: Box<Needs>,
    },
    /// The credentials were rejected (expired, unknown key, bad signature).
    #[error(
        "{operation} on {target}: the AWS credentials were rejected ({code}: {message}); check --profile, AWS_PROFILE or the instance/pod role"
    )]
    Credentials {
        /// API operation.
        operation: &'static str,
        /// What was being read.
        target: String,
        /// AWS error code.
        code: String,
        /// AWS error message.
        message: String,
    },
    /// No credentials could be found at all.
    #[error(
        "{operation} on {target}: no AWS credentials found ({detail}); set --profile or AWS_PROFILE, or run with an instance/pod role"
    )]
    NoCredentials {
        /// API operation.
        operation: &'static str,
        /// What was being read.
        target: String,
        /// Why the provider chain found nothing.
        detail: String,
    },
    /// The bucket, key or log group does not exist.
    #[error("{operation} on {target}: not found ({code}: {message}); check the name and --region")]
    NotFound {
        /// API operation.
        operation: &'static str,
        /// What was being read.
        target: String,
        /// AWS error code.
        code: String,
        /// AWS error message.
        message: String,
    },
    /// Still throttled (or failing with 5xx / network errors) after every retry.
    #[error("{operation} on {target}: gave up after {attempts} attempts: {last}")]
    Exhausted {
        /// API operation.
        operation: &'static str,
        /// What was being read.
        target: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// Any other API failure.
    #[error("{operation} on {target}: {code}: {message}")]
    Api {
        /// API operation.
        operation: &'static str,
        /// What was being read.
        target: String,
        /// AWS error code (or the kind of failure).
        code: String,
        /// AWS error message.
        message: String,
    },
}
