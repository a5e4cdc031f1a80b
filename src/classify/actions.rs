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
//! Names are checked against the IAM service-authorization data
//! ([`super::iam`]): an action the data knows is written as the data spells
//! it (`ec2:describeAddresses` → `ec2:DescribeAddresses`).
//!
//! Pure and allocation-light: one `String` for the result. A trail names a
//! few hundred APIs thousands of times each, so [`iam_action`] and
//! [`normalize`] keep the answers they worked out last in a small table per
//! thread ([`Memo`]) and answer a repeated question with a copy.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::LazyLock;

use super::CompactString;
use super::iam;

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
    ("s3", "GetPublicAccessBlock", "GetBucketPublicAccessBlock"),
    ("s3", "PutPublicAccessBlock", "PutBucketPublicAccessBlock"),
    (
        "s3",
        "DeletePublicAccessBlock",
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
pub fn iam_action(event_source: &str, event_name: &str) -> CompactString {
    thread_local!(static MEMO: RefCell<Memo> = RefCell::new(Memo::new()));
    MEMO.with_borrow_mut(|m| {
        m.get_or(event_source, event_name, || {
            api_action(service_prefix(event_source), event_name)
        })
    })
}

/// The last answers of a pure function of two strings, in a direct-mapped
/// table of [`Memo::SLOTS`] entries (a slot's new question replaces its old
/// one): bounded whatever the input, and exact, since a slot keeps its
/// question and is used only when both strings are equal.
struct Memo {
    slots: Vec<Option<Answer>>,
}

/// A question (two strings) and its answer.
type Answer = (Box<str>, Box<str>, Box<str>);

impl Memo {
    const SLOTS: usize = 1024;

    fn new() -> Memo {
        Memo {
            slots: vec![None; Memo::SLOTS],
        }
    }

    fn get_or(&mut self, a: &str, b: &str, work: impl FnOnce() -> CompactString) -> CompactString {
        let h =
            crate::hash::stable(a.as_bytes()) ^ crate::hash::stable(b.as_bytes()).rotate_left(17);
        let slot = &mut self.slots[(h as usize) % Memo::SLOTS];
        if let Some((x, y, out)) = slot
            && **x == *a
            && **y == *b
        {
            return CompactString::from(&**out);
        }
        let out = work();
        *slot = Some((a.into(), b.into(), out.as_str().into()));
        out
    }
}

/// The IAM action for API `operation` of the service with IAM prefix
/// `prefix`: the version stripped, the shipped table applied, and the
/// data's spelling when it knows the action.
///
/// ```
/// use denytrail::classify::actions::api_action;
/// assert_eq!(api_action("s3", "ListObjectsV2"), "s3:ListBucket");
/// assert_eq!(api_action("s3", "HeadObject"), "s3:GetObject");
/// assert_eq!(api_action("lambda", "Invoke"), "lambda:InvokeFunction");
/// assert_eq!(api_action("ecs", "registerTaskDefinition"), "ecs:RegisterTaskDefinition");
/// ```
pub fn api_action(prefix: &str, operation: &str) -> CompactString {
    let name = strip_version(operation.trim());
    let name = ACTION_OVERRIDES
        .iter()
        .find(|(p, from, _)| *p == prefix && from.eq_ignore_ascii_case(name))
        .map_or(name, |(_, _, to)| to);
    if let Some(a) = iam::service(prefix).and_then(|s| s.action(name)) {
        let mut out = CompactString::with_capacity(prefix.len() + 1 + name.len());
        out.push_str(prefix);
        out.push(':');
        out.push_str(a.name());
        return out;
    }
    let mut out = CompactString::with_capacity(prefix.len() + 1 + name.len());
    out.push_str(prefix);
    out.push(':');
    out.push_str(name);
    out
}

/// SDK service names whose IAM prefix neither the prefix nor the service's
/// name in the data gives.
const SDK_ALIASES: &[(&str, &str)] = &[
    ("identitymanagement", "iam"),
    ("iam", "iam"),
    ("simplesystemsmanagement", "ssm"),
    ("systemsmanager", "ssm"),
    ("dynamodbv2", "dynamodb"),
    ("securitytokenservice", "sts"),
    ("elasticloadbalancingv2", "elasticloadbalancing"),
    ("cloudwatchlogs", "logs"),
    ("stepfunctions", "states"),
    ("sfn", "states"),
    ("cloudwatchevents", "events"),
    ("eventbridge", "events"),
    ("simpleemailservice", "ses"),
    ("simpleemailservicev2", "ses"),
    ("sesv2", "ses"),
    ("elasticcomputecloud", "ec2"),
    ("simplestorageservice", "s3"),
    ("simplenotificationservice", "sns"),
    ("simplequeueservice", "sqs"),
    ("keymanagementservice", "kms"),
    ("cloudwatch", "cloudwatch"),
    ("elasticcontainerservice", "ecs"),
    ("elasticcontainerregistry", "ecr"),
    ("elastickubernetesservice", "eks"),
    ("bedrockruntime", "bedrock"),
    ("bedrockagent", "bedrock"),
    ("bedrockagentruntime", "bedrock"),
];

fn sdk_key(name: &str) -> String {
    let lower: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    for lead in ["amazon", "aws"] {
        if let Some(rest) = lower.strip_prefix(lead)
            && !rest.is_empty()
        {
            return rest.to_string();
        }
    }
    lower
}

/// SDK service name key → IAM prefix, built once from the data.
static SDK_NAMES: LazyLock<HashMap<String, &'static str>> = LazyLock::new(|| {
    let mut m = HashMap::new();
    for s in iam::services() {
        m.entry(sdk_key(s.name)).or_insert(s.prefix);
    }
    for s in iam::services() {
        // The prefix itself wins over a service name that happens to match.
        m.insert(sdk_key(s.prefix), s.prefix);
    }
    for (k, v) in SDK_ALIASES {
        if let Some(s) = iam::service(v) {
            m.insert((*k).to_string(), s.prefix);
        }
    }
    m
});

