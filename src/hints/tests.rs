//! Golden-style, table-driven tests: one row per hint case, each built from
//! denials through `Group::new` / `Group::add`, checking the codes, the exact
//! actions and resources of the policy, and key phrases of the text.

use serde_json::{Value, json};

use super::*;
use crate::aggregate::Group;
use crate::classify::{Denial, DenyKind, PolicyType, PrincipalKind, Reason};

const ACCT: &str = "111122223333";
const OTHER: &str = "444455556666";
const ROLE: &str = "arn:aws:iam::111122223333:role/app";
const PG: &str = "arn:aws:codeguru-profiler:us-east-1:111122223333:profilingGroup/pg";
const SCP: &str = "arn:aws:organizations::999999999999:policy/o-abc/service_control_policy/p-deny";
const RCP: &str = "arn:aws:organizations::999999999999:policy/o-abc/resource_control_policy/p-rcp";

/// A denial of `action` to the role, with everything else plain.
fn d(action: &str) -> Denial {
    Denial {
        principal: ROLE.into(),
        principal_kind: PrincipalKind::Role,
        principal_account: Some(ACCT.into()),
        session: None,
        action: action.into(),
        via: None,
        passes: None,
        resource: None,
        reason: implicit(PolicyType::IdentityBased),
        account: Some(ACCT.into()),
        region: Some("us-east-1".into()),
        event_time: Some("2024-05-01T00:00:00Z".into()),
        event_id: None,
        shared_event_id: None,
        vpc_endpoint_id: None,
        error_code: Some("AccessDenied".into()),
        event_source: None,
        encoded: false,
        truncated: false,
        message: "User is not authorized".into(),
    }
}

fn on(action: &str, resource: &str) -> Denial {
    Denial {
        resource: Some(resource.into()),
        ..d(action)
    }
}

fn with_reason(mut x: Denial, reason: Reason) -> Denial {
    x.reason = reason;
    x
}

fn via(mut x: Denial, v: &str) -> Denial {
    x.via = Some(v.into());
    x
}

fn implicit(p: PolicyType) -> Reason {
    Reason {
        kind: DenyKind::Implicit,
        policy_type: Some(p),
        policy_arn: None,
    }
}

fn explicit(p: PolicyType, arn: Option<&str>) -> Reason {
    Reason {
        kind: DenyKind::Explicit,
        policy_type: Some(p),
        policy_arn: arn.map(str::to_string),
    }
}

fn group(ds: &[Denial]) -> Group {
    let mut g = Group::new(&ds[0]);
    for x in ds {
        g.add(x);
    }
    g
}

/// One statement: `(actions, resources, condition)`.
type Stmt = (Vec<String>, Option<Vec<String>>, Option<Value>);

/// Check the IAM shape of a policy document and return its statements as
/// `(actions, resources, condition)`; `resources` is `None` when the
/// statement has no `Resource` (trust policies).
fn statements(policy: &Value) -> Vec<Stmt> {
    // Valid JSON that survives a round trip.
    let text = serde_json::to_string(policy).unwrap();
    assert_eq!(&serde_json::from_str::<Value>(&text).unwrap(), policy);
    assert_eq!(policy["Version"], "2012-10-17", "{policy}");
    let st = policy["Statement"].as_array().expect("Statement array");
    assert!(!st.is_empty());
    let strings = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().expect("string").to_string())
                .collect(),
            other => panic!("not a string or array: {other}"),
        }
    };
    st.iter()
        .map(|s| {
            assert_eq!(s["Effect"], "Allow", "{s}");
            let actions = strings(&s["Action"]);
            for a in &actions {
                assert!(
                    a.split_once(':')
                        .is_some_and(|(x, y)| !x.is_empty() && !y.is_empty()),
                    "{a}"
                );
            }
            let resources = s.get("Resource").map(strings);
            if let Some(sid) = s.get("Sid") {
                assert!(
                    sid.as_str()
                        .unwrap()
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric())
                );
            }
            (actions, resources, s.get("Condition").cloned())
        })
        .collect()
}

struct Case {
    name: &'static str,
    denials: Vec<Denial>,
    code: HintCode,
    /// The full list of codes, main first.
    codes: &'static [HintCode],
    /// `(action, resources)` of the identity policy; `None` = `null`.
    policy: Option<(&'static str, Vec<&'static str>)>,
    condition: Option<Value>,
    /// `(actions, resources or None for a trust policy, principal)`.
    resource_policy: Option<(Vec<&'static str>, Option<Vec<&'static str>>)>,
    phrases: &'static [&'static str],
    absent: &'static [&'static str],
}

