//! Turn a CloudTrail `eventSource` / `eventName` pair into the IAM action
//! that authorizes it (`lambda.amazonaws.com` + `CreateFunction20150331` →
//! `lambda:CreateFunction`).
//!
//! Three steps, each a small table or rule:
//! 1. the service prefix comes from the event source, minus
//!    `.amazonaws.com`, with a table for the services whose IAM prefix differs
//!    (`monitoring` → `cloudwatch`, `email` → `ses`, …) and the rule that a
//!    dotted host keeps its last label (`streams.dynamodb` → `dynamodb`);
//! 2. a trailing API version is stripped from the event name (`20150331`,
//!    `20150331v2`, `2020_05_31`);
//! 3. a shipped table maps the event names whose IAM action has another name
//!    (`s3:ListObjects` → `s3:ListBucket`, `lambda:Invoke` →
//!    `lambda:InvokeFunction`, …).
//!
//! Pure and allocation-light: one `String` for the result.

/// Event-source hosts whose IAM service prefix is not the host name.
const PREFIX_OVERRIDES: &[(&str, &str)] = &[
    ("monitoring", "cloudwatch"),
    ("email", "ses"),
    ("streams.dynamodb", "dynamodb"),
    ("metering-marketplace", "aws-marketplace"),
    ("sso-directory", "sso-directory"),
    ("api.ecr", "ecr"),
    ("api.pricing", "pricing"),
    ("iotdata", "iot"),
    ("data.iot", "iot"),
    ("runtime.sagemaker", "sagemaker"),
    ("runtime.lex", "lex"),
    ("models.lex", "lex"),
    ("bedrock-runtime", "bedrock"),
    ("bedrock-agent", "bedrock"),
    ("bedrock-agent-runtime", "bedrock"),
    ("ssm-incidents", "ssm-incidents"),
    ("ssmmessages", "ssmmessages"),
    ("ec2messages", "ec2messages"),
    ("elasticloadbalancingv2", "elasticloadbalancing"),
    ("s3express", "s3express"),
];

