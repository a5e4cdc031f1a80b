//! Classify one CloudTrail record (a JSON object).
//!
//! The record is parsed once with serde_json into a borrowed struct: strings
//! without escapes point into the input, `requestParameters` and `resources`
//! are kept as raw JSON and parsed only when a denial needs its resource, and
//! the fields nothing here reads (`responseElements`, `additionalEventData`,
//! …) are skipped without being built. Only the record's own `errorCode` and
//! `errorMessage` decide; the same words inside request parameters or
//! response elements of an allowed call are never a denial.
//!
//! # Error codes
//!
//! A denial is a record whose `errorCode` is one of
//! [`DENIAL_ERROR_CODES`] (optionally prefixed `Client.`, as EC2 writes
//! them), or whose `errorMessage` says "not authorized to perform" (EC2's
//! encoded messages say it too). Left out on purpose:
//! `NotAuthorizedException` (Cognito's wrong-password answer),
//! `KMSAccessDeniedException` (Lambda's own KMS access, not the caller's),
//! `InvalidAccessException` (Security Hub not enabled) and
//! `AuthorizationHeaderMalformed` (S3 region mismatch).
//!
//! An authentication failure is a record whose `errorCode` is one of
//! [`AUTH_FAILURE_ERROR_CODES`]: bad, expired or unsigned credentials.

use serde::Deserialize;

use super::actions::{iam_action, normalize, same_action};
use super::fields::{self, Record, Str};
use super::message::{NOT_AUTHORIZED, parse_message};
use super::principal::{self, Arn, Identity};
use super::resource::{self, Place};
use super::{AuthFailure, ClassifyError, CompactString, Denial, Outcome};

/// Error codes AWS uses for authorization failures (a closed list;
/// `VpceAccessDenied` is what VPC endpoint network-activity events write).
pub const DENIAL_ERROR_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "AccessDeniedFault",
    "AccessDeniedForDependencyException",
    "VpceAccessDenied",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "UnauthorizedAccessException",
    "UnauthorizedException",
    "Unauthorized",
    "AuthorizationError",
    "AuthorizationErrorException",
    "AuthorizationException",
    "Forbidden",
    "ForbiddenException",
    "InsufficientPrivilegesException",
    "InsufficientPermissionsException",
    "NotAuthorized",
];

/// Error codes of authentication failures (bad, expired or missing
/// credentials); not denials.
pub const AUTH_FAILURE_ERROR_CODES: &[&str] = &[
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "AuthFailure",
    "IncompleteSignature",
    "IncompleteSignatureException",
    "InvalidAccessKeyId",
    "InvalidToken",
    "TokenRefreshRequired",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "MissingAuthenticationToken",
    "MissingAuthenticationTokenException",
    "RequestExpired",
    "InvalidIdentityToken",
];

/// Whether `code` is in the denial family ([`DENIAL_ERROR_CODES`], with or
/// without a `Client.` prefix).
///
/// ```
/// use denytrail::classify::record::is_denial_code;
/// assert!(is_denial_code("Client.UnauthorizedOperation"));
/// assert!(is_denial_code("AccessDenied"));
/// assert!(!is_denial_code("ThrottlingException"));
/// ```
pub fn is_denial_code(code: &str) -> bool {
    let code = code.strip_prefix("Client.").unwrap_or(code);
    DENIAL_ERROR_CODES.contains(&code)
}

/// Whether `code` is an authentication failure ([`AUTH_FAILURE_ERROR_CODES`],
/// with or without a `Client.` prefix).
///
/// ```
/// use denytrail::classify::record::is_auth_failure_code;
/// assert!(is_auth_failure_code("ExpiredToken"));
/// assert!(is_auth_failure_code("Client.AuthFailure"));
/// assert!(!is_auth_failure_code("AccessDenied"));
/// ```
pub fn is_auth_failure_code(code: &str) -> bool {
    let code = code.strip_prefix("Client.").unwrap_or(code);
    AUTH_FAILURE_ERROR_CODES.contains(&code)
}

/// A string field: present, non-null, non-blank.
fn s<'r>(f: &'r Option<Str<'_>>) -> Option<&'r str> {
    f.as_ref().and_then(Str::get)
}

/// One entry of the record's `resources` array.
#[derive(Debug, Deserialize)]
struct ResourceEntry<'a> {
    #[serde(borrow, rename = "ARN")]
    arn: Option<Str<'a>>,
}

/// Classify one CloudTrail record.
///
/// Insight events are [`Outcome::Skipped`]; authentication failures are
/// [`Outcome::AuthFailure`]; authorization denials are
/// [`Outcome::Denial`]; everything else is [`Outcome::Other`]. Bytes that
/// are not a JSON object are an error.
///
/// ```
/// use denytrail::classify::{record::classify_json, Outcome};
/// let rec = br#"{"eventSource":"iam.amazonaws.com","eventName":"PassRole",
///   "userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/ci"},
///   "errorCode":"AccessDenied","recipientAccountId":"123456789012"}"#;
/// let Outcome::Denial(d) = classify_json(rec).unwrap() else { panic!() };
/// assert_eq!(d.action, "iam:PassRole");
/// assert_eq!(d.principal, "arn:aws:iam::123456789012:user/ci");
/// ```
pub fn classify_json(bytes: &[u8]) -> Result<Outcome, ClassifyError> {
    let rec = fields::parse(bytes).map_err(|e| invalid_json(bytes, &e))?;
    classify_fields(&rec)
}

