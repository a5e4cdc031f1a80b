//! What denytrail knows about AWS actions beyond the IAM data
//! ([`crate::classify::iam`], which says for every action which resource
//! types it takes and their ARN formats): which service principal receives a
//! role passed by an API, which services accept resource-based policies, and
//! the CodeGuru Profiler and access-key specifics.
//!
//! Plain static tables, matched case-insensitively (IAM action names are not
//! case-sensitive).

use crate::classify::iam;

/// Whether `action` takes no resource (so `"Resource": "*"` is least
/// privilege), according to the IAM data; `false` for an action the data
/// does not know.
///
/// ```
/// use denytrail::hints::is_resourceless;
/// assert!(is_resourceless("ec2:DescribeInstances"));
/// assert!(is_resourceless("iam:listroles"));
/// assert!(is_resourceless("codeguru-profiler:CreateProfilingGroup"));
/// assert!(!is_resourceless("codeguru-profiler:DescribeProfilingGroup"));
/// assert!(!is_resourceless("ec2:DescribeInstanceAttribute"));
/// ```
pub fn is_resourceless(action: &str) -> bool {
    iam::action(action).is_some_and(|a| a.takes_no_resource())
}

/// The actions on an IAM user's access keys (the `access-keys` hint).
pub(crate) const ACCESS_KEY_ACTIONS: &[&str] = &[
    "CreateAccessKey",
    "DeleteAccessKey",
    "UpdateAccessKey",
    "ListAccessKeys",
    "GetAccessKeyLastUsed",
];

/// Split `service:Action`; `None` when either side is empty.
pub(crate) fn split_action(action: &str) -> Option<(&str, &str)> {
    let (s, a) = action.split_once(':')?;
    (!s.is_empty() && !a.is_empty()).then_some((s, a))
}

/// The service principal that receives a role passed by a given API, for
/// `iam:PassedToService`. Exact APIs first, then whole services.
const PASSED_TO_API: &[(&str, &str)] = &[
    ("ecs:RegisterTaskDefinition", "ecs-tasks.amazonaws.com"),
    ("ecs:RunTask", "ecs-tasks.amazonaws.com"),
    ("ecs:StartTask", "ecs-tasks.amazonaws.com"),
    ("ecs:CreateService", "ecs-tasks.amazonaws.com"),
    ("ecs:UpdateService", "ecs-tasks.amazonaws.com"),
    ("ec2:RunInstances", "ec2.amazonaws.com"),
    ("ec2:AssociateIamInstanceProfile", "ec2.amazonaws.com"),
    (
        "ec2:ReplaceIamInstanceProfileAssociation",
        "ec2.amazonaws.com",
    ),
    ("ec2:RequestSpotInstances", "ec2.amazonaws.com"),
    ("ec2:RequestSpotFleet", "spotfleet.amazonaws.com"),
    ("autoscaling:CreateLaunchConfiguration", "ec2.amazonaws.com"),
    ("eks:CreateNodegroup", "eks.amazonaws.com"),
    ("rds:CreateDBInstance", "monitoring.rds.amazonaws.com"),
    ("logs:PutSubscriptionFilter", "logs.amazonaws.com"),
    ("logs:PutDestination", "logs.amazonaws.com"),
];

