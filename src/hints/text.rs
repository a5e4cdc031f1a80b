//! The words of the hints: who can fix a denial, how a reason reads, and
//! the fixed guidance lines (decoding, truncation, access keys, CodeGuru
//! Profiler). Terminal-friendly: plain ASCII punctuation, one idea a line.

use crate::classify::{DenyKind, PolicyType, Reason};

/// The command that decodes an encoded authorization failure message.
pub(crate) const DECODE_COMMAND: &str = "aws sts decode-authorization-message --encoded-message <msg> --query DecodedMessage --output text | jq .";

/// Who can fix a denial decided by `policy_type`.
///
/// `principal` is the denied principal, `policy_arn` the denying policy when
/// the message names it, `sessions` / `endpoints` what the events saw.
pub(crate) fn who(
    policy_type: Option<PolicyType>,
    policy_arn: Option<&str>,
    principal: &str,
    principal_account: Option<&str>,
    sessions: &[String],
    endpoints: &[String],
) -> String {
    let arn = policy_arn.map(|a| format!(" ({a})")).unwrap_or_default();
    match policy_type {
        None | Some(PolicyType::IdentityBased) => format!(
            "the administrator of {principal}'s identity-based policies{}; if that is not you, ask them, naming the action and resource",
            principal_account
                .map(|a| format!(" in account {a}"))
                .unwrap_or_default()
        ),
        Some(PolicyType::PermissionsBoundary) => format!(
            "whoever sets {principal}'s permissions boundary{arn} (iam:PutRolePermissionsBoundary / iam:PutUserPermissionsBoundary), often a platform or security team rather than the principal's own administrator"
        ),
        Some(PolicyType::ServiceControlPolicy) => format!(
            "the AWS Organizations administrator (management account or delegated administrator), who owns the service control policy{arn}"
        ),
        Some(PolicyType::ResourceControlPolicy) => format!(
            "the AWS Organizations administrator (management account or delegated administrator), who owns the resource control policy{arn}"
        ),
        Some(PolicyType::SessionPolicy) => format!(
            "the session's issuer: whoever called sts:AssumeRole / AssumeRoleWithSAML / AssumeRoleWithWebIdentity / GetFederationToken with the Policy or PolicyArns session policy{arn}{}; a new session is needed after the fix",
            if sessions.is_empty() {
                String::new()
            } else {
                format!(" (sessions: {})", list(sessions, 2))
            }
        ),
        Some(PolicyType::ResourceBased) => format!(
            "the resource's owner, in its resource-based policy{arn} (bucket policy, key policy, role trust policy, profiling group policy, ...)"
        ),
        Some(PolicyType::VpcEndpointPolicy) => format!(
            "the owner of the VPC endpoint {}, in its endpoint policy{arn}",
            if endpoints.is_empty() {
                "the call went through".to_string()
            } else {
                list(endpoints, 3)
            }
        ),
    }
}

/// A reason in words: `explicit deny in a service control policy (arn)`.
pub(crate) fn describe(r: &Reason) -> String {
    let arn = r
        .policy_arn
        .as_deref()
        .map(|a| format!(" ({a})"))
        .unwrap_or_default();
    match (r.kind, r.policy_type) {
        (DenyKind::Explicit, Some(p)) => format!("explicit deny in a {}{arn}", p.phrase()),
        (DenyKind::Explicit, None) => {
            format!("explicit deny in a policy the message does not name{arn}")
        }
        (DenyKind::Implicit, Some(p)) => format!("no {} allows it{arn}", p.phrase()),
        (DenyKind::Implicit, None) => "no policy allows it".to_string(),
        (DenyKind::Unknown, _) => "the message does not say why".to_string(),
    }
}

/// Up to `max` items joined by `, `, then `and N more`.
pub(crate) fn list(items: &[String], max: usize) -> String {
    let shown: Vec<&str> = items.iter().take(max).map(String::as_str).collect();
    let mut s = shown.join(", ");
    if items.len() > max {
        s.push_str(&format!(" and {} more", items.len() - max));
    }
    s
}

/// `1 message was` / `3 messages were`.
pub(crate) fn messages(n: u64) -> String {
    if n == 1 {
        "1 message was".to_string()
    } else {
        format!("{n} messages were")
    }
}