/// [`classify_json`] with serde_json alone reading the record, for tests
/// and the `record` fuzz target, which compare the two.
#[doc(hidden)]
pub fn classify_json_serde(bytes: &[u8]) -> Result<Outcome, ClassifyError> {
    let rec = fields::parse_serde(bytes).map_err(|e| invalid_json(bytes, &e))?;
    classify_fields(&rec)
}

fn classify_fields(rec: &Record<'_>) -> Result<Outcome, ClassifyError> {
    if s(&rec.event_type) == Some("AwsCloudTrailInsight") || rec.insight_details.is_some() {
        return Ok(Outcome::Skipped);
    }
    let code = s(&rec.error_code);
    if let Some(c) = code.filter(|c| is_auth_failure_code(c)) {
        return Ok(Outcome::AuthFailure(AuthFailure {
            error_code: c.to_string(),
            event_id: s(&rec.event_id).map(str::to_string),
            event_time: s(&rec.event_time).map(CompactString::from),
        }));
    }
    let msg = rec.error_message.as_ref().map_or("", |m| m.0.as_ref());
    let by_code = code.is_some_and(is_denial_code);
    if !by_code && !msg.contains(NOT_AUTHORIZED) {
        return Ok(Outcome::Other);
    }
    Ok(Outcome::Denial(Box::new(denial(rec, code, msg))))
}

/// Build the denial of a record known to be one.
fn denial(rec: &Record<'_>, code: Option<&str>, msg: &str) -> Denial {
    let parsed = parse_message(msg);
    let ui = rec.user_identity.as_ref();
    let id = ui.map_or_else(Identity::default, |u| Identity {
        kind: s(&u.kind),
        arn: s(&u.arn),
        account_id: s(&u.account_id),
        invoked_by: s(&u.invoked_by),
        issuer_arn: u
            .session_context
            .as_ref()
            .and_then(|c| c.session_issuer.as_ref())
            .and_then(|i| s(&i.arn)),
        identity_provider: s(&u.identity_provider),
        on_behalf_of: u.on_behalf_of.as_ref().and_then(|o| s(&o.user_id)),
        principal_id: s(&u.principal_id),
    });
    let p = principal::resolve(&id, parsed.principal);

    let region = s(&rec.aws_region);
    let recipient = s(&rec.recipient_account_id);
    let partition = Arn::parse(&p.principal)
        .map(|a| a.partition)
        .unwrap_or_else(|| resource::partition_for_region(region.unwrap_or("")));

    let api = match (s(&rec.event_source), s(&rec.event_name)) {
        (Some(src), Some(name)) => Some(iam_action(src, name)),
        _ => None,
    };
    // Lambda and CloudFormation answer a PassRole of another account's role
    // with `Cross-account pass role is not allowed.`, logged under the
    // calling API: the denied action is iam:PassRole.
    let named = parsed.action.map(normalize).or_else(|| {
        parsed
            .cross_account_passrole
            .then(|| CompactString::from("iam:PassRole"))
    });
    let (action, via) = match (named, api) {
        (Some(a), Some(api)) if !same_action(&a, &api) => (a, Some(api)),
        (Some(a), _) => (a, None),
        (None, Some(api)) => (api, None),
        (None, None) => (CompactString::from("unknown"), None),
    };

    // The account a resource named without one belongs to.
    let res_account = recipient.or(p.account.as_deref()).unwrap_or("");
    // Parsed only when needed: for the resource, or for the role passed.
    let params = (parsed.resource.is_none() || parsed.action.is_none())
        .then(|| {
            rec.request_parameters
                .and_then(|raw| serde_json::from_str::<serde_json::Value>(raw.get()).ok())
        })
        .flatten();
    let resource = match parsed.resource {
        Some(r) => Some(
            resource::legacy_resource_arn(&r, partition, res_account)
                .unwrap_or_else(|| r.into_owned()),
        ),
        None => resource_from_request(
            rec,
            params.as_ref(),
            &action,
            via.is_some(),
            partition,
            res_account,
        ),
    };
    // The message names no action (EC2's encoded messages, a bare `Access
    // Denied`) but the request hands the service a role: passing it is the
    // usual cause.
    let passes = if parsed.action.is_none() && !action.eq_ignore_ascii_case("iam:PassRole") {
        params
            .as_ref()
            .and_then(|p| resource::passed_role(p, partition, res_account))
    } else {
        None
    };

    Denial {
        principal: p.principal,
        principal_kind: p.kind,
        principal_account: p.account.map(CompactString::from),
        session: p.session,
        action,
        via,
        passes,
        resource,
        reason: parsed.reason,
        account: recipient.map(CompactString::from),
        region: region.map(CompactString::from),
        event_time: s(&rec.event_time).map(CompactString::from),
        event_id: s(&rec.event_id).map(str::to_string),
        shared_event_id: s(&rec.shared_event_id).map(str::to_string),
        vpc_endpoint_id: s(&rec.vpc_endpoint_id).map(CompactString::from),
        error_code: code.map(CompactString::from),
        event_source: s(&rec.event_source).map(CompactString::from),
        encoded: parsed.encoded,
        truncated: parsed.truncated,
        message: msg.to_string(),
    }
}

