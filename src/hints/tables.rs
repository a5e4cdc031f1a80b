//! What denytrail knows about AWS actions, offline: which actions take no
//! resource, the ARN template of each resource type, which service principal
//! receives a role passed by an API, and which services accept resource-based
//! policies.
//!
//! Plain static tables, matched case-insensitively (IAM action names are not
//! case-sensitive). An action missing from a table gets a generic answer and
//! the hint says so; the tables never need to be complete to be right.

/// How to build the ARN of one resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ArnTemplate {
    /// The service part of the ARN (`iam` for `sts:AssumeRole`'s role).
    pub service: &'static str,
    /// Whether the ARN has a region.
    pub regional: bool,
    /// Whether the ARN has an account.
    pub in_account: bool,
    /// The resource part, with `{}` where the name goes.
    pub path: &'static str,
    /// The placeholder for the name (`PROFILING_GROUP_NAME`).
    pub name: &'static str,
}

/// Actions that take no resource: the only place `"Resource": "*"` is
/// right. A trailing `*` matches any suffix.
const RESOURCELESS: &[&str] = &[
    "codeguru-profiler:ListProfilingGroups",
    "codeguru-profiler:GetFindingsReportAccountSummary",
    "iam:ListRoles",
    "iam:ListUsers",
    "iam:ListGroups",
    "iam:ListPolicies",
    "iam:ListAccountAliases",
    "iam:CreateAccountAlias",
    "iam:DeleteAccountAlias",
    "iam:GetAccountSummary",
    "iam:GetAccountPasswordPolicy",
    "iam:UpdateAccountPasswordPolicy",
    "iam:GetAccountAuthorizationDetails",
    "iam:GenerateCredentialReport",
    "iam:GetCredentialReport",
    "iam:ListVirtualMFADevices",
    "iam:ListOpenIDConnectProviders",
    "iam:ListSAMLProviders",
    "sts:GetCallerIdentity",
    "sts:GetSessionToken",
    "sts:DecodeAuthorizationMessage",
    "sts:GetAccessKeyInfo",
    "s3:ListAllMyBuckets",
    "s3:GetAccountPublicAccessBlock",
    "s3:PutAccountPublicAccessBlock",
    "ec2:Describe*",
    "autoscaling:Describe*",
    "elasticloadbalancing:Describe*",
    "codecommit:ListRepositories",
    "codecommit:ListApprovalRuleTemplates",
    "lambda:ListFunctions",
    "lambda:ListLayers",
    "lambda:GetAccountSettings",
    "lambda:ListEventSourceMappings",
    "kms:ListKeys",
    "kms:ListAliases",
    "kms:CreateKey",
    "kms:GenerateRandom",
    "dynamodb:ListTables",
    "dynamodb:DescribeLimits",
    "sqs:ListQueues",
    "sns:ListTopics",
    "sns:ListSubscriptions",
    "secretsmanager:ListSecrets",
    "secretsmanager:GetRandomPassword",
    "ecr:GetAuthorizationToken",
    "cloudwatch:PutMetricData",
    "cloudwatch:ListMetrics",
    "cloudwatch:GetMetricData",
    "cloudwatch:GetMetricStatistics",
    "ecs:ListClusters",
    "ecs:RegisterTaskDefinition",
    "ecs:DeregisterTaskDefinition",
    "ecs:DescribeTaskDefinition",
    "ecs:ListTaskDefinitions",
    "ecs:ListTaskDefinitionFamilies",
    "states:ListStateMachines",
    "states:ListActivities",
    "cloudformation:ListStacks",
    "cloudformation:ValidateTemplate",
    "cloudformation:ListExports",
    "codebuild:ListProjects",
    "codebuild:ListBuilds",
    "ssm:DescribeParameters",
    "tag:GetResources",
    "tag:GetTagKeys",
    "tag:GetTagValues",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
];

/// Whether `action` takes no resource (so `"Resource": "*"` is least
/// privilege).
///
/// ```
/// use denytrail::hints::is_resourceless;
/// assert!(is_resourceless("ec2:DescribeInstances"));
/// assert!(is_resourceless("iam:listroles"));
/// assert!(!is_resourceless("codeguru-profiler:DescribeProfilingGroup"));
/// ```
pub fn is_resourceless(action: &str) -> bool {
    RESOURCELESS.iter().any(|p| matches(p, action))
}

/// Case-insensitive match of an action against a pattern with an optional
/// trailing `*`.
fn matches(pattern: &str, action: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => action
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix)),
        None => pattern.eq_ignore_ascii_case(action),
    }
}

/// One row of the template table: `actions` empty means "any other action
/// of the service".
struct TemplateRow {
    service: &'static str,
    actions: &'static [&'static str],
    template: ArnTemplate,
}

const fn t(
    service: &'static str,
    regional: bool,
    in_account: bool,
    path: &'static str,
    name: &'static str,
) -> ArnTemplate {
    ArnTemplate {
        service,
        regional,
        in_account,
        path,
        name,
    }
}