/// `(prefix, eventName after version stripping) → IAM action name`, for event
/// names that are not the action's name.
const ACTION_OVERRIDES: &[(&str, &str, &str)] = &[
    // Lambda
    ("lambda", "Invoke", "InvokeFunction"),
    ("lambda", "InvokeAsync", "InvokeAsync"),
    ("lambda", "InvokeWithResponseStream", "InvokeFunction"),
    // S3: API names that are not IAM actions.
    ("s3", "ListObjects", "ListBucket"),
    ("s3", "ListObjectsV2", "ListBucket"),
    ("s3", "HeadBucket", "ListBucket"),
    ("s3", "HeadObject", "GetObject"),
    ("s3", "SelectObjectContent", "GetObject"),
    ("s3", "ListObjectVersions", "ListBucketVersions"),
    ("s3", "ListBuckets", "ListAllMyBuckets"),
    ("s3", "ListMultipartUploads", "ListBucketMultipartUploads"),
    ("s3", "ListParts", "ListMultipartUploadParts"),
    ("s3", "CreateMultipartUpload", "PutObject"),
    ("s3", "UploadPart", "PutObject"),
    ("s3", "UploadPartCopy", "PutObject"),
    ("s3", "CompleteMultipartUpload", "PutObject"),
    ("s3", "CopyObject", "PutObject"),
    ("s3", "DeleteObjects", "DeleteObject"),
    ("s3", "GetBucketLifecycle", "GetLifecycleConfiguration"),
    (
        "s3",
        "GetBucketLifecycleConfiguration",
        "GetLifecycleConfiguration",
    ),
    ("s3", "PutBucketLifecycle", "PutLifecycleConfiguration"),
    (
        "s3",
        "PutBucketLifecycleConfiguration",
        "PutLifecycleConfiguration",
    ),
    ("s3", "DeleteBucketLifecycle", "PutLifecycleConfiguration"),
    ("s3", "GetBucketCors", "GetBucketCORS"),
    ("s3", "PutBucketCors", "PutBucketCORS"),
    ("s3", "DeleteBucketCors", "PutBucketCORS"),
    ("s3", "GetBucketEncryption", "GetEncryptionConfiguration"),
    ("s3", "PutBucketEncryption", "PutEncryptionConfiguration"),
    ("s3", "DeleteBucketEncryption", "PutEncryptionConfiguration"),
    ("s3", "GetBucketReplication", "GetReplicationConfiguration"),
    ("s3", "PutBucketReplication", "PutReplicationConfiguration"),
    (
        "s3",
        "DeleteBucketReplication",
        "PutReplicationConfiguration",
    ),
    ("s3", "DeleteBucketTagging", "PutBucketTagging"),
    (
        "s3",
        "DeleteBucketPublicAccessBlock",
        "PutBucketPublicAccessBlock",
    ),
    (
        "s3",
        "DeleteBucketOwnershipControls",
        "PutBucketOwnershipControls",
    ),
    (
        "s3",
        "DeleteBucketMetricsConfiguration",
        "PutMetricsConfiguration",
    ),
    (
        "s3",
        "GetBucketMetricsConfiguration",
        "GetMetricsConfiguration",
    ),
    (
        "s3",
        "PutBucketMetricsConfiguration",
        "PutMetricsConfiguration",
    ),
    (
        "s3",
        "GetBucketAnalyticsConfiguration",
        "GetAnalyticsConfiguration",
    ),
    (
        "s3",
        "PutBucketAnalyticsConfiguration",
        "PutAnalyticsConfiguration",
    ),
    (
        "s3",
        "GetBucketInventoryConfiguration",
        "GetInventoryConfiguration",
    ),
    (
        "s3",
        "PutBucketInventoryConfiguration",
        "PutInventoryConfiguration",
    ),
    (
        "s3",
        "GetBucketIntelligentTieringConfiguration",
        "GetIntelligentTieringConfiguration",
    ),
    (
        "s3",
        "PutBucketIntelligentTieringConfiguration",
        "PutIntelligentTieringConfiguration",
    ),
    (
        "s3",
        "GetBucketAccelerateConfiguration",
        "GetAccelerateConfiguration",
    ),
    (
        "s3",
        "PutBucketAccelerateConfiguration",
        "PutAccelerateConfiguration",
    ),
    (
        "s3",
        "GetBucketNotificationConfiguration",
        "GetBucketNotification",
    ),
    (
        "s3",
        "PutBucketNotificationConfiguration",
        "PutBucketNotification",
    ),
    (
        "s3",
        "GetObjectLockConfiguration",
        "GetBucketObjectLockConfiguration",
    ),
    (
        "s3",
        "PutObjectLockConfiguration",
        "PutBucketObjectLockConfiguration",
    ),
    // CloudFront
    (
        "cloudfront",
        "CreateDistributionWithTags",
        "CreateDistribution",
    ),
    (
        "cloudfront",
        "CreateStreamingDistributionWithTags",
        "CreateStreamingDistribution",
    ),
    // STS
    ("sts", "GetCallerIdentity", "GetCallerIdentity"),
];

/// The IAM service prefix for a CloudTrail event source.
///
/// ```
/// use denytrail::classify::actions::service_prefix;
/// assert_eq!(service_prefix("monitoring.amazonaws.com"), "cloudwatch");
/// assert_eq!(service_prefix("codeguru-profiler.amazonaws.com"), "codeguru-profiler");
/// assert_eq!(service_prefix("streams.dynamodb.amazonaws.com"), "dynamodb");
/// ```
pub fn service_prefix(event_source: &str) -> &str {
    let host = event_source.trim();
    let host = host
        .strip_suffix(".amazonaws.com.cn")
        .or_else(|| host.strip_suffix(".amazonaws.com"))
        .or_else(|| host.strip_suffix(".api.aws"))
        .unwrap_or(host);
    if let Some((_, to)) = PREFIX_OVERRIDES.iter().find(|(from, _)| *from == host) {
        return to;
    }
    // A dotted host (`runtime.foo`, `data.foo`) names the service last.
    match host.rsplit_once('.') {
        Some((_, last)) if !last.is_empty() => last,
        _ => host,
    }
}