/// The resource when the message names none: the passed role for
/// `iam:PassRole`; else, when the denied action is the called API, the ARN
/// built from `requestParameters`, then the record's first `resources` ARN.
fn resource_from_request(
    rec: &Record<'_>,
    params: Option<&serde_json::Value>,
    action: &str,
    is_via: bool,
    partition: &str,
    account: &str,
) -> Option<String> {
    if action.eq_ignore_ascii_case("iam:PassRole") {
        return params.and_then(|p| resource::passed_role(p, partition, account));
    }
    if is_via {
        // The request's parameters name the called API's resource, not the
        // denied action's.
        return None;
    }
    let place = Place {
        partition,
        region: s(&rec.aws_region).unwrap_or(""),
        account,
    };
    params
        .and_then(|p| resource::from_request(action, p, place))
        .or_else(|| {
            let raw = rec.resources?;
            let entries: Vec<ResourceEntry<'_>> = serde_json::from_str(raw.get()).ok()?;
            entries.iter().find_map(|e| s(&e.arn)).map(str::to_string)
        })
}

/// serde_json reports line and column; callers want a byte offset.
fn invalid_json(bytes: &[u8], e: &serde_json::Error) -> ClassifyError {
    let (line, column) = (e.line(), e.column());
    let mut offset = 0usize;
    if line > 1 {
        let mut seen = 1usize;
        for (i, b) in bytes.iter().enumerate() {
            if *b == b'\n' {
                seen += 1;
                if seen == line {
                    offset = i + 1;
                    break;
                }
            }
        }
    }
    let offset = offset
        .saturating_add(column.saturating_sub(1))
        .min(bytes.len());
    ClassifyError::InvalidJson {
        offset,
        msg: e.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::classify::{DenyKind, PolicyType, PrincipalKind};

    /// A record around an identity, event, error code and message.
    fn rec(identity: &str, source: &str, name: &str, code: &str, msg: &str, extra: &str) -> String {
        let mut out = format!(
            r#"{{"eventVersion":"1.08","userIdentity":{identity},"eventTime":"2024-05-01T12:00:00Z","eventSource":"{source}","eventName":"{name}","awsRegion":"us-east-1","eventID":"e-1","recipientAccountId":"123456789012""#
        );
        if !code.is_empty() {
            out.push_str(&format!(r#","errorCode":"{code}""#));
        }
        if !msg.is_empty() {
            out.push_str(&format!(
                r#","errorMessage":{}"#,
                serde_json::to_string(msg).unwrap()
            ));
        }
        if !extra.is_empty() {
            out.push(',');
            out.push_str(extra);
        }
        out.push('}');
        out
    }

    const USER: &str = r#"{"type":"IAMUser","principalId":"AIDA","arn":"arn:aws:iam::123456789012:user/ci-deployer","accountId":"123456789012","userName":"ci-deployer"}"#;
    const ROLE: &str = r#"{"type":"AssumedRole","principalId":"AROA:s","arn":"arn:aws:sts::123456789012:assumed-role/DeployRole/session-1","accountId":"123456789012","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROA","arn":"arn:aws:iam::123456789012:role/service-role/DeployRole","accountId":"123456789012","userName":"DeployRole"}}}"#;

    /// The prefilter contract: every denial or auth failure holds a marker.
    pub(crate) fn has_marker(bytes: &[u8]) -> bool {
        crate::classify::markers().any(|m| bytes.windows(m.len()).any(|w| w == m.as_bytes()))
    }

    fn denial_of(json: &str) -> Denial {
        match classify_json(json.as_bytes()) {
            Ok(Outcome::Denial(d)) => *d,
            other => panic!("not a denial: {other:?}\n{json}"),
        }
    }

    /// Expected fields of a denial; `None` fields are not checked.
    #[derive(Default)]
    struct Want {
        principal: Option<&'static str>,
        kind: Option<PrincipalKind>,
        principal_account: Option<Option<&'static str>>,
        session: Option<Option<&'static str>>,
        action: Option<&'static str>,
        via: Option<Option<&'static str>>,
        resource: Option<Option<&'static str>>,
        reason: Option<&'static str>,
        policy_arn: Option<Option<&'static str>>,
        encoded: Option<bool>,
        truncated: Option<bool>,
        account: Option<Option<&'static str>>,
    }

    fn check(json: &str, w: &Want) {
        let d = denial_of(json);
        if let Some(v) = w.principal {
            assert_eq!(d.principal, v, "{json}");
        }
        if let Some(v) = w.kind {
            assert_eq!(d.principal_kind, v, "{json}");
        }
        if let Some(v) = w.principal_account {
            assert_eq!(d.principal_account.as_deref(), v, "{json}");
        }
        if let Some(v) = w.session {
            assert_eq!(d.session.as_deref(), v, "{json}");
        }
        if let Some(v) = w.action {
            assert_eq!(d.action, v, "{json}");
        }
        if let Some(v) = w.via {
            assert_eq!(d.via.as_deref(), v, "{json}");
        }
        if let Some(v) = w.resource {
            assert_eq!(d.resource.as_deref(), v, "{json}");
        }
        if let Some(v) = w.reason {
            assert_eq!(d.reason.code(), v, "{json}");
        }
        if let Some(v) = w.policy_arn {
            assert_eq!(d.reason.policy_arn.as_deref(), v, "{json}");
        }
        if let Some(v) = w.encoded {
            assert_eq!(d.encoded, v, "{json}");
        }
        if let Some(v) = w.truncated {
            assert_eq!(d.truncated, v, "{json}");
        }
        if let Some(v) = w.account {
            assert_eq!(d.account.as_deref(), v, "{json}");
        }
    }

    #[test]
    fn denial_table() {
        let cases: Vec<(String, Want)> = vec![
            // PassRole denied inside lambda:CreateFunction.
            (
                rec(
                    ROLE,
                    "lambda.amazonaws.com",
                    "CreateFunction20150331",
                    "AccessDeniedException",
                    "User: arn:aws:sts::123456789012:assumed-role/DeployRole/session-1 is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/lambda-exec because no identity-based policy allows the iam:PassRole action",
                    r#""requestParameters":{"functionName":"f","role":"arn:aws:iam::123456789012:role/lambda-exec"}"#,
                ),
                Want {
                    principal: Some("arn:aws:iam::123456789012:role/service-role/DeployRole"),
                    kind: Some(PrincipalKind::Role),
                    principal_account: Some(Some("123456789012")),
                    session: Some(Some(
                        "arn:aws:sts::123456789012:assumed-role/DeployRole/session-1",
                    )),
                    action: Some("iam:PassRole"),
                    via: Some(Some("lambda:CreateFunction")),
                    resource: Some(Some("arn:aws:iam::123456789012:role/lambda-exec")),
                    reason: Some("implicit-identity"),
                    ..Want::default()
                },
            ),
            // PassRole without a resource in the message: from requestParameters.
            (
                rec(
                    USER,
                    "ecs.amazonaws.com",
                    "RegisterTaskDefinition",
                    "AccessDeniedException",
                    "User: arn:aws:iam::123456789012:user/ci-deployer is not authorized to perform: iam:PassRole",
                    r#""requestParameters":{"family":"web","containerDefinitions":[{"name":"c"}],"taskRoleArn":"arn:aws:iam::123456789012:role/task"}"#,
                ),
                Want {
                    principal: Some("arn:aws:iam::123456789012:user/ci-deployer"),
                    kind: Some(PrincipalKind::IamUser),
                    session: Some(None),
                    action: Some("iam:PassRole"),
                    via: Some(Some("ecs:RegisterTaskDefinition")),
                    resource: Some(Some("arn:aws:iam::123456789012:role/task")),
                    reason: Some("unknown"),
                    ..Want::default()
                },
            ),
            // Legacy `role NAME`.
            (
                rec(
                    USER,
                    "lambda.amazonaws.com",
                    "CreateFunction20150331",
                    "AccessDeniedException",
                    "User: arn:aws:iam::123456789012:user/x is not authorized to perform: iam:PassRole on resource: role lambda-exec",
                    "",
                ),
                Want {
                    resource: Some(Some("arn:aws:iam::123456789012:role/lambda-exec")),
                    action: Some("iam:PassRole"),
                    ..Want::default()
                },
            ),
            // CodeGuru Profiler, resource from requestParameters.
            (
                rec(
                    ROLE,
                    "codeguru-profiler.amazonaws.com",
                    "ConfigureAgent",
                    "AccessDeniedException",
                    "User: arn:aws:sts::123456789012:assumed-role/DeployRole/session-1 is not authorized to perform: codeguru-profiler:ConfigureAgent",
                    r#""requestParameters":{"profilingGroupName":"orders-api","fleetInstanceId":"i-1"}"#,
                ),
                Want {
                    action: Some("codeguru-profiler:ConfigureAgent"),
                    via: Some(None),
                    resource: Some(Some(
                        "arn:aws:codeguru-profiler:us-east-1:123456789012:profilingGroup/orders-api",
                    )),
                    ..Want::default()
                },
            ),
            // Short resource name kept as written.
            (
                rec(
                    USER,
                    "codeguru-profiler.amazonaws.com",
                    "DescribeProfilingGroup",
                    "AccessDeniedException",
                    "User: arn:aws:iam::123456789012:user/profiler-viewer is not authorized to perform: codeguru-profiler:DescribeProfilingGroup on resource: my-example-profiling-group",
                    "",
                ),
                Want {
                    resource: Some(Some("my-example-profiling-group")),
                    ..Want::default()
                },
            ),
            // SCP explicit deny with the policy ARN.
            (
                rec(
                    USER,
                    "codecommit.amazonaws.com",
                    "ListRepositories",
                    "AccessDeniedException",
                    "User: arn:aws:iam::123456789012:user/JohnDoe is not authorized to perform: codecommit:ListRespositories with an explicit deny in a service control policy: arn:aws:organizations::111122223333:policy/o-abcdefghij/service_control_policy/p-abcdefghij",
                    "",
                ),
                Want {
                    reason: Some("explicit-scp"),
                    policy_arn: Some(Some(
                        "arn:aws:organizations::111122223333:policy/o-abcdefghij/service_control_policy/p-abcdefghij",
                    )),
                    ..Want::default()
                },
            ),
            // S3 bare `Access Denied`: action from the event, resource from params.
            (
                rec(
                    USER,
                    "s3.amazonaws.com",
                    "GetObject",
                    "AccessDenied",
                    "Access Denied",
                    r#""requestParameters":{"bucketName":"b","key":"k.txt","Host":"b.s3.amazonaws.com"},"vpcEndpointId":"vpce-1""#,
                ),
                Want {
                    action: Some("s3:GetObject"),
                    resource: Some(Some("arn:aws:s3:::b/k.txt")),
                    reason: Some("unknown"),
                    encoded: Some(false),
                    ..Want::default()
                },
            ),
            // S3 quoted resource, VPC endpoint policy.
            (
                rec(
                    ROLE,
                    "s3.amazonaws.com",
                    "HeadObject",
                    "AccessDenied",
                    "User: arn:aws:sts::123456789012:assumed-role/R/s is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::bucket/key\" because no VPC endpoint policy allows the s3:GetObject action",
                    "",
                ),
                Want {
                    action: Some("s3:GetObject"),
                    via: Some(None),
                    resource: Some(Some("arn:aws:s3:::bucket/key")),
                    reason: Some("implicit-vpce"),
                    ..Want::default()
                },
            ),
            // EC2 encoded message; resource from requestParameters.
            (
                rec(
                    ROLE,
                    "ec2.amazonaws.com",
                    "RunInstances",
                    "Client.UnauthorizedOperation",
                    "You are not authorized to perform this operation. Encoded authorization failure message: 4GIOHlTkIaWHQD0Q0m6XSnuUMCm-abcd",
                    r#""requestParameters":{"instancesSet":{"items":[{"imageId":"ami-1"}]},"iamInstanceProfile":{"name":"web"}}"#,
                ),
                Want {
                    action: Some("ec2:RunInstances"),
                    via: Some(None),
                    resource: Some(None),
                    encoded: Some(true),
                    truncated: Some(false),
                    reason: Some("unknown"),
                    ..Want::default()
                },
            ),
            // Truncated message.
            (
                rec(
                    ROLE,
                    "ec2.amazonaws.com",
                    "RunInstances",
                    "Client.UnauthorizedOperation",
                    &format!(
                        "You are not authorized to perform this operation. Encoded authorization failure message: {}...",
                        "x".repeat(1000)
                    ),
                    "",
                ),
                Want {
                    encoded: Some(true),
                    truncated: Some(true),
                    ..Want::default()
                },
            ),
            // Message-only denial: the error code is not in the family.
            (
                rec(
                    USER,
                    "states.amazonaws.com",
                    "CreateStateMachine",
                    "ValidationException",
                    "User: arn:aws:iam::123456789012:user/ci-deployer is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/sfn",
                    r#""requestParameters":{"roleArn":"arn:aws:iam::123456789012:role/other"}"#,
                ),
                Want {
                    action: Some("iam:PassRole"),
                    via: Some(Some("states:CreateStateMachine")),
                    resource: Some(Some("arn:aws:iam::123456789012:role/sfn")),
                    ..Want::default()
                },
            ),
            // SNS writes its prefix in capitals.
            (
                rec(
                    USER,
                    "sns.amazonaws.com",
                    "Publish",
                    "AuthorizationError",
                    "User: arn:aws:iam::123456789012:user/ci-deployer is not authorized to perform: SNS:Publish on resource: arn:aws:sns:us-east-1:123456789012:t because no identity-based policy allows the SNS:Publish action",
                    "",
                ),
                Want {
                    action: Some("sns:Publish"),
                    via: Some(None),
                    resource: Some(Some("arn:aws:sns:us-east-1:123456789012:t")),
                    reason: Some("implicit-identity"),
                    ..Want::default()
                },
            ),
            // Root.
            (
                rec(
                    r#"{"type":"Root","principalId":"123456789012","arn":"arn:aws:iam::123456789012:root","accountId":"123456789012"}"#,
                    "iam.amazonaws.com",
                    "CreateUser",
                    "AccessDenied",
                    "User: arn:aws:iam::123456789012:root is not authorized to perform: iam:CreateUser on resource: arn:aws:iam::123456789012:user/x with an explicit deny in a service control policy",
                    "",
                ),
                Want {
                    principal: Some("arn:aws:iam::123456789012:root"),
                    kind: Some(PrincipalKind::Root),
                    reason: Some("explicit-scp"),
                    policy_arn: Some(None),
                    ..Want::default()
                },
            ),
            // Federated user.
            (
                rec(
                    r#"{"type":"FederatedUser","principalId":"123456789012:bob","arn":"arn:aws:sts::123456789012:federated-user/bob","accountId":"123456789012"}"#,
                    "s3.amazonaws.com",
                    "ListBuckets",
                    "AccessDenied",
                    "Access Denied",
                    "",
                ),
                Want {
                    principal: Some("arn:aws:sts::123456789012:federated-user/bob"),
                    kind: Some(PrincipalKind::FederatedUser),
                    action: Some("s3:ListAllMyBuckets"),
                    resource: Some(None),
                    ..Want::default()
                },
            ),
            // AWS service.
            (
                rec(
                    r#"{"type":"AWSService","invokedBy":"lambda.amazonaws.com"}"#,
                    "sts.amazonaws.com",
                    "AssumeRole",
                    "AccessDenied",
                    "",
                    r#""requestParameters":{"roleArn":"arn:aws:iam::123456789012:role/exec","roleSessionName":"f"}"#,
                ),
                Want {
                    principal: Some("service:lambda.amazonaws.com"),
                    kind: Some(PrincipalKind::AwsService),
                    action: Some("sts:AssumeRole"),
                    resource: Some(Some("arn:aws:iam::123456789012:role/exec")),
                    ..Want::default()
                },
            ),
            // Cross-account caller without an ARN.
            (
                rec(
                    r#"{"type":"AWSAccount","principalId":"AIDAX","accountId":"111122223333"}"#,
                    "s3.amazonaws.com",
                    "GetObject",
                    "AccessDenied",
                    "Access Denied",
                    r#""requestParameters":{"bucketName":"b","key":"k"}"#,
                ),
                Want {
                    principal: Some("arn:aws:iam::111122223333:root"),
                    kind: Some(PrincipalKind::AwsAccount),
                    principal_account: Some(Some("111122223333")),
                    account: Some(Some("123456789012")),
                    ..Want::default()
                },
            ),
            // No userIdentity.arn: the message's ARN, folded.
            (
                rec(
                    r#"{"type":"Unknown"}"#,
                    "iam.amazonaws.com",
                    "PassRole",
                    "AccessDenied",
                    "User: arn:aws:sts::444455556666:assumed-role/Builder/s is not authorized to perform: iam:PassRole on resource: arn:aws:iam::444455556666:role/x",
                    "",
                ),
                Want {
                    principal: Some("arn:aws:iam::444455556666:role/Builder"),
                    kind: Some(PrincipalKind::Role),
                    principal_account: Some(Some("444455556666")),
                    session: Some(Some("arn:aws:sts::444455556666:assumed-role/Builder/s")),
                    ..Want::default()
                },
            ),
            // Resource from the record's `resources` array.
            (
                rec(
                    USER,
                    "kinesis.amazonaws.com",
                    "PutRecord",
                    "AccessDeniedException",
                    "",
                    r#""resources":[{"accountId":"123456789012","type":"AWS::Kinesis::Stream","ARN":"arn:aws:kinesis:us-east-1:123456789012:stream/s"}]"#,
                ),
                Want {
                    action: Some("kinesis:PutRecord"),
                    resource: Some(Some("arn:aws:kinesis:us-east-1:123456789012:stream/s")),
                    ..Want::default()
                },
            ),
            // Escaped strings still parse (owned, not borrowed).
            (
                rec(
                    USER,
                    "iam.amazonaws.com",
                    "GetRole",
                    "AccessDenied",
                    "User: arn:aws:iam::123456789012:user/ci-deployer is not authorized to perform: iam:GetRole on resource: role r\u{e9}",
                    r#""requestParameters":{"roleName":"r\u00e9"}"#,
                ),
                Want {
                    resource: Some(Some("role r\u{e9}")),
                    ..Want::default()
                },
            ),
        ];
        for (json, want) in &cases {
            check(json, want);
            assert!(has_marker(json.as_bytes()), "no prefilter marker: {json}");
        }
    }

    #[test]
    fn outcome_table() {
        let insight = r#"{"eventVersion":"1.07","eventTime":"2024-05-01T12:00:00Z","awsRegion":"us-east-1","eventID":"x","eventType":"AwsCloudTrailInsight","recipientAccountId":"1","sharedEventID":"y","insightDetails":{"state":"Start","eventSource":"iam.amazonaws.com","eventName":"PassRole","insightType":"ApiErrorRateInsight","insightContext":{"statistics":{},"attributions":[{"attribute":"errorCode","insight":[{"value":"AccessDenied"}]}]}},"eventCategory":"Insight"}"#;
        let cases: Vec<(String, &str)> = vec![
            (insight.to_string(), "skipped"),
            (
                rec(USER, "sts.amazonaws.com", "GetCallerIdentity", "ExpiredToken", "The security token included in the request is expired", ""),
                "auth:ExpiredToken",
            ),
            (rec(USER, "ec2.amazonaws.com", "DescribeInstances", "Client.AuthFailure", "", ""), "auth:Client.AuthFailure"),
            (rec(USER, "sts.amazonaws.com", "GetCallerIdentity", "InvalidClientTokenId", "", ""), "auth:InvalidClientTokenId"),
            (rec(USER, "s3.amazonaws.com", "GetObject", "SignatureDoesNotMatch", "", ""), "auth:SignatureDoesNotMatch"),
            (rec(USER, "ssm.amazonaws.com", "DescribeParameters", "ThrottlingException", "Rate exceeded", ""), "other"),
            (rec(USER, "s3.amazonaws.com", "GetObject", "", "", ""), "other"),
            (rec(USER, "ec2.amazonaws.com", "RunInstances", "Client.UnauthorizedOperation", "", ""), "denial"),
            (rec(USER, "sns.amazonaws.com", "Publish", "AuthorizationError", "", ""), "denial"),
            (rec(USER, "x.amazonaws.com", "Do", "ForbiddenException", "", ""), "denial"),
            (
                rec(USER, "s3.amazonaws.com", "GetObject", "VpceAccessDenied", "The request was denied due to a VPC endpoint policy", ""),
                "denial",
            ),
            (rec(USER, "cognito-idp.amazonaws.com", "InitiateAuth", "NotAuthorizedException", "Incorrect username or password.", ""), "other"),
            // Traps: the words inside an allowed call's parameters or response.
            (
                rec(
                    USER,
                    "logs.amazonaws.com",
                    "PutLogEvents",
                    "",
                    "",
                    r#""requestParameters":{"logEvents":[{"message":"AccessDeniedException: User: arn:aws:iam::1:user/u is not authorized to perform: iam:PassRole"}]},"responseElements":{"errorCode":"AccessDenied","errorMessage":"is not authorized to perform"}"#,
                ),
                "other",
            ),
            (
                rec(
                    USER,
                    "ssm.amazonaws.com",
                    "PutParameter",
                    "",
                    "",
                    r#""requestParameters":{"name":"x","value":"Encoded authorization failure message: abc"},"additionalEventData":{"errorCode":"ExpiredToken"}"#,
                ),
                "other",
            ),
            (
                rec(
                    USER,
                    "lambda.amazonaws.com",
                    "Invoke",
                    "ResourceNotFoundException",
                    "Function not found",
                    r#""responseElements":{"payload":"User: x is not authorized to perform: y"}"#,
                ),
                "other",
            ),
            // Nested `errorCode` keys in userIdentity do not count either.
            (
                r#"{"userIdentity":{"type":"IAMUser","errorCode":"AccessDenied"},"eventSource":"s3.amazonaws.com","eventName":"GetObject"}"#.to_string(),
                "other",
            ),
            // Nulls everywhere.
            (
                r#"{"userIdentity":null,"errorCode":null,"errorMessage":null,"requestParameters":null,"eventType":null}"#.to_string(),
                "other",
            ),
            (r#"{"errorCode":"AccessDenied"}"#.to_string(), "denial"),
            ("{}".to_string(), "other"),
        ];
        for (json, want) in &cases {
            let got = match classify_json(json.as_bytes()) {
                Ok(Outcome::Skipped) => "skipped".to_string(),
                Ok(Outcome::Other) => "other".to_string(),
                Ok(Outcome::Denial(_)) => "denial".to_string(),
                Ok(Outcome::AuthFailure(a)) => format!("auth:{}", a.error_code),
                Err(e) => format!("err:{e}"),
            };
            assert_eq!(&got, want, "{json}");
            if got.starts_with("denial") || got.starts_with("auth") {
                assert!(has_marker(json.as_bytes()), "no prefilter marker: {json}");
            }
        }
    }

    #[test]
    fn bare_denial_defaults() {
        let d = denial_of(r#"{"errorCode":"AccessDenied"}"#);
        assert_eq!(d.principal, "unknown");
        assert_eq!(d.action, "unknown");
        assert_eq!(d.resource, None);
        assert_eq!(d.reason.kind, DenyKind::Unknown);
        assert_eq!(d.error_code.as_deref(), Some("AccessDenied"));
        assert_eq!(d.message, "");
    }

    #[test]
    fn record_fields_copied() {
        let json = r#"{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/u","accountId":"123456789012"},"eventTime":"2024-05-01T12:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"eu-west-1","errorCode":"AccessDenied","errorMessage":"Access Denied","eventID":"ev-1","sharedEventID":"sh-1","vpcEndpointId":"vpce-123","recipientAccountId":"999988887777"}"#;
        let d = denial_of(json);
        assert_eq!(d.account.as_deref(), Some("999988887777"));
        assert_eq!(d.principal_account.as_deref(), Some("123456789012"));
        assert_eq!(d.region.as_deref(), Some("eu-west-1"));
        assert_eq!(d.event_time.as_deref(), Some("2024-05-01T12:00:00Z"));
        assert_eq!(d.event_id.as_deref(), Some("ev-1"));
        assert_eq!(d.shared_event_id.as_deref(), Some("sh-1"));
        assert_eq!(d.vpc_endpoint_id.as_deref(), Some("vpce-123"));
        assert_eq!(d.event_source.as_deref(), Some("s3.amazonaws.com"));
        assert_eq!(d.message, "Access Denied");
        assert_eq!(d.reason.policy_type, None::<PolicyType>);
    }

    #[test]
    fn invalid_json_offsets() {
        let cases: &[(&[u8], usize)] = &[
            (b"{\"a\":", 5),
            (b"{\"a\":1,\n\"b\":x}", 12),
            (b"[1,2]", 0),
            (b"\"str\"", 0),
            (b"", 0),
            (b"{\"errorCode\":\"\xff\"}", 14),
            (b"{\"errorCode\":5}", 14),
        ];
        for (bytes, at_most) in cases {
            match classify_json(bytes) {
                Err(ClassifyError::InvalidJson { offset, msg }) => {
                    assert!(offset <= bytes.len(), "{offset} {msg}");
                    assert!(
                        offset + 1 >= *at_most,
                        "{:?}: offset {offset}, {msg}",
                        String::from_utf8_lossy(bytes)
                    );
                    assert!(!msg.is_empty());
                }
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(bytes)),
            }
        }
    }

    #[test]
    fn strings_borrow_from_input() {
        use std::borrow::Cow;
        let json = br#"{"errorCode":"AccessDenied","errorMessage":"a\"b"}"#;
        for r in [
            fields::parse(json).unwrap(),
            fields::parse_serde(json).unwrap(),
        ] {
            assert!(matches!(
                r.error_code.as_ref().map(|s| &s.0),
                Some(Cow::Borrowed(_))
            ));
            assert!(matches!(
                r.error_message.as_ref().map(|s| &s.0),
                Some(Cow::Owned(_))
            ));
        }
    }

    /// The fast field pass and serde_json classify every generated record,
    /// and every cut of one, alike.
    #[test]
    fn fast_fields_classify_as_serde_json_does() {
        use crate::generate::{CorpusConfig, Generator};
        let cfg = CorpusConfig::builder()
            .seed(21)
            .records(3_000)
            .denial_rate(0.3)
            .build()
            .unwrap();
        let mut fast_read = 0;
        for (n, r) in Generator::new(&cfg).enumerate() {
            let json = &r.json;
            assert_eq!(classify_json(json), classify_json_serde(json));
            fast_read += usize::from(fields::read(json).is_some());
            if n % 100 == 0 {
                for cut in (0..json.len()).step_by(7) {
                    assert_eq!(
                        classify_json(&json[..cut]),
                        classify_json_serde(&json[..cut])
                    );
                }
            }
        }
        // The fast pass is the one that runs.
        assert!(fast_read > 2_900, "{fast_read}");
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = classify_json(&bytes);
        }

        #[test]
        fn never_panics_on_mangled_denials(cut in 0usize..2000, byte in proptest::num::u8::ANY, at in 0usize..2000) {
            let mut json = rec(
                ROLE,
                "lambda.amazonaws.com",
                "CreateFunction20150331",
                "AccessDeniedException",
                "User: arn:aws:sts::123456789012:assumed-role/DeployRole/session-1 is not authorized to perform: iam:PassRole on resource: role x with an explicit deny in a service control policy: arn:aws:organizations::1:policy/p",
                r#""requestParameters":{"functionName":"f","role":"r","nested":[{"roleArn":"arn:aws:iam::1:role/y"}]}"#,
            )
            .into_bytes();
            if let Some(b) = json.get_mut(at) {
                *b = byte;
            }
            json.truncate(cut);
            let _ = classify_json(&json);
        }
    }

    /// Real records from the public invictus-ir dataset, when it is present.
    #[test]
    fn invictus_dataset() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/data/invictus-ir-aws-dataset");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            eprintln!("skipping: {} not found", dir.display());
            return;
        };
        let mut denials = Vec::new();
        let mut records = 0usize;
        for entry in entries.flatten() {
            if entry.path().extension().is_none_or(|e| e != "json") {
                continue;
            }
            let bytes = std::fs::read(entry.path()).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            for r in v["Records"].as_array().into_iter().flatten() {
                records += 1;
                let raw = serde_json::to_vec(r).unwrap();
                match classify_json(&raw).unwrap() {
                    Outcome::Denial(d) => denials.push(*d),
                    Outcome::AuthFailure(a) => panic!("unexpected auth failure {a:?}"),
                    _ => {}
                }
            }
        }
        assert!(records > 0);
        let principals: std::collections::BTreeSet<_> =
            denials.iter().map(|d| d.principal.as_str()).collect();
        eprintln!(
            "{records} records, {} denials, principals {principals:?}",
            denials.len()
        );
        // Verified with a separate script over the dataset: 60 records carry
        // AccessDenied / Client.UnauthorizedOperation, from 4 callers.
        assert_eq!(denials.len(), 60);
        assert_eq!(principals.len(), 4);
        assert!(principals.contains(
            "arn:aws:iam::123837392027:role/stratus-red-team-ec2-get-password-data-role"
        ));
        assert!(principals.contains("arn:aws:iam::123837392027:user/bert-jan"));
        let leave = denials
            .iter()
            .find(|d| d.action == "organizations:LeaveOrganization")
            .expect("LeaveOrganization denial");
        assert_eq!(
            leave.principal,
            "arn:aws:iam::123837392027:role/stratus-red-team-leave-org-role"
        );
        assert_eq!(leave.resource.as_deref(), Some("*"));
        assert_eq!(leave.reason.code(), "implicit-identity");
        let encoded = denials.iter().filter(|d| d.encoded).count();
        assert_eq!(encoded, 44);
        let pwd = denials
            .iter()
            .find(|d| d.action == "ec2:GetPasswordData")
            .expect("GetPasswordData");
        assert!(
            pwd.resource
                .as_deref()
                .is_some_and(|r| r.starts_with("arn:aws:ec2:us-east-1:123837392027:instance/"))
        );
        let assume = denials
            .iter()
            .filter(|d| d.action == "sts:AssumeRole")
            .count();
        assert_eq!(assume, 13);
    }
}