/// The IAM prefix of a service as an SDK names it in its errors
/// (`AmazonECS`, `AWSLambda`, `CloudWatchLogs`, `Bedrock`,
/// `AWSSecurityTokenService`).
///
/// ```
/// use denytrail::classify::actions::prefix_for_sdk_service;
/// assert_eq!(prefix_for_sdk_service("AmazonECS"), Some("ecs"));
/// assert_eq!(prefix_for_sdk_service("CloudWatchLogs"), Some("logs"));
/// assert_eq!(prefix_for_sdk_service("AWSStepFunctions"), Some("states"));
/// assert_eq!(prefix_for_sdk_service("Bedrock"), Some("bedrock"));
/// assert_eq!(prefix_for_sdk_service("NoSuchThing"), None);
/// ```
pub fn prefix_for_sdk_service(name: &str) -> Option<&'static str> {
    SDK_NAMES.get(&sdk_key(name)).copied()
}

/// The one service whose API `operation` is (an IAM action of that name, or
/// an API the shipped table maps), when only one service has it.
/// `prefer` breaks a tie when it is one of the candidates (S3 for its own
/// `Access Denied` wording).
///
/// ```
/// use denytrail::classify::actions::service_of_operation;
/// assert_eq!(service_of_operation("RegisterTaskDefinition", None), Some("ecs"));
/// assert_eq!(service_of_operation("CreateCrawler", None), Some("glue"));
/// assert_eq!(service_of_operation("ListObjectsV2", None), Some("s3"));
/// assert_eq!(service_of_operation("TagResource", None), None);
/// ```
pub fn service_of_operation(operation: &str, prefer: Option<&str>) -> Option<&'static str> {
    let op = strip_version(operation.trim());
    let mut found: Option<&'static str> = None;
    let mut many = false;
    let mut preferred = None;
    for s in iam::services() {
        let has = s.action(op).is_some()
            || ACTION_OVERRIDES
                .iter()
                .any(|(p, from, _)| *p == s.prefix && from.eq_ignore_ascii_case(op));
        if !has {
            continue;
        }
        if prefer == Some(s.prefix) {
            preferred = Some(s.prefix);
        }
        if found.is_some() {
            many = true;
        } else {
            found = Some(s.prefix);
        }
    }
    if many { preferred } else { found }
}