/// Strip a trailing API version from an event name: `20150331`,
/// `20150331v2`, `2020_05_31`. Names without one are returned unchanged.
///
/// ```
/// use denytrail::classify::actions::strip_version;
/// assert_eq!(strip_version("UpdateFunctionConfiguration20150331v2"), "UpdateFunctionConfiguration");
/// assert_eq!(strip_version("CreateDistribution2020_05_31"), "CreateDistribution");
/// assert_eq!(strip_version("GetObject"), "GetObject");
/// ```
pub fn strip_version(event_name: &str) -> &str {
    let b = event_name.as_bytes();
    // Optional `v<digits>` tail.
    let mut end = b.len();
    let digits_end = end;
    while end > 0 && b[end - 1].is_ascii_digit() {
        end -= 1;
    }
    if end < digits_end && end > 0 && b[end - 1] == b'v' {
        end -= 1;
    } else {
        end = digits_end;
    }
    let rest = &b[..end];
    // `YYYYMMDD` or `YYYY_MM_DD` before it.
    let is_date = |s: &[u8]| -> bool {
        match s.len() {
            8 => s.iter().all(u8::is_ascii_digit),
            10 => s.iter().enumerate().all(|(i, c)| {
                if i == 4 || i == 7 {
                    *c == b'_'
                } else {
                    c.is_ascii_digit()
                }
            }),
            _ => false,
        }
    };
    for len in [8usize, 10] {
        if rest.len() > len {
            let (head, tail) = rest.split_at(rest.len() - len);
            // The name part must end in a letter, so `Foo12345678` keeps digits
            // that are part of a longer number.
            if is_date(tail) && head.last().is_some_and(u8::is_ascii_alphabetic) {
                // `head` ends on an ASCII letter, so this is a char boundary.
                return event_name.get(..head.len()).unwrap_or(event_name);
            }
        }
    }
    event_name
}

/// The IAM action for a CloudTrail event: `<prefix>:<eventName>` with the
/// version stripped and the shipped table applied.
///
/// ```
/// use denytrail::classify::actions::iam_action;
/// assert_eq!(iam_action("lambda.amazonaws.com", "CreateFunction20150331"), "lambda:CreateFunction");
/// assert_eq!(iam_action("s3.amazonaws.com", "ListObjects"), "s3:ListBucket");
/// assert_eq!(iam_action("iam.amazonaws.com", "PassRole"), "iam:PassRole");
/// ```
pub fn iam_action(event_source: &str, event_name: &str) -> String {
    let prefix = service_prefix(event_source);
    let name = strip_version(event_name.trim());
    let name = ACTION_OVERRIDES
        .iter()
        .find(|(p, from, _)| *p == prefix && *from == name)
        .map_or(name, |(_, _, to)| to);
    let mut out = String::with_capacity(prefix.len() + 1 + name.len());
    out.push_str(prefix);
    out.push(':');
    out.push_str(name);
    out
}

/// An action as written in a message, with its service prefix lower-cased
/// (IAM prefixes are lower-case; SNS writes `SNS:Publish`), so it groups
/// with the same action derived from an event.
///
/// ```
/// use denytrail::classify::actions::normalize;
/// assert_eq!(normalize("SNS:Publish"), "sns:Publish");
/// assert_eq!(normalize("iam:PassRole"), "iam:PassRole");
/// ```
pub fn normalize(action: &str) -> String {
    match action.split_once(':') {
        Some((prefix, name)) => {
            let mut out = String::with_capacity(action.len());
            out.push_str(&prefix.to_ascii_lowercase());
            out.push(':');
            out.push_str(name);
            out
        }
        None => action.to_string(),
    }
}