const IAM_ROLE: ArnTemplate = t("iam", false, true, "role/{}", "ROLE_NAME");
const IAM_USER: ArnTemplate = t("iam", false, true, "user/{}", "USER_NAME");

/// The actions on an IAM user's access keys (the `access-keys` hint).
pub(crate) const ACCESS_KEY_ACTIONS: &[&str] = &[
    "CreateAccessKey",
    "DeleteAccessKey",
    "UpdateAccessKey",
    "ListAccessKeys",
    "GetAccessKeyLastUsed",
];

const TEMPLATES: &[TemplateRow] = &[
    TemplateRow {
        service: "codeguru-profiler",
        actions: &[],
        template: t(
            "codeguru-profiler",
            true,
            true,
            "profilingGroup/{}",
            "PROFILING_GROUP_NAME",
        ),
    },
    TemplateRow {
        service: "iam",
        actions: &[
            "PassRole",
            "GetRole",
            "CreateRole",
            "DeleteRole",
            "UpdateRole",
            "UpdateAssumeRolePolicy",
            "AttachRolePolicy",
            "DetachRolePolicy",
            "PutRolePolicy",
            "GetRolePolicy",
            "DeleteRolePolicy",
            "ListRolePolicies",
            "ListAttachedRolePolicies",
            "TagRole",
            "UntagRole",
            "PutRolePermissionsBoundary",
            "DeleteRolePermissionsBoundary",
        ],
        template: IAM_ROLE,
    },
    TemplateRow {
        service: "iam",
        actions: &[
            "CreateAccessKey",
            "DeleteAccessKey",
            "UpdateAccessKey",
            "ListAccessKeys",
            "GetAccessKeyLastUsed",
            "GetUser",
            "CreateUser",
            "DeleteUser",
            "UpdateUser",
            "AttachUserPolicy",
            "DetachUserPolicy",
            "PutUserPolicy",
            "GetUserPolicy",
            "DeleteUserPolicy",
            "ListUserPolicies",
            "ListAttachedUserPolicies",
            "ListGroupsForUser",
            "CreateLoginProfile",
            "GetLoginProfile",
            "UpdateLoginProfile",
            "DeleteLoginProfile",
            "ChangePassword",
            "ListMFADevices",
            "TagUser",
            "UntagUser",
            "PutUserPermissionsBoundary",
            "DeleteUserPermissionsBoundary",
        ],
        template: IAM_USER,
    },
    TemplateRow {
        service: "iam",
        actions: &[
            "CreatePolicy",
            "GetPolicy",
            "DeletePolicy",
            "GetPolicyVersion",
            "CreatePolicyVersion",
            "DeletePolicyVersion",
            "ListPolicyVersions",
            "SetDefaultPolicyVersion",
        ],
        template: t("iam", false, true, "policy/{}", "POLICY_NAME"),
    },
    TemplateRow {
        service: "iam",
        actions: &[
            "CreateInstanceProfile",
            "GetInstanceProfile",
            "DeleteInstanceProfile",
            "AddRoleToInstanceProfile",
            "RemoveRoleFromInstanceProfile",
        ],
        template: t(
            "iam",
            false,
            true,
            "instance-profile/{}",
            "INSTANCE_PROFILE_NAME",
        ),
    },
    TemplateRow {
        service: "iam",
        actions: &[
            "CreateGroup",
            "GetGroup",
            "DeleteGroup",
            "AddUserToGroup",
            "RemoveUserFromGroup",
            "AttachGroupPolicy",
            "DetachGroupPolicy",
            "PutGroupPolicy",
        ],
        template: t("iam", false, true, "group/{}", "GROUP_NAME"),
    },
    TemplateRow {
        service: "sts",
        actions: &[
            "AssumeRole",
            "AssumeRoleWithSAML",
            "AssumeRoleWithWebIdentity",
            "TagSession",
            "SetSourceIdentity",
        ],
        template: IAM_ROLE,
    },
    TemplateRow {
        service: "sts",
        actions: &["GetFederationToken"],
        template: t("sts", false, true, "federated-user/{}", "USER_NAME"),
    },
    TemplateRow {
        service: "s3",
        actions: &[
            "ListBucket",
            "ListBucketVersions",
            "ListBucketMultipartUploads",
            "CreateBucket",
            "DeleteBucket",
            "GetBucketLocation",
            "GetBucketPolicy",
            "PutBucketPolicy",
            "DeleteBucketPolicy",
            "GetBucketAcl",
            "PutBucketAcl",
            "GetBucketVersioning",
            "PutBucketVersioning",
            "GetEncryptionConfiguration",
            "PutEncryptionConfiguration",
            "GetLifecycleConfiguration",
            "PutLifecycleConfiguration",
            "GetBucketTagging",
            "PutBucketTagging",
            "GetBucketPublicAccessBlock",
            "PutBucketPublicAccessBlock",
            "GetBucketNotification",
            "PutBucketNotification",
            "GetBucketCORS",
            "PutBucketCORS",
        ],
        template: t("s3", false, false, "{}", "BUCKET_NAME"),
    },
    TemplateRow {
        service: "s3",
        actions: &[],
        template: t("s3", false, false, "{}", "BUCKET_NAME/OBJECT_KEY"),
    },
    TemplateRow {
        service: "lambda",
        actions: &[],
        template: t("lambda", true, true, "function:{}", "FUNCTION_NAME"),
    },
    TemplateRow {
        service: "codecommit",
        actions: &[],
        template: t("codecommit", true, true, "{}", "REPOSITORY_NAME"),
    },
    TemplateRow {
        service: "kms",
        actions: &[],
        template: t("kms", true, true, "key/{}", "KEY_ID"),
    },
    TemplateRow {
        service: "dynamodb",
        actions: &[],
        template: t("dynamodb", true, true, "table/{}", "TABLE_NAME"),
    },
    TemplateRow {
        service: "sqs",
        actions: &[],
        template: t("sqs", true, true, "{}", "QUEUE_NAME"),
    },
    TemplateRow {
        service: "sns",
        actions: &[],
        template: t("sns", true, true, "{}", "TOPIC_NAME"),
    },
    TemplateRow {
        service: "logs",
        actions: &[],
        template: t("logs", true, true, "log-group:{}", "LOG_GROUP_NAME"),
    },
    TemplateRow {
        service: "secretsmanager",
        actions: &[],
        template: t("secretsmanager", true, true, "secret:{}", "SECRET_NAME"),
    },
    TemplateRow {
        service: "ssm",
        actions: &[
            "GetParameter",
            "GetParameters",
            "GetParametersByPath",
            "GetParameterHistory",
            "PutParameter",
            "DeleteParameter",
            "DeleteParameters",
        ],
        template: t("ssm", true, true, "parameter/{}", "PARAMETER_NAME"),
    },
    TemplateRow {
        service: "ecr",
        actions: &[],
        template: t("ecr", true, true, "repository/{}", "REPOSITORY_NAME"),
    },
    TemplateRow {
        service: "states",
        actions: &[],
        template: t(
            "states",
            true,
            true,
            "stateMachine:{}",
            "STATE_MACHINE_NAME",
        ),
    },
    TemplateRow {
        service: "kinesis",
        actions: &[],
        template: t("kinesis", true, true, "stream/{}", "STREAM_NAME"),
    },
    TemplateRow {
        service: "codebuild",
        actions: &[],
        template: t("codebuild", true, true, "project/{}", "PROJECT_NAME"),
    },
    TemplateRow {
        service: "events",
        actions: &[],
        template: t("events", true, true, "rule/{}", "RULE_NAME"),
    },
    TemplateRow {
        service: "cloudformation",
        actions: &[],
        template: t("cloudformation", true, true, "stack/{}", "STACK_NAME/*"),
    },
];