/// An action as written in a message, spelled as the IAM data spells it
/// (`SNS:Publish` → `sns:Publish`, `ec2:describeAddresses` →
/// `ec2:DescribeAddresses`), or with its service prefix lower-cased when the
/// data does not know it, so it groups with the same action derived from an
/// event.
///
/// ```
/// use denytrail::classify::actions::normalize;
/// assert_eq!(normalize("SNS:Publish"), "sns:Publish");
/// assert_eq!(normalize("iam:PassRole"), "iam:PassRole");
/// ```
pub fn normalize(action: &str) -> CompactString {
    thread_local!(static MEMO: RefCell<Memo> = RefCell::new(Memo::new()));
    MEMO.with_borrow_mut(|m| m.get_or(action, "", || normalize_uncached(action)))
}

fn normalize_uncached(action: &str) -> CompactString {
    if let Some(a) = iam::action(action) {
        return CompactString::from(a.to_string());
    }
    match action.split_once(':') {
        Some((prefix, name)) => {
            let mut out = CompactString::with_capacity(action.len());
            out.push_str(&prefix.to_ascii_lowercase());
            out.push(':');
            out.push_str(name);
            out
        }
        None => CompactString::from(action),
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

    /// The hand tables agree with the IAM data: every prefix they map to is
    /// a service, every action they map to exists.
    #[test]
    fn overrides_name_real_services_and_actions() {
        for (from, to) in PREFIX_OVERRIDES {
            assert!(iam::service(to).is_some(), "{from} → {to}: no such service");
        }
        for (p, from, to) in ACTION_OVERRIDES {
            assert!(
                iam::action(&format!("{p}:{to}")).is_some(),
                "{p}:{from} → {p}:{to}: no such action"
            );
        }
        for (k, p) in SDK_ALIASES {
            assert!(iam::service(p).is_some(), "{k} → {p}: no such service");
        }
        // Event names the data knows come out as it spells them.
        assert_eq!(
            iam_action("ec2.amazonaws.com", "describeAddresses"),
            "ec2:DescribeAddresses"
        );
        assert_eq!(
            iam_action("monitoring.amazonaws.com", "PutMetricData"),
            "cloudwatch:PutMetricData"
        );
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
    fn memo_answers_as_the_function_does() {
        let mut m = Memo::new();
        let mut calls = 0;
        // More questions than slots, asked twice: every answer exact.
        for round in 0..2 {
            for i in 0..3 * Memo::SLOTS {
                let (a, b) = (format!("s{i}"), format!("n{}", i % 7));
                let got = m.get_or(&a, &b, || {
                    calls += 1;
                    format!("{a}:{b}").into()
                });
                assert_eq!(got, format!("{a}:{b}"), "round {round}");
            }
        }
        assert!(calls > 3 * Memo::SLOTS, "{calls}");
        // A question asked again at once is answered from the table.
        let before = calls;
        for _ in 0..10 {
            m.get_or("iam.amazonaws.com", "PassRole", || {
                calls += 1;
                CompactString::default()
            });
        }
        assert_eq!(calls, before + 1);
        // The two strings are not run together.
        assert_eq!(iam_action("iam.amazonaws.com", "PassRole"), "iam:PassRole");
        assert_eq!(
            iam_action("iam.amazonaws.comP", "assRole"),
            api_action(service_prefix("iam.amazonaws.comP"), "assRole")
        );
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