const PASSED_TO_SERVICE: &[(&str, &str)] = &[
    ("lambda", "lambda.amazonaws.com"),
    ("ecs", "ecs-tasks.amazonaws.com"),
    ("ec2", "ec2.amazonaws.com"),
    ("codeguru-profiler", "codeguru-profiler.amazonaws.com"),
    ("glue", "glue.amazonaws.com"),
    ("sagemaker", "sagemaker.amazonaws.com"),
    ("states", "states.amazonaws.com"),
    ("codebuild", "codebuild.amazonaws.com"),
    ("cloudformation", "cloudformation.amazonaws.com"),
    ("events", "events.amazonaws.com"),
    ("scheduler", "scheduler.amazonaws.com"),
    ("pipes", "pipes.amazonaws.com"),
    ("batch", "batch.amazonaws.com"),
    ("eks", "eks.amazonaws.com"),
    ("elasticmapreduce", "elasticmapreduce.amazonaws.com"),
    ("datapipeline", "datapipeline.amazonaws.com"),
    ("codepipeline", "codepipeline.amazonaws.com"),
    ("codedeploy", "codedeploy.amazonaws.com"),
    ("firehose", "firehose.amazonaws.com"),
    ("redshift", "redshift.amazonaws.com"),
    ("iot", "iot.amazonaws.com"),
    ("ssm", "ssm.amazonaws.com"),
    ("config", "config.amazonaws.com"),
    ("cloudtrail", "cloudtrail.amazonaws.com"),
    ("backup", "backup.amazonaws.com"),
    ("apigateway", "apigateway.amazonaws.com"),
    ("appsync", "appsync.amazonaws.com"),
    ("elasticbeanstalk", "elasticbeanstalk.amazonaws.com"),
    ("dms", "dms.amazonaws.com"),
    ("kinesisanalytics", "kinesisanalytics.amazonaws.com"),
    (
        "application-autoscaling",
        "application-autoscaling.amazonaws.com",
    ),
    ("databrew", "databrew.amazonaws.com"),
    ("bedrock", "bedrock.amazonaws.com"),
    ("transfer", "transfer.amazonaws.com"),
    ("mediaconvert", "mediaconvert.amazonaws.com"),
];

/// The service principal a role passed by `via` is handed to, for the
/// `iam:PassedToService` condition of an `iam:PassRole` statement.
///
/// `via` is the called API (`lambda:CreateFunction`) or an event source
/// (`lambda.amazonaws.com`).
///
/// ```
/// use denytrail::hints::passed_to_service;
/// assert_eq!(passed_to_service("lambda:CreateFunction"), Some("lambda.amazonaws.com"));
/// assert_eq!(passed_to_service("ecs:RunTask"), Some("ecs-tasks.amazonaws.com"));
/// assert_eq!(passed_to_service("ec2:RunInstances"), Some("ec2.amazonaws.com"));
/// assert_eq!(passed_to_service("frobnicate:Go"), None);
/// ```
pub fn passed_to_service(via: &str) -> Option<&'static str> {
    let via = via.trim();
    if let Some((_, p)) = PASSED_TO_API
        .iter()
        .find(|(api, _)| api.eq_ignore_ascii_case(via))
    {
        return Some(p);
    }
    let service = match via.split_once(':') {
        Some((s, _)) => s,
        None => via.strip_suffix(".amazonaws.com")?,
    };
    PASSED_TO_SERVICE
        .iter()
        .find(|(s, _)| s.eq_ignore_ascii_case(service))
        .map(|(_, p)| *p)
}

/// Where a resource owner grants access to a caller from another account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OwnerSide {
    /// A resource-based policy on the resource itself (bucket policy, key
    /// policy, …), named in words.
    ResourcePolicy(&'static str),
    /// The target role's trust policy (`sts:AssumeRole` and friends).
    TrustPolicy,
    /// A CodeGuru Profiler profiling group's policy, set with `PutPermission`;
    /// it only grants the `agentPermissions` action group.
    ProfilingGroupPolicy,
    /// No resource-based policy: the owner must offer a role to assume.
    RoleToAssume,
}

const RESOURCE_POLICIES: &[(&str, &str)] = &[
    ("s3", "bucket policy"),
    ("kms", "key policy"),
    ("sqs", "queue policy"),
    ("sns", "topic policy"),
    ("lambda", "function policy (lambda add-permission)"),
    ("secretsmanager", "secret's resource policy"),
    ("ecr", "repository policy"),
    ("events", "event bus policy"),
    ("logs", "destination or log group resource policy"),
    ("glacier", "vault access policy"),
    ("backup", "backup vault access policy"),
    ("codeartifact", "domain or repository policy"),
    ("es", "domain access policy"),
    ("glue", "Data Catalog resource policy"),
    ("dynamodb", "table resource-based policy"),
    ("kinesis", "stream resource-based policy"),
    ("execute-api", "API Gateway resource policy"),
];

