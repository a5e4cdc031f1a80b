//! The words of the hints: who can fix a denial, how a reason reads, and
//! the fixed guidance lines (decoding, truncation, access keys, CodeGuru
//! Profiler). Terminal-friendly: plain ASCII punctuation, one idea a line.

use super::notes::Note;
use crate::classify::{DenyKind, PolicyType};

/// The command that decodes an encoded authorization failure message.
pub(crate) const DECODE_COMMAND: &str = "aws sts decode-authorization-message --encoded-message <msg> --query DecodedMessage --output text | jq .";

/// Who fixes the principal's identity-based policies.
pub(crate) const WHO_IDENTITY: &str = "the administrator of the principal's identity-based policies, in its account; if that is not you, ask them, naming the action and resource";

/// Who sets a permissions boundary.
pub(crate) const WHO_BOUNDARY: &str = "whoever sets the principal's permissions boundary (iam:PutRolePermissionsBoundary / iam:PutUserPermissionsBoundary), often a platform or security team rather than the principal's own administrator";

/// Who owns a service control policy.
pub(crate) const WHO_SCP: &str = "the AWS Organizations administrator (management account or delegated administrator), who owns the service control policy";

/// Who owns a resource control policy.
pub(crate) const WHO_RCP: &str = "the AWS Organizations administrator (management account or delegated administrator), who owns the resource control policy";

/// Who owns a resource-based policy.
pub(crate) const WHO_RESOURCE: &str = "the resource's owner, in its resource-based policy (bucket policy, key policy, role trust policy, profiling group policy, ...)";

/// Who fixes a session policy.
pub(crate) const WHO_SESSION: &str = "the session's issuer: whoever called sts:AssumeRole / AssumeRoleWithSAML / AssumeRoleWithWebIdentity / GetFederationToken with the Policy or PolicyArns session policy; a new session is needed after the fix";

/// Who fixes a VPC endpoint policy.
pub(crate) const WHO_VPCE: &str =
    "the owner of the VPC endpoint the calls went through, in its endpoint policy";

/// Who can fix a denial decided by `policy_type`: the note that says it.
/// The denying policy's ARN, the sessions and the endpoints are named by
/// the line that names the reason (the headline), not here.
pub(crate) fn who(policy_type: Option<PolicyType>) -> Note {
    match policy_type {
        None | Some(PolicyType::IdentityBased) => Note::WhoIdentity,
        Some(PolicyType::PermissionsBoundary) => Note::WhoBoundary,
        Some(PolicyType::ServiceControlPolicy) => Note::WhoScp,
        Some(PolicyType::ResourceControlPolicy) => Note::WhoRcp,
        Some(PolicyType::ResourceBased) => Note::WhoResource,
        Some(PolicyType::SessionPolicy) => Note::WhoSession,
        Some(PolicyType::VpcEndpointPolicy) => Note::WhoVpce,
    }
}

/// The words of a `who-…` note, as they follow `who: `.
pub(crate) fn who_words(policy_type: Option<PolicyType>) -> &'static str {
    match policy_type {
        None | Some(PolicyType::IdentityBased) => WHO_IDENTITY,
        Some(PolicyType::PermissionsBoundary) => WHO_BOUNDARY,
        Some(PolicyType::ServiceControlPolicy) => WHO_SCP,
        Some(PolicyType::ResourceControlPolicy) => WHO_RCP,
        Some(PolicyType::ResourceBased) => WHO_RESOURCE,
        Some(PolicyType::SessionPolicy) => WHO_SESSION,
        Some(PolicyType::VpcEndpointPolicy) => WHO_VPCE,
    }
}

/// A reason in words, without its policy's ARN: `explicit deny in a
/// service control policy`.
pub(crate) fn describe(kind: DenyKind, policy_type: Option<PolicyType>) -> String {
    match (kind, policy_type) {
        (DenyKind::Explicit, Some(p)) => format!("explicit deny in a {}", p.phrase()),
        (DenyKind::Explicit, None) => {
            "explicit deny in a policy the message does not name".to_string()
        }
        (DenyKind::Implicit, Some(p)) => format!("no {} allows it", p.phrase()),
        (DenyKind::Implicit, None) => "no policy allows it".to_string(),
        (DenyKind::Unknown, _) => "the message does not say why".to_string(),
    }
}

/// Up to `max` items joined by `, `, then `and N more`.
pub(crate) fn list<S: AsRef<str>>(items: &[S], max: usize) -> String {
    let shown: Vec<&str> = items.iter().take(max).map(AsRef::as_ref).collect();
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
        assert_eq!(list::<&str>(&[], 3), "");
    }

    #[test]
    fn who_names_the_owner() {
        assert_eq!(who(Some(PolicyType::ServiceControlPolicy)), Note::WhoScp);
        assert_eq!(who(None), Note::WhoIdentity);
        for p in PolicyType::ALL {
            let note = who(Some(p)).text();
            assert_eq!(note, format!("Who: {}.", who_words(Some(p))));
        }
    }
}