/// The ARN template of the resource `action` acts on, if denytrail knows it.
pub(crate) fn template_for(action: &str) -> Option<&'static ArnTemplate> {
    let (service, name) = split_action(action)?;
    let rows = || {
        TEMPLATES
            .iter()
            .filter(move |r| r.service.eq_ignore_ascii_case(service))
    };
    rows()
        .find(|r| r.actions.iter().any(|a| a.eq_ignore_ascii_case(name)))
        .or_else(|| rows().find(|r| r.actions.is_empty()))
        .map(|r| &r.template)
}

/// A template for an action denytrail has no table for: the service is the
/// action's own (an empty `service` means just that) and the resource type is
/// a placeholder to look up in the Service Authorization Reference.
pub(crate) const GENERIC_TEMPLATE: ArnTemplate =
    t("", true, true, "<RESOURCE_TYPE>/{}", "RESOURCE_NAME");

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
    fn resourceless_table() {
        for (action, want) in [
            ("codeguru-profiler:ListProfilingGroups", true),
            ("codeguru-profiler:GetFindingsReportAccountSummary", true),
            ("codeguru-profiler:ListFindingsReports", false),
            ("codeguru-profiler:ConfigureAgent", false),
            ("iam:ListRoles", true),
            ("iam:PassRole", false),
            ("s3:ListAllMyBuckets", true),
            ("s3:ListBucket", false),
            ("ec2:DescribeInstances", true),
            ("ec2:Describ", false),
            ("sts:GetCallerIdentity", true),
            ("codecommit:ListRepositories", true),
            ("", false),
        ] {
            assert_eq!(is_resourceless(action), want, "{action}");
        }
    }

    #[test]
    fn templates() {
        for (action, path) in [
            ("codeguru-profiler:PostAgentProfile", "profilingGroup/{}"),
            ("iam:PassRole", "role/{}"),
            ("sts:AssumeRole", "role/{}"),
            ("iam:CreateAccessKey", "user/{}"),
            ("s3:ListBucket", "{}"),
            ("s3:GetObject", "{}"),
            ("lambda:InvokeFunction", "function:{}"),
        ] {
            assert_eq!(template_for(action).map(|t| t.path), Some(path), "{action}");
        }
        assert_eq!(
            template_for("sts:AssumeRole").map(|t| t.service),
            Some("iam")
        );
        assert!(template_for("ec2:RunInstances").is_none());
        assert!(template_for("nocolon").is_none());
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