/// Whether two IAM actions name the same action (IAM compares them
/// case-insensitively).
///
/// ```
/// use denytrail::classify::actions::same_action;
/// assert!(same_action("iam:PassRole", "IAM:passrole"));
/// assert!(!same_action("iam:PassRole", "lambda:CreateFunction"));
/// ```
pub fn same_action(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_action_table() {
        let cases = [
            ("iam.amazonaws.com", "PassRole", "iam:PassRole"),
            (
                "codeguru-profiler.amazonaws.com",
                "ConfigureAgent",
                "codeguru-profiler:ConfigureAgent",
            ),
            (
                "monitoring.amazonaws.com",
                "PutMetricData",
                "cloudwatch:PutMetricData",
            ),
            ("email.amazonaws.com", "SendEmail", "ses:SendEmail"),
            ("ses.amazonaws.com", "SendEmail", "ses:SendEmail"),
            (
                "lambda.amazonaws.com",
                "CreateFunction20150331",
                "lambda:CreateFunction",
            ),
            (
                "lambda.amazonaws.com",
                "UpdateFunctionConfiguration20150331v2",
                "lambda:UpdateFunctionConfiguration",
            ),
            (
                "lambda.amazonaws.com",
                "AddPermission20150331v2",
                "lambda:AddPermission",
            ),
            (
                "lambda.amazonaws.com",
                "GetFunction20150331v2",
                "lambda:GetFunction",
            ),
            (
                "lambda.amazonaws.com",
                "ListTags20170331",
                "lambda:ListTags",
            ),
            ("lambda.amazonaws.com", "Invoke", "lambda:InvokeFunction"),
            ("s3.amazonaws.com", "GetObject", "s3:GetObject"),
            ("s3.amazonaws.com", "HeadObject", "s3:GetObject"),
            ("s3.amazonaws.com", "ListObjectsV2", "s3:ListBucket"),
            ("s3.amazonaws.com", "ListBuckets", "s3:ListAllMyBuckets"),
            (
                "s3.amazonaws.com",
                "GetBucketLifecycle",
                "s3:GetLifecycleConfiguration",
            ),
            ("s3.amazonaws.com", "DeleteObjects", "s3:DeleteObject"),
            (
                "cloudfront.amazonaws.com",
                "CreateDistribution2020_05_31",
                "cloudfront:CreateDistribution",
            ),
            (
                "cloudfront.amazonaws.com",
                "CreateDistributionWithTags2020_05_31",
                "cloudfront:CreateDistribution",
            ),
            (
                "cloudfront.amazonaws.com",
                "GetDistribution2019_03_26",
                "cloudfront:GetDistribution",
            ),
            (
                "streams.dynamodb.amazonaws.com",
                "GetRecords",
                "dynamodb:GetRecords",
            ),
            ("sts.amazonaws.com", "AssumeRole", "sts:AssumeRole"),
            ("ec2.amazonaws.com", "RunInstances", "ec2:RunInstances"),
            ("monitoring", "GetMetricData", "cloudwatch:GetMetricData"),
            (
                "organizations.amazonaws.com",
                "LeaveOrganization",
                "organizations:LeaveOrganization",
            ),
            // Names ending in digits that are not a version keep them.
            (
                "ec2.amazonaws.com",
                "DescribeIpv6Pools",
                "ec2:DescribeIpv6Pools",
            ),
            (
                "route53.amazonaws.com",
                "GetHostedZone",
                "route53:GetHostedZone",
            ),
            ("", "", ":"),
        ];
        for (source, name, want) in cases {
            assert_eq!(iam_action(source, name), want, "{source} {name}");
        }
    }

    #[test]
    fn normalize_table() {
        let cases = [
            ("SNS:Publish", "sns:Publish"),
            ("s3:GetObject", "s3:GetObject"),
            (
                "Codeguru-Profiler:ConfigureAgent",
                "codeguru-profiler:ConfigureAgent",
            ),
            ("noprefix", "noprefix"),
            ("É:x", "É:x"),
        ];
        for (a, want) in cases {
            assert_eq!(normalize(a), want, "{a}");
        }
    }

    #[test]
    fn strip_version_edges() {
        let cases = [
            ("X20150331", "X"),
            ("X20150331v12", "X"),
            ("X2020_05_31", "X"),
            ("20150331", "20150331"),
            ("X1234567", "X1234567"),
            ("X120150331", "X120150331"),
            ("Xv2", "Xv2"),
            ("X2020-05-31", "X2020-05-31"),
            ("é20150331", "é20150331"),
            ("", ""),
        ];
        for (name, want) in cases {
            assert_eq!(strip_version(name), want, "{name}");
        }
    }
}