/// How to get an encoded message that was cut, whole.
pub(crate) const FULL_ENCODED_MESSAGE: &str = "Get the whole message from the caller's own error output (the SDK, CLI, console or Terraform print it in full; CloudTrail cuts errorMessage at 1024 characters), or repeat the call with --dry-run (EC2 then checks the permissions and answers with the full message without acting), and decode that one with `aws sts decode-authorization-message`.";

/// Who can fix an explicit deny whose policy type the message does not name.
pub(crate) const WHO_UNTYPED_DENY: &str = "whoever owns the denying policy, which the message does not name: an SCP or RCP (the AWS Organizations administrator), a permissions boundary or session policy (whoever sets them), a resource-based or VPC endpoint policy (the resource's or endpoint's owner), or an identity-based policy of the principal (its administrator); the decoded message, or CloudTrail's record of the call, tells which";

/// Which policies can make S3 answer a bare `Access Denied`.
pub(crate) const S3_DENIERS: &str = "the bucket policy (an explicit Deny, or no Allow for a caller of another account); the object's ACL or the bucket's Object Ownership setting (objects another account uploaded); the KMS key policy of an SSE-KMS object (kms:Decrypt / kms:GenerateDataKey); S3 Block Public Access; an SCP or RCP of the organization; a VPC endpoint policy when the call goes through an endpoint.";

/// Step Functions' managed rules.
pub(crate) const MANAGED_RULE_NOTE: &str = "Step Functions creates an EventBridge managed rule for .sync and .waitForTaskToken integrations: the state machine's role needs events:PutTargets, events:PutRule and events:DescribeRule on arn:aws:events:<REGION>:<ACCOUNT>:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule (or the rule of the integrated service).";

/// The note on encoded messages.
pub(crate) fn encoded_note(n: u64) -> String {
    format!(
        "Note: {} encoded; decode one with `{DECODE_COMMAND}` (the caller needs sts:DecodeAuthorizationMessage); it names the denying policy and the request context.",
        messages(n)
    )
}

/// The note on messages cut at CloudTrail's limit.
pub(crate) fn truncated_note(n: u64) -> String {
    format!(
        "Note: {} cut by CloudTrail at 1024 characters: the policy type, policy ARN or resource may be missing, so the reasons above may be incomplete.",
        messages(n)
    )
}

/// The access-key guidance (IAM user limits and the once-only secret).
pub(crate) const ACCESS_KEYS_NOTE: &str = "Note: an IAM user can have at most two access keys, and the secret access key is shown only once, when the key is created. If it is lost, create a new key, switch to it, then deactivate the old one (aws iam update-access-key --status Inactive) and delete it.";

/// For users who manage their own keys.
pub(crate) const ACCESS_KEYS_SELF: &str = "For users managing their own keys, the resource can be arn:aws:iam::<ACCOUNT>:user/${aws:username}.";

/// Delegating CodeGuru Profiler access to a new identity.
pub(crate) const PROFILER_NEW_IDENTITY: &str = "To give a new user or role CodeGuru Profiler access, create the identity and attach this policy (or the managed AmazonCodeGuruProfilerReadOnlyAccess / AmazonCodeGuruProfilerFullAccess).";

/// Cross-account access to CodeGuru Profiler resources.
pub(crate) const PROFILER_OUTSIDE: &str = "CodeGuru Profiler: to let principals outside the account use a profiling group, the owner grants agentPermissions in the group's resource-based policy (PutPermission), or creates a role they can assume for anything else.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        let v: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        assert_eq!(list(&v, 3), "a, b, c and 1 more");
        assert_eq!(list(&v[..1], 3), "a");
        assert_eq!(list(&[], 3), "");
    }

    #[test]
    fn who_names_the_owner() {
        let s = who(
            Some(PolicyType::ServiceControlPolicy),
            Some("arn:aws:organizations::1:policy/o-x/service_control_policy/p-1"),
            "p",
            None,
            &[],
            &[],
        );
        assert!(s.contains("Organizations administrator") && s.contains("p-1"));
        let s = who(
            Some(PolicyType::VpcEndpointPolicy),
            None,
            "p",
            None,
            &[],
            &["vpce-1".into()],
        );
        assert!(s.contains("vpce-1"));
    }
}