impl Default for Case {
    fn default() -> Self {
        Case {
            name: "",
            denials: Vec::new(),
            code: HintCode::AllowAction,
            codes: &[],
            policy: None,
            condition: None,
            resource_policy: None,
            phrases: &[],
            absent: &[],
        }
    }
}

fn cases() -> Vec<Case> {
    use HintCode as H;
    vec![
        Case {
            name: "allow-action on the exact resource",
            denials: vec![on("codeguru-profiler:DescribeProfilingGroup", PG)],
            code: H::AllowAction,
            codes: &[H::AllowAction],
            policy: Some(("codeguru-profiler:DescribeProfilingGroup", vec![PG])),
            phrases: &[
                "Allow codeguru-profiler:DescribeProfilingGroup in the principal's identity-based policy: the policy below.",
                "Who: the administrator of the principal's identity-based policies",
                "Docs: codeguru-profiler:DescribeProfilingGroup: https://",
                "ask them",
                "create the identity and attach this policy",
                "AmazonCodeGuruProfilerReadOnlyAccess",
            ],
            absent: &["not sufficient", "will not help", "PLACEHOLDER", "Reasons:"],
            ..Case::default()
        },
        Case {
            name: "several resources",
            denials: vec![
                on("codeguru-profiler:GetProfile", PG),
                on(
                    "codeguru-profiler:GetProfile",
                    "arn:aws:codeguru-profiler:us-east-1:111122223333:profilingGroup/a",
                ),
                on("codeguru-profiler:GetProfile", PG),
            ],
            code: H::AllowAction,
            codes: &[H::AllowAction],
            policy: Some((
                "codeguru-profiler:GetProfile",
                vec![
                    "arn:aws:codeguru-profiler:us-east-1:111122223333:profilingGroup/a",
                    PG,
                ],
            )),
            ..Case::default()
        },
        Case {
            name: "no-resource action gets *",
            denials: vec![d("iam:ListRoles")],
            code: H::AllowAction,
            codes: &[H::AllowAction],
            policy: Some(("iam:ListRoles", vec!["*"])),
            phrases: &["takes no resource"],
            absent: &["PLACEHOLDER"],
            ..Case::default()
        },
        Case {
            name: "no-resource action even when a resource is named",
            denials: vec![on("codeguru-profiler:ListProfilingGroups", "pg")],
            code: H::AllowAction,
            codes: &[H::AllowAction],
            policy: Some(("codeguru-profiler:ListProfilingGroups", vec!["*"])),
            ..Case::default()
        },
        Case {
            name: "ec2 Describe* is resourceless",
            denials: vec![d("ec2:DescribeInstances")],
            code: H::AllowAction,
            codes: &[H::AllowAction],
            policy: Some(("ec2:DescribeInstances", vec!["*"])),
            ..Case::default()
        },
        Case {
            name: "bare name from the message becomes an ARN",
            denials: vec![on(
                "codeguru-profiler:GetProfile",
                "my-example-profiling-group",
            )],
            code: H::AllowAction,
            codes: &[H::AllowAction],
            policy: Some((
                "codeguru-profiler:GetProfile",
                vec![
                    "arn:aws:codeguru-profiler:us-east-1:111122223333:profilingGroup/my-example-profiling-group",
                ],
            )),
            phrases: &["built from the name in the message"],
            ..Case::default()
        },
        Case {
            name: "unknown resource: placeholder from the template",
            denials: vec![Denial {
                region: None,
                ..d("codeguru-profiler:GetProfile")
            }],
            code: H::AllowAction,
            codes: &[H::AllowAction],
            policy: Some((
                "codeguru-profiler:GetProfile",
                vec![
                    "arn:aws:codeguru-profiler:*:111122223333:profilingGroup/<PROFILING_GROUP_NAME>",
                ],
            )),
            phrases: &["name no resource", "<PLACEHOLDERS>"],
            ..Case::default()
        },
        Case {
            name: "PassRole via lambda",
            denials: vec![via(
                on("iam:PassRole", "arn:aws:iam::111122223333:role/fn"),
                "lambda:CreateFunction",
            )],
            code: H::AllowPassrole,
            codes: &[H::AllowPassrole],
            policy: Some(("iam:PassRole", vec!["arn:aws:iam::111122223333:role/fn"])),
            condition: Some(
                json!({"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}),
            ),
            phrases: &[
                "Allow iam:PassRole to lambda.amazonaws.com in the principal's identity-based policy: the policy below.",
                "iam:PassedToService condition limits the grant",
            ],
            ..Case::default()
        },
        Case {
            name: "PassRole via ECS task APIs",
            denials: vec![
                via(
                    on("iam:PassRole", "arn:aws:iam::111122223333:role/task"),
                    "ecs:RegisterTaskDefinition",
                ),
                via(
                    on("iam:PassRole", "arn:aws:iam::111122223333:role/task"),
                    "ecs:RunTask",
                ),
            ],
            code: H::AllowPassrole,
            codes: &[H::AllowPassrole],
            policy: Some(("iam:PassRole", vec!["arn:aws:iam::111122223333:role/task"])),
            condition: Some(
                json!({"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}),
            ),
            ..Case::default()
        },
        Case {
            name: "PassRole via two services",
            denials: vec![
                via(
                    on("iam:PassRole", "arn:aws:iam::111122223333:role/r"),
                    "lambda:CreateFunction",
                ),
                via(
                    on("iam:PassRole", "arn:aws:iam::111122223333:role/r"),
                    "ec2:RunInstances",
                ),
            ],
            code: H::AllowPassrole,
            codes: &[H::AllowPassrole],
            policy: Some(("iam:PassRole", vec!["arn:aws:iam::111122223333:role/r"])),
            condition: Some(
                json!({"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com", "lambda.amazonaws.com"]}}),
            ),
            ..Case::default()
        },
        Case {
            name: "PassRole without via",
            denials: vec![on("iam:PassRole", "arn:aws:iam::111122223333:role/fn")],
            code: H::AllowPassrole,
            codes: &[H::AllowPassrole],
            policy: Some(("iam:PassRole", vec!["arn:aws:iam::111122223333:role/fn"])),
            condition: None,
            phrases: &["No iam:PassedToService condition", "no via"],
            ..Case::default()
        },
        Case {
            name: "PassRole via an API not in the table",
            denials: vec![via(
                on("iam:PassRole", "arn:aws:iam::111122223333:role/fn"),
                "frob:DoThing",
            )],
            code: H::AllowPassrole,
            codes: &[H::AllowPassrole],
            policy: Some(("iam:PassRole", vec!["arn:aws:iam::111122223333:role/fn"])),
            condition: None,
            phrases: &["does not know which service frob:DoThing passes roles to"],
            ..Case::default()
        },
        Case {
            name: "profiler agent",
            denials: vec![on(
                "codeguru-profiler:PostAgentProfile",
                "my-example-profiling-group",
            )],
            code: H::ProfilerAgent,
            codes: &[H::ProfilerAgent],
            policy: Some((
                "codeguru-profiler:PostAgentProfile",
                vec![
                    "arn:aws:codeguru-profiler:us-east-1:111122223333:profilingGroup/my-example-profiling-group",
                ],
            )),
            phrases: &[
                "AmazonCodeGuruProfilerAgentAccess",
                "agentPermissions",
                "put-permission --profiling-group-name <PROFILING_GROUP_NAME> --action-group agentPermissions --principals <PRINCIPAL_ARN>",
            ],
            ..Case::default()
        },
        Case {
            name: "explicit deny in an SCP, with its ARN",
            denials: vec![with_reason(
                on("codeguru-profiler:ConfigureAgent", PG),
                explicit(PolicyType::ServiceControlPolicy, Some(SCP)),
            )],
            code: H::ExplicitDenyScp,
            codes: &[H::ExplicitDenyScp, H::ProfilerAgent],
            policy: Some(("codeguru-profiler:ConfigureAgent", vec![PG])),
            phrases: &[
                "Remove or narrow the explicit deny in the service control policy arn:aws:organizations::999999999999:policy/o-abc/service_control_policy/p-deny",
                "AmazonCodeGuruProfilerAgentAccess",
                "will not help",
                "not sufficient",
                "Organizations administrator",
            ],
            ..Case::default()
        },
        Case {
            name: "SCP missing allow",
            denials: vec![with_reason(
                on("codeguru-profiler:GetProfile", PG),
                implicit(PolicyType::ServiceControlPolicy),
            )],
            code: H::ScpMissingAllow,
            codes: &[H::ScpMissingAllow, H::AllowAction],
            policy: Some(("codeguru-profiler:GetProfile", vec![PG])),
            phrases: &[
                "Every SCP from the organization root",
                "will not help",
                "not sufficient",
            ],
            ..Case::default()
        },
        Case {
            name: "permissions boundary missing allow",
            denials: vec![with_reason(
                on("codeguru-profiler:GetProfile", PG),
                implicit(PolicyType::PermissionsBoundary),
            )],
            code: H::BoundaryMissingAllow,
            codes: &[H::BoundaryMissingAllow, H::AllowAction],
            policy: Some(("codeguru-profiler:GetProfile", vec![PG])),
            phrases: &[
                "permissions boundary",
                "whoever sets",
                "will not help",
                "not sufficient",
            ],
            ..Case::default()
        },
        Case {
            name: "explicit deny in a boundary",
            denials: vec![with_reason(
                on("codeguru-profiler:GetProfile", PG),
                explicit(PolicyType::PermissionsBoundary, None),
            )],
            code: H::ExplicitDenyBoundary,
            codes: &[H::ExplicitDenyBoundary, H::AllowAction],
            policy: Some(("codeguru-profiler:GetProfile", vec![PG])),
            phrases: &[
                "explicit deny in the permissions boundary",
                "will not help",
                "whoever sets",
            ],
            ..Case::default()
        },
        Case {
            name: "session policy missing allow",
            denials: vec![Denial {
                session: Some("arn:aws:sts::111122223333:assumed-role/app/s1".into()),
                ..with_reason(
                    on("codeguru-profiler:GetProfile", PG),
                    implicit(PolicyType::SessionPolicy),
                )
            }],
            code: H::SessionMissingAllow,
            codes: &[H::SessionMissingAllow, H::AllowAction],
            policy: Some(("codeguru-profiler:GetProfile", vec![PG])),
            phrases: &[
                "session's issuer",
                "sts:AssumeRole",
                "assumed-role/app/s1",
                "not sufficient",
            ],
            ..Case::default()
        },
        Case {
            name: "explicit deny in a session policy",
            denials: vec![with_reason(
                on("codeguru-profiler:GetProfile", PG),
                explicit(PolicyType::SessionPolicy, None),
            )],
            code: H::ExplicitDenySession,
            codes: &[H::ExplicitDenySession, H::AllowAction],
            policy: Some(("codeguru-profiler:GetProfile", vec![PG])),
            phrases: &["session policy", "session's issuer", "will not help"],
            ..Case::default()
        },
        Case {
            name: "RCP missing allow",
            denials: vec![with_reason(
                on("codeguru-profiler:GetProfile", PG),
                Reason {
                    policy_arn: Some(RCP.into()),
                    ..implicit(PolicyType::ResourceControlPolicy)
                },
            )],
            code: H::RcpMissingAllow,
            codes: &[H::RcpMissingAllow, H::AllowAction],
            policy: Some(("codeguru-profiler:GetProfile", vec![PG])),
            phrases: &[
                "resource control policies",
                "p-rcp",
                "Organizations administrator",
                "not sufficient",
            ],
            ..Case::default()
        },
        Case {
            name: "explicit deny in an RCP",
            denials: vec![with_reason(
                on("codeguru-profiler:GetProfile", PG),
                explicit(PolicyType::ResourceControlPolicy, Some(RCP)),
            )],
            code: H::ExplicitDenyRcp,
            codes: &[H::ExplicitDenyRcp, H::AllowAction],
            policy: Some(("codeguru-profiler:GetProfile", vec![PG])),
            phrases: &[
                "explicit deny in the resource control policy arn:aws:organizations",
                "will not help",
            ],
            ..Case::default()
        },
        Case {
            name: "VPC endpoint policy missing allow",
            denials: vec![Denial {
                vpc_endpoint_id: Some("vpce-0abc".into()),
                ..with_reason(
                    on("codeguru-profiler:GetProfile", PG),
                    implicit(PolicyType::VpcEndpointPolicy),
                )
            }],
            code: H::VpceMissingAllow,
            codes: &[H::VpceMissingAllow, H::AllowAction],
            policy: Some(("codeguru-profiler:GetProfile", vec![PG])),
            phrases: &[
                "VPC endpoint policy",
                "vpce-0abc",
                "owner of the VPC endpoint",
                "not sufficient",
            ],
            ..Case::default()
        },
        Case {
            name: "explicit deny in a VPC endpoint policy",
            denials: vec![with_reason(
                on("codeguru-profiler:GetProfile", PG),
                explicit(PolicyType::VpcEndpointPolicy, None),
            )],
            code: H::ExplicitDenyVpce,
            codes: &[H::ExplicitDenyVpce, H::AllowAction],
            policy: Some(("codeguru-profiler:GetProfile", vec![PG])),
            phrases: &["VPC endpoint policy", "will not help"],
            ..Case::default()
        },
        Case {
            name: "resource-based policy missing allow",
            denials: vec![with_reason(
                on("s3:GetObject", "arn:aws:s3:::bucket/key"),
                implicit(PolicyType::ResourceBased),
            )],
            code: H::ResourceMissingAllow,
            codes: &[H::ResourceMissingAllow, H::AllowAction],
            policy: Some(("s3:GetObject", vec!["arn:aws:s3:::bucket/key"])),
            resource_policy: Some((vec!["s3:GetObject"], Some(vec!["arn:aws:s3:::bucket/key"]))),
            phrases: &[
                "bucket policy",
                "resource's owner",
                "resource-side policy below",
            ],
            ..Case::default()
        },
        Case {
            name: "explicit deny in a resource-based policy",
            denials: vec![with_reason(
                on("s3:GetObject", "arn:aws:s3:::bucket/key"),
                explicit(PolicyType::ResourceBased, None),
            )],
            code: H::ExplicitDenyResource,
            codes: &[H::ExplicitDenyResource, H::AllowAction],
            policy: Some(("s3:GetObject", vec!["arn:aws:s3:::bucket/key"])),
            phrases: &["resource-based policy", "will not help", "resource's owner"],
            ..Case::default()
        },
        Case {
            name: "explicit deny in an identity-based policy",
            denials: vec![with_reason(
                on("codeguru-profiler:GetProfile", PG),
                explicit(PolicyType::IdentityBased, None),
            )],
            code: H::ExplicitDenyIdentity,
            codes: &[H::ExplicitDenyIdentity, H::AllowAction],
            policy: Some(("codeguru-profiler:GetProfile", vec![PG])),
            phrases: &[
                "explicit deny in an identity-based policy",
                "adding an allow will not help",
                "not sufficient",
            ],
            ..Case::default()
        },
        Case {
            name: "explicit deny, policy type not named",
            denials: vec![with_reason(
                on("codeguru-profiler:GetProfile", PG),
                Reason {
                    kind: DenyKind::Explicit,
                    policy_type: None,
                    policy_arn: None,
                },
            )],
            code: H::ExplicitDeny,
            codes: &[H::ExplicitDeny, H::AllowAction],
            policy: Some(("codeguru-profiler:GetProfile", vec![PG])),
            phrases: &["explicit deny", "will not help"],
            ..Case::default()
        },
        Case {
            name: "cross-account AssumeRole: trust policy",
            denials: vec![on(
                "sts:AssumeRole",
                "arn:aws:iam::444455556666:role/target",
            )],
            code: H::CrossAccount,
            codes: &[H::CrossAccount, H::AllowAction],
            policy: Some((
                "sts:AssumeRole",
                vec!["arn:aws:iam::444455556666:role/target"],
            )),
            resource_policy: Some((vec!["sts:AssumeRole"], None)),
            phrases: &[
                "on both sides",
                "role's trust policy in account 444455556666",
                "Who: both",
                "Resource side (account 444455556666)",
            ],
            absent: &["must also trust"],
            ..Case::default()
        },
        Case {
            name: "cross-account profiling group: PutPermission",
            denials: vec![on(
                "codeguru-profiler:PostAgentProfile",
                "arn:aws:codeguru-profiler:us-east-1:444455556666:profilingGroup/shared",
            )],
            code: H::CrossAccount,
            codes: &[H::CrossAccount, H::ProfilerAgent],
            policy: Some((
                "codeguru-profiler:PostAgentProfile",
                vec!["arn:aws:codeguru-profiler:us-east-1:444455556666:profilingGroup/shared"],
            )),
            resource_policy: Some((
                vec![
                    "codeguru-profiler:ConfigureAgent",
                    "codeguru-profiler:PostAgentProfile",
                ],
                Some(vec![
                    "arn:aws:codeguru-profiler:us-east-1:444455556666:profilingGroup/shared",
                ]),
            )),
            phrases: &[
                "the profiling group's owner adds the principal to its agentPermissions",
                "put-permission --profiling-group-name <PROFILING_GROUP_NAME> --action-group agentPermissions",
                "outside the account",
                "both sides",
            ],
            ..Case::default()
        },
        Case {
            name: "cross-account profiling group read: role to assume",
            denials: vec![on(
                "codeguru-profiler:GetProfile",
                "arn:aws:codeguru-profiler:us-east-1:444455556666:profilingGroup/shared",
            )],
            code: H::CrossAccount,
            codes: &[H::CrossAccount, H::AllowAction],
            policy: Some((
                "codeguru-profiler:GetProfile",
                vec!["arn:aws:codeguru-profiler:us-east-1:444455556666:profilingGroup/shared"],
            )),
            resource_policy: Some((vec!["sts:AssumeRole"], None)),
            phrases: &[
                "must assume a role in account 444455556666",
                "trust policy trusts",
                "sts:AssumeRole",
                "outside the account",
            ],
            ..Case::default()
        },
        Case {
            name: "cross-account queue: resource-based policy",
            denials: vec![on(
                "sqs:SendMessage",
                "arn:aws:sqs:us-east-1:444455556666:q",
            )],
            code: H::CrossAccount,
            codes: &[H::CrossAccount, H::AllowAction],
            policy: Some((
                "sqs:SendMessage",
                vec!["arn:aws:sqs:us-east-1:444455556666:q"],
            )),
            resource_policy: Some((
                vec!["sqs:SendMessage"],
                Some(vec!["arn:aws:sqs:us-east-1:444455556666:q"]),
            )),
            phrases: &["queue policy"],
            ..Case::default()
        },
        Case {
            name: "cross-account PassRole never works",
            denials: vec![via(
                on("iam:PassRole", "arn:aws:iam::444455556666:role/x"),
                "lambda:CreateFunction",
            )],
            code: H::CrossAccountPassrole,
            codes: &[H::CrossAccountPassrole],
            policy: None,
            phrases: &[
                "can never succeed",
                "own account (111122223333)",
                "no policy in either account",
            ],
            absent: &["not sufficient"],
            ..Case::default()
        },
        Case {
            name: "encoded message, nothing else known",
            denials: vec![Denial {
                encoded: true,
                ..with_reason(
                    on(
                        "ec2:RunInstances",
                        "arn:aws:ec2:us-east-1:111122223333:instance/*",
                    ),
                    Reason::UNKNOWN,
                )
            }],
            code: H::DecodeMessage,
            codes: &[H::DecodeMessage, H::AllowAction],
            policy: Some((
                "ec2:RunInstances",
                vec!["arn:aws:ec2:us-east-1:111122223333:instance/*"],
            )),
            phrases: &[
                "aws sts decode-authorization-message --encoded-message <msg> --query DecodedMessage --output text | jq .",
                "sts:DecodeAuthorizationMessage",
            ],
            ..Case::default()
        },
        Case {
            name: "encoded message with a known reason",
            denials: vec![Denial {
                encoded: true,
                ..on("codeguru-profiler:GetProfile", PG)
            }],
            code: H::AllowAction,
            codes: &[H::AllowAction, H::DecodeMessage],
            policy: Some(("codeguru-profiler:GetProfile", vec![PG])),
            phrases: &["1 message was encoded", "decode-authorization-message"],
            ..Case::default()
        },
        Case {
            name: "truncated messages",
            denials: vec![
                Denial {
                    truncated: true,
                    ..on("codeguru-profiler:GetProfile", PG)
                },
                Denial {
                    truncated: true,
                    event_id: Some("2".into()),
                    ..on("codeguru-profiler:GetProfile", PG)
                },
            ],
            code: H::AllowAction,
            codes: &[H::AllowAction],
            policy: Some(("codeguru-profiler:GetProfile", vec![PG])),
            phrases: &["2 messages were cut by CloudTrail at 1024 characters"],
            ..Case::default()
        },
        Case {
            name: "access keys",
            denials: vec![Denial {
                principal: "arn:aws:iam::111122223333:user/bob".into(),
                principal_kind: PrincipalKind::IamUser,
                ..on("iam:CreateAccessKey", "arn:aws:iam::111122223333:user/bob")
            }],
            code: H::AccessKeys,
            codes: &[H::AccessKeys],
            policy: Some((
                "iam:CreateAccessKey",
                vec!["arn:aws:iam::111122223333:user/bob"],
            )),
            phrases: &[
                "at most two access keys",
                "shown only once",
                "create a new key",
                "deactivate",
                "delete",
            ],
            ..Case::default()
        },
        Case {
            name: "access keys, user not named",
            denials: vec![d("iam:CreateAccessKey")],
            code: H::AccessKeys,
            codes: &[H::AccessKeys],
            policy: Some((
                "iam:CreateAccessKey",
                vec!["arn:aws:iam::111122223333:user/<USER_NAME_WITH_PATH>"],
            )),
            phrases: &["${aws:username}", "<PLACEHOLDERS>"],
            ..Case::default()
        },
        Case {
            name: "multiple reasons: main from the most severe",
            denials: vec![
                on("codeguru-profiler:GetProfile", PG),
                on("codeguru-profiler:GetProfile", PG),
                on("codeguru-profiler:GetProfile", PG),
                with_reason(
                    on("codeguru-profiler:GetProfile", PG),
                    implicit(PolicyType::PermissionsBoundary),
                ),
                with_reason(
                    on("codeguru-profiler:GetProfile", PG),
                    explicit(PolicyType::ServiceControlPolicy, Some(SCP)),
                ),
            ],
            code: H::ExplicitDenyScp,
            codes: &[H::ExplicitDenyScp, H::BoundaryMissingAllow, H::AllowAction],
            policy: Some(("codeguru-profiler:GetProfile", vec![PG])),
            phrases: &[
                "explicit deny in the service control policy",
                "Also: no permissions boundary allows it (see the reasons); who: whoever sets",
                "not sufficient",
            ],
            // The reasons are the group's own field.
            absent: &["Reasons:"],
            ..Case::default()
        },
        Case {
            name: "reason unknown, not encoded: identity side",
            denials: vec![with_reason(
                on("codeguru-profiler:GetProfile", PG),
                Reason::UNKNOWN,
            )],
            code: H::AllowAction,
            codes: &[H::AllowAction],
            policy: Some(("codeguru-profiler:GetProfile", vec![PG])),
            ..Case::default()
        },
        Case {
            name: "malformed action: no policy",
            denials: vec![d("unknown")],
            code: H::AllowAction,
            codes: &[H::AllowAction],
            policy: None,
            phrases: &[
                "Allow unknown in the principal's identity-based policy",
                "not of the form service:Action",
            ],
            absent: &["PLACEHOLDER"],
            ..Case::default()
        },
    ]
}

#[test]
fn golden_cases() {
    // Every failing case is reported, not only the first.
    let failed: Vec<String> = cases()
        .into_iter()
        .filter_map(|case| {
            let name = case.name;
            std::panic::catch_unwind(move || check_case(case))
                .err()
                .map(|_| name.to_string())
        })
        .collect();
    assert!(failed.is_empty(), "failing cases: {failed:#?}");
}

fn check_case(case: Case) {
    {
        let name = case.name;
        let h = hint_for(&group(&case.denials));
        // What people read: the text, then the shared notes.
        let advice = h.clone().standalone().text;
        assert_eq!(h.code, case.code, "{name}\n{advice}");
        assert_eq!(h.codes, case.codes, "{name}\n{advice}");
        match &case.policy {
            None => assert!(h.policy.is_null(), "{name}: {}", h.policy),
            Some((action, resources)) => {
                let st = statements(&h.policy);
                assert_eq!(st.len(), 1, "{name}");
                let (actions, res, cond) = &st[0];
                assert_eq!(actions, &[action.to_string()], "{name}");
                let want: Vec<String> = resources.iter().map(|s| s.to_string()).collect();
                assert_eq!(res.as_ref(), Some(&want), "{name}");
                assert_eq!(cond, &case.condition, "{name}");
            }
        }
        match &case.resource_policy {
            None => assert!(h.resource_policy.is_null(), "{name}: {}", h.resource_policy),
            Some((actions, resources)) => {
                let st = statements(&h.resource_policy);
                assert_eq!(st.len(), 1, "{name}");
                let want: Vec<String> = actions.iter().map(|s| s.to_string()).collect();
                assert_eq!(st[0].0, want, "{name}");
                let want = resources
                    .as_ref()
                    .map(|r| r.iter().map(|s| s.to_string()).collect::<Vec<_>>());
                assert_eq!(st[0].1, want, "{name}");
                assert_eq!(
                    h.resource_policy["Statement"][0]["Principal"]["AWS"],
                    case.denials[0].principal,
                    "{name}"
                );
            }
        }
        assert!(!h.text.is_empty(), "{name}");
        // The text leads with what to do; exactly one line says who.
        let first = h.text.lines().next().unwrap_or("");
        assert!(
            !first.starts_with("Who:") && !first.starts_with("Note:"),
            "{name}: {first}"
        );
        assert_eq!(
            advice.lines().filter(|l| l.starts_with("Who: ")).count(),
            1,
            "{name}\n{advice}"
        );
        // Every note is known, and none is given twice.
        for (i, id) in h.notes.iter().enumerate() {
            assert!(note(id).is_some(), "{name}: unknown note {id}");
            assert!(!h.notes[i + 1..].contains(id), "{name}: {id} twice");
        }
        // The group's own fields are not repeated in the text.
        assert!(
            !h.text.contains(case.denials[0].principal.as_str()),
            "{name}: the principal in\n{}",
            h.text
        );
        for p in case.phrases {
            assert!(advice.contains(p), "{name}: missing {p:?} in\n{advice}");
        }
        for p in case.absent {
            assert!(!advice.contains(p), "{name}: unexpected {p:?} in\n{advice}");
        }
        // The whole hint survives the JSON round trip the report makes.
        let back: Hint = serde_json::from_str(&serde_json::to_string(&h).unwrap()).unwrap();
        assert_eq!(back, h, "{name}");
    }
}

#[test]
fn explain_denial_is_a_one_denial_group() {
    let x = via(
        on("iam:PassRole", "arn:aws:iam::111122223333:role/fn"),
        "lambda:CreateFunction",
    );
    assert_eq!(
        explain_denial(&x),
        hint_for(&group(std::slice::from_ref(&x))).standalone()
    );
}

#[test]
fn codes_are_distinct_and_match_serde() {
    let all = hint_codes_all();
    for (i, c) in all.iter().enumerate() {
        assert_eq!(serde_json::to_value(c).unwrap(), json!(c.as_str()));
        assert_eq!(c.to_string(), c.as_str());
        assert!(all[i + 1..].iter().all(|o| o.as_str() != c.as_str()));
    }
}

#[test]
fn principal_without_arn() {
    let x = Denial {
        principal: "account:444455556666".into(),
        principal_kind: PrincipalKind::AwsAccount,
        principal_account: Some(OTHER.into()),
        ..on("sqs:SendMessage", "arn:aws:sqs:us-east-1:111122223333:q")
    };
    let h = explain_denial(&x);
    assert_eq!(h.code, HintCode::CrossAccount);
    assert_eq!(
        h.resource_policy["Statement"][0]["Principal"]["AWS"],
        "arn:aws:iam::444455556666:root"
    );
}

#[test]
fn never_panics_on_odd_groups() {
    for (principal, action, resource) in [
        ("", "", Some("")),
        ("unknown", ":", Some("arn:")),
        (
            "service:x.amazonaws.com",
            "iam:PassRole",
            Some("arn:aws:iam::*:role/x"),
        ),
        ("arn:aws:iam::1:role/r", "s3:GetObject", Some("*")),
        ("arn:aws:iam::1:role/r", "iam:PassRole", None),
    ] {
        let x = Denial {
            principal: principal.into(),
            principal_account: None,
            resource: resource.map(str::to_string),
            ..d(action)
        };
        let h = explain_denial(&x);
        assert!(!h.text.is_empty());
        if !h.policy.is_null() {
            statements(&h.policy);
        }
    }
}

#[test]
fn cross_account_agent_names_put_permission_once() {
    let h = explain_denial(&on(
        "codeguru-profiler:ConfigureAgent",
        "arn:aws:codeguru-profiler:us-east-1:444455556666:profilingGroup/shared",
    ));
    assert_eq!(h.text.matches("put-permission").count(), 1, "{}", h.text);
}

#[test]
fn explain_message_reads_a_codeguru_error_line() {
    let msg = "An error occurred (AccessDeniedException) when calling the ConfigureAgent operation: User: arn:aws:sts::111122223333:assumed-role/app/i-0abc is not authorized to perform: codeguru-profiler:ConfigureAgent on resource: arn:aws:codeguru-profiler:us-east-1:111122223333:profilingGroup/pg because no identity-based policy allows the codeguru-profiler:ConfigureAgent action";
    let h = explain_message(msg).expect("a denial");
    assert_eq!(h.code, HintCode::ProfilerAgent, "{}", h.text);
    let st = statements(&h.policy);
    assert_eq!(st[0].0, ["codeguru-profiler:ConfigureAgent"]);
    assert!(h.text.contains("AmazonCodeGuruProfilerAgentAccess"));
    assert!(explain_message("all good").is_none());
    assert!(explain_message("{not json").is_none());
}

#[test]
fn folded_principals_get_a_hint_about_many_principals() {
    let mut x = on("codeguru-profiler:DescribeProfilingGroup", PG);
    x.principal = crate::aggregate::FOLDED_PRINCIPAL.into();
    x.principal_kind = PrincipalKind::Other;
    let h = hint_for(&group(&[x.clone()]));
    assert!(h.text.starts_with("Several principals"), "{}", h.text);
    assert!(h.text.contains("denytrail replay"), "{}", h.text);
    // A named principal gets no such preamble.
    let h = hint_for(&group(&[on(
        "codeguru-profiler:DescribeProfilingGroup",
        PG,
    )]));
    assert!(!h.text.contains("Several principals"), "{}", h.text);
}