/// Agent actions of CodeGuru Profiler: what the `agentPermissions` action
/// group of a profiling group grants.
pub(crate) const PROFILER_AGENT_ACTIONS: &[&str] = &[
    "codeguru-profiler:ConfigureAgent",
    "codeguru-profiler:PostAgentProfile",
];

/// Whether `action` is one the CodeGuru Profiler agent calls.
pub(crate) fn is_profiler_agent_action(action: &str) -> bool {
    PROFILER_AGENT_ACTIONS
        .iter()
        .any(|a| a.eq_ignore_ascii_case(action))
}

/// How the owner of a resource in another account grants `action`.
pub(crate) fn owner_side(action: &str) -> OwnerSide {
    let Some((service, _)) = split_action(action) else {
        return OwnerSide::RoleToAssume;
    };
    if service.eq_ignore_ascii_case("sts") {
        return OwnerSide::TrustPolicy;
    }
    if service.eq_ignore_ascii_case("codeguru-profiler") {
        return if is_profiler_agent_action(action) {
            OwnerSide::ProfilingGroupPolicy
        } else {
            OwnerSide::RoleToAssume
        };
    }
    RESOURCE_POLICIES
        .iter()
        .find(|(s, _)| s.eq_ignore_ascii_case(service))
        .map_or(OwnerSide::RoleToAssume, |(_, words)| {
            OwnerSide::ResourcePolicy(words)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resourceless_from_the_data() {
        for (action, want) in [
            ("codeguru-profiler:ListProfilingGroups", true),
            ("codeguru-profiler:CreateProfilingGroup", true),
            ("codeguru-profiler:ConfigureAgent", false),
            ("iam:ListRoles", true),
            ("iam:PassRole", false),
            ("s3:ListAllMyBuckets", true),
            ("s3:ListBucket", false),
            ("ec2:DescribeInstances", true),
            ("ec2:DescribeInstanceAttribute", false),
            ("sts:GetCallerIdentity", true),
            ("logs:DescribeLogGroups", true),
            ("sagemaker:ListModels", true),
            ("cloudwatch:PutMetricData", true),
            ("nope:Nope", false),
            ("", false),
        ] {
            assert_eq!(is_resourceless(action), want, "{action}");
        }
    }

    #[test]
    fn passed_to() {
        for (via, want) in [
            ("lambda:CreateFunction", Some("lambda.amazonaws.com")),
            (
                "lambda:UpdateFunctionConfiguration",
                Some("lambda.amazonaws.com"),
            ),
            (
                "ecs:RegisterTaskDefinition",
                Some("ecs-tasks.amazonaws.com"),
            ),
            ("ec2:AssociateIamInstanceProfile", Some("ec2.amazonaws.com")),
            ("glue:CreateJob", Some("glue.amazonaws.com")),
            ("states:CreateStateMachine", Some("states.amazonaws.com")),
            (
                "codeguru-profiler:CreateProfilingGroup",
                Some("codeguru-profiler.amazonaws.com"),
            ),
            ("sagemaker.amazonaws.com", Some("sagemaker.amazonaws.com")),
            ("nope:Nope", None),
            ("", None),
        ] {
            assert_eq!(passed_to_service(via), want, "{via}");
        }
    }

    #[test]
    fn owner_sides() {
        assert_eq!(owner_side("sts:AssumeRole"), OwnerSide::TrustPolicy);
        assert_eq!(
            owner_side("codeguru-profiler:PostAgentProfile"),
            OwnerSide::ProfilingGroupPolicy
        );
        assert_eq!(
            owner_side("codeguru-profiler:GetProfile"),
            OwnerSide::RoleToAssume
        );
        assert_eq!(
            owner_side("s3:GetObject"),
            OwnerSide::ResourcePolicy("bucket policy")
        );
        assert_eq!(owner_side("ec2:RunInstances"), OwnerSide::RoleToAssume);
    }
}
