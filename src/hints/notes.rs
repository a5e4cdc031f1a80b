//! The shared lines of the hints, by id: guidance that reads the same for
//! every group it applies to (who can fix a kind of denial, what a cut or
//! encoded message means, the CodeGuru Profiler and access-key specifics)
//! and each action's reference lines from the IAM data (dependent
//! actions, permissions management, documentation).
//!
//! A [`Hint`](super::Hint) names the notes that complete its text; a
//! report writes each note's text once, in its top-level `notes` table,
//! instead of in every group. [`note`] is the one place a note's text is
//! made, so the table, `explain` and the tests read the same words.
//!
//! Ids: a fixed note is a short kebab-case word ([`Note`]); an action's
//! reference lines are under the action as the IAM data spells it
//! (`iam:PassRole`). A fixed id never holds `:`, so the two never meet.

use std::borrow::Cow;

use super::text;
use crate::classify::{DenyKind, PolicyType, iam};

/// A fixed note. Its id ([`Note::id`]) is part of the JSON contract: a
/// report's `notes` table is keyed by it, and so are the hints' `notes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Note {
    /// Who fixes the principal's identity-based policies.
    WhoIdentity,
    /// Who sets a permissions boundary.
    WhoBoundary,
    /// Who owns a service control policy.
    WhoScp,
    /// Who owns a resource control policy.
    WhoRcp,
    /// Who owns a resource-based policy.
    WhoResource,
    /// Who issued a session with a session policy.
    WhoSession,
    /// Who owns a VPC endpoint policy.
    WhoVpce,
    /// Who fixes a cross-account call: both sides.
    WhoCrossAccount,
    /// Who can fix an explicit deny of a policy the message does not name.
    WhoUntypedDeny,
    /// Who can fix a cross-account `iam:PassRole` (nobody, by policy).
    WhoCrossAccountPassrole,
    /// Who decodes an encoded message, and then who fixes it.
    WhoDecode,
    /// Who has a cut encoded message whole, and then who fixes it.
    WhoDecodeCut,
    /// Who fixes each of the policies behind a bare S3 `Access Denied`.
    WhoS3,
    /// Another reason of the group's (an explicit deny, or a missing allow
    /// in a policy other than the identity's), and who fixes it.
    Also(DenyKind, Option<PolicyType>),
    /// An explicit deny wins over any allow.
    DenyStands,
    /// A guardrail also denies: the identity policy alone is not enough.
    NotSufficient,
    /// Every SCP on the path must allow.
    ScpChain,
    /// Every RCP on the path must allow.
    RcpChain,
    /// A permissions boundary caps identity policies.
    BoundaryCaps,
    /// A session policy caps the role's permissions.
    SessionCaps,
    /// Calls through a VPC endpoint need its policy's allow.
    VpceAllow,
    /// Both sides of a cross-account call through a role to assume.
    CrossAccountRole,
    /// What to do when S3 does not say why.
    S3Deniers,
    /// How to decode an encoded message, and what it tells.
    Decode,
    /// The policy to check against the decoded message.
    DecodeCheck,
    /// How to get a cut encoded message whole.
    FullEncodedMessage,
    /// A cut encoded message cannot be decoded.
    EncodedCut,
    /// Cut messages may lack the reason's details.
    Truncated,
    /// The action takes no resource: `"Resource": "*"`.
    Resourceless,
    /// The events named no resource: fill in the placeholders.
    Unnamed,
    /// The same, with `*` names to narrow.
    UnnamedStars,
    /// The events did not say which region or account.
    Placeholder,
    /// An ARN built from a name in the message.
    Built,
    /// An action not of the form `service:Action`.
    NoService,
    /// An action the IAM data does not know.
    UnknownAction,
    /// How `iam:PassedToService` limits a PassRole grant.
    PassedToService,
    /// No `iam:PassedToService` condition: no API named.
    NoPassedToServiceVia,
    /// Cross-account `iam:PassRole`: what to do instead.
    CrossAccountPassroleFix,
    /// What grants the CodeGuru Profiler agent's actions.
    ProfilerAgent,
    /// The `put-permission` command that adds a principal to a profiling
    /// group's `agentPermissions`.
    AgentPermissions,
    /// Giving a new identity CodeGuru Profiler access.
    ProfilerNewIdentity,
    /// Profiling groups and principals of other accounts.
    ProfilerOutside,
    /// An IAM user's two access keys and the once-shown secret.
    AccessKeys,
    /// The user already has two access keys.
    AccessKeysLimit,
    /// The resource for users managing their own keys.
    AccessKeysSelf,
    /// `sts:AssumeRole` also needs the role's trust.
    AssumeRoleTrust,
    /// SMS to a phone number is authorized on `*` only.
    SmsPhone,
    /// Step Functions' managed rules.
    ManagedRule,
    /// CloudWatch Logs' `CreateLogGroup` with tags.
    LogGroupTags,
}

impl Note {
    /// Every fixed note.
    pub fn all() -> Vec<Note> {
        let mut all = vec![
            Note::WhoIdentity,
            Note::WhoBoundary,
            Note::WhoScp,
            Note::WhoRcp,
            Note::WhoResource,
            Note::WhoSession,
            Note::WhoVpce,
            Note::WhoCrossAccount,
            Note::WhoUntypedDeny,
            Note::WhoCrossAccountPassrole,
            Note::WhoDecode,
            Note::WhoDecodeCut,
            Note::WhoS3,
        ];
        all.push(Note::Also(DenyKind::Explicit, None));
        for p in PolicyType::ALL {
            all.push(Note::Also(DenyKind::Explicit, Some(p)));
            if p != PolicyType::IdentityBased {
                all.push(Note::Also(DenyKind::Implicit, Some(p)));
            }
        }
        all.extend([
            Note::DenyStands,
            Note::NotSufficient,
            Note::ScpChain,
            Note::RcpChain,
            Note::BoundaryCaps,
            Note::SessionCaps,
            Note::VpceAllow,
            Note::CrossAccountRole,
            Note::S3Deniers,
            Note::Decode,
            Note::DecodeCheck,
            Note::FullEncodedMessage,
            Note::EncodedCut,
            Note::Truncated,
            Note::Resourceless,
            Note::Unnamed,
            Note::UnnamedStars,
            Note::Placeholder,
            Note::Built,
            Note::NoService,
            Note::UnknownAction,
            Note::PassedToService,
            Note::NoPassedToServiceVia,
            Note::CrossAccountPassroleFix,
            Note::ProfilerAgent,
            Note::AgentPermissions,
            Note::ProfilerNewIdentity,
            Note::ProfilerOutside,
            Note::AccessKeys,
            Note::AccessKeysLimit,
            Note::AccessKeysSelf,
            Note::AssumeRoleTrust,
            Note::SmsPhone,
            Note::ManagedRule,
            Note::LogGroupTags,
        ]);
        all
    }

    /// The note's id in a report (`who-identity`, `truncated`, …).
    pub fn id(self) -> &'static str {
        match self {
            Note::WhoIdentity => "who-identity",
            Note::WhoBoundary => "who-boundary",
            Note::WhoScp => "who-scp",
            Note::WhoRcp => "who-rcp",
            Note::WhoResource => "who-resource",
            Note::WhoSession => "who-session",
            Note::WhoVpce => "who-vpce",
            Note::WhoCrossAccount => "who-cross-account",
            Note::WhoUntypedDeny => "who-untyped-deny",
            Note::WhoCrossAccountPassrole => "who-cross-account-passrole",
            Note::WhoDecode => "who-decode",
            Note::WhoDecodeCut => "who-decode-cut",
            Note::WhoS3 => "who-s3",
            Note::Also(kind, p) => also_id(kind, p),
            Note::DenyStands => "deny-stands",
            Note::NotSufficient => "not-sufficient",
            Note::ScpChain => "scp-chain",
            Note::RcpChain => "rcp-chain",
            Note::BoundaryCaps => "boundary-caps",
            Note::SessionCaps => "session-caps",
            Note::VpceAllow => "vpce-allow",
            Note::CrossAccountRole => "cross-account-role",
            Note::S3Deniers => "s3-deniers",
            Note::Decode => "decode",
            Note::DecodeCheck => "decode-check",
            Note::FullEncodedMessage => "full-encoded-message",
            Note::EncodedCut => "encoded-cut",
            Note::Truncated => "truncated",
            Note::Resourceless => "resourceless",
            Note::Unnamed => "unnamed",
            Note::UnnamedStars => "unnamed-stars",
            Note::Placeholder => "placeholder",
            Note::Built => "built",
            Note::NoService => "no-service",
            Note::UnknownAction => "unknown-action",
            Note::PassedToService => "passed-to-service",
            Note::NoPassedToServiceVia => "no-passed-to-service-via",
            Note::CrossAccountPassroleFix => "cross-account-passrole-fix",
            Note::ProfilerAgent => "profiler-agent",
            Note::AgentPermissions => "agent-permissions",
            Note::ProfilerNewIdentity => "profiler-new-identity",
            Note::ProfilerOutside => "profiler-outside",
            Note::AccessKeys => "access-keys",
            Note::AccessKeysLimit => "access-keys-limit",
            Note::AccessKeysSelf => "access-keys-self",
            Note::AssumeRoleTrust => "assume-role-trust",
            Note::SmsPhone => "sms-phone",
            Note::ManagedRule => "managed-rule",
            Note::LogGroupTags => "log-group-tags",
        }
    }

    /// The note with id `id`.
    pub fn from_id(id: &str) -> Option<Note> {
        Note::all().into_iter().find(|n| n.id() == id)
    }

    /// The note's text: one or more lines.
    pub fn text(self) -> Cow<'static, str> {
        let who = |w: &str| Cow::Owned(format!("Who: {w}."));
        Cow::Borrowed(match self {
            Note::WhoIdentity => return who(text::WHO_IDENTITY),
            Note::WhoBoundary => return who(text::WHO_BOUNDARY),
            Note::WhoScp => return who(text::WHO_SCP),
            Note::WhoRcp => return who(text::WHO_RCP),
            Note::WhoResource => return who(text::WHO_RESOURCE),
            Note::WhoSession => return who(text::WHO_SESSION),
            Note::WhoVpce => return who(text::WHO_VPCE),
            Note::WhoCrossAccount => {
                "Who: both the principal's administrator and the resource's owner, each in their account (named above)."
            }
            Note::WhoUntypedDeny => return who(text::WHO_UNTYPED_DENY),
            Note::WhoCrossAccountPassrole => {
                "Who: whoever configures the call (the role ARN it passes); no policy in either account can allow this."
            }
            Note::WhoDecode => {
                return who(&format!(
                    "anyone in the account allowed sts:DecodeAuthorizationMessage can decode it; then {}",
                    text::WHO_IDENTITY
                ));
            }
            Note::WhoDecodeCut => {
                return who(&format!(
                    "whoever made the call has the whole message; then {}",
                    text::WHO_IDENTITY
                ));
            }
            Note::Also(kind, p) => {
                return Cow::Owned(format!(
                    "Also: {} (see the reasons); who: {}.",
                    text::describe(kind, p),
                    match (kind, p) {
                        (DenyKind::Explicit, None) => text::WHO_UNTYPED_DENY,
                        _ => text::who_words(p),
                    }
                ));
            }
            Note::WhoS3 => {
                "Who: the administrator of the principal's identity-based policies for the first; the bucket's owner for its bucket policy, ACLs, Object Ownership and Block Public Access; the KMS key's owner for its key policy; the AWS Organizations administrator for SCPs and RCPs; the VPC endpoint's owner for its policy."
            }
            Note::DenyStands => {
                "An explicit deny wins over every allow: adding an allow will not help while it stands, in an identity-based policy or anywhere else."
            }
            Note::NotSufficient => {
                "The policy below is what the identity side also needs, but it is not sufficient on its own."
            }
            Note::ScpChain => {
                "Every SCP from the organization root down to the account must allow it, so an identity-policy change alone will not help."
            }
            Note::RcpChain => {
                "Every RCP from the organization root down to the resource's account must allow it, so an identity-policy change alone will not help."
            }
            Note::BoundaryCaps => {
                "The permissions boundary caps what identity policies grant, so an identity-policy change alone will not help."
            }
            Note::SessionCaps => {
                "A session policy caps the role's permissions, so an identity-policy change alone will not help."
            }
            Note::VpceAllow => {
                "Calls through a VPC endpoint need its policy's allow too, so an identity-policy change alone will not help."
            }
            Note::CrossAccountRole => {
                "Both sides must allow it: that role's trust policy trusts the caller, and the caller's identity-based policy allows sts:AssumeRole on the role. The policy below goes on that role."
            }
            Note::S3Deniers => {
                return Cow::Owned(format!(
                    "That answer does not say which policy denied it. If the principal's identity-based policy lacks it, allow it (the policy below); if it has it, one of these denies it: {}",
                    text::S3_DENIERS
                ));
            }
            Note::Decode => {
                return Cow::Owned(format!(
                    "Decode an encoded message with `{}` (the caller needs sts:DecodeAuthorizationMessage); it names the denying policy and the request context.",
                    text::DECODE_COMMAND
                ));
            }
            Note::DecodeCheck => {
                "The policy below is the identity side's allow, to check against the decoded message."
            }
            Note::FullEncodedMessage => text::FULL_ENCODED_MESSAGE,
            Note::EncodedCut => {
                return Cow::Owned(format!(
                    "Note: the encoded message was cut (it ends in ...), so it cannot be decoded. {}",
                    text::FULL_ENCODED_MESSAGE
                ));
            }
            Note::Truncated => {
                "A message cut at CloudTrail's 1024 characters may lack the policy type, policy ARN or resource, so the reasons above may be incomplete."
            }
            Note::Resourceless => {
                "Note: the action takes no resource, so \"Resource\": \"*\" is least privilege."
            }
            Note::Unnamed => {
                "Note: the events name no resource; fill in the <PLACEHOLDERS> in the policy (its ARNs follow the action's formats in the Service Authorization Reference)."
            }
            Note::UnnamedStars => {
                "Note: the events name no resource; fill in the <PLACEHOLDERS> and narrow the * in the policy (its ARNs follow the action's formats in the Service Authorization Reference)."
            }
            Note::Placeholder => {
                "Note: the events did not say which region or account: the policy has * there (and <PLACEHOLDERS> for names); narrow them."
            }
            Note::Built => {
                "Note: the policy's ARN was built from the name in the message (the resource listed) with the events' region and account; check it."
            }
            Note::NoService => {
                "Note: the action is not of the form service:Action, so no policy is offered."
            }
            Note::UnknownAction => {
                return Cow::Owned(format!(
                    "Note: the IAM data ({}) has no such action: check its name and service prefix; no policy is offered for an action that does not exist.",
                    iam::source()
                ));
            }
            Note::PassedToService => {
                "The policy's iam:PassedToService condition limits the grant to the service the calling API hands the role to; that role's trust policy must trust it too."
            }
            Note::NoPassedToServiceVia => {
                "No iam:PassedToService condition: the events do not say which API passed the role (no via), so the receiving service is unknown; add one once known (the principal of the service that receives the role, such as ecs-tasks.amazonaws.com for ECS tasks or ec2.amazonaws.com for an instance profile), to keep the grant least-privilege."
            }
            Note::CrossAccountPassroleFix => {
                "Fix: use a role of the principal's own account whose trust policy trusts the receiving service, or make the call from the role's account."
            }
            Note::ProfilerAgent => {
                "For the agent: the managed policy AmazonCodeGuruProfilerAgentAccess, or the profiling group's agentPermissions, grants this on the identity or resource side."
            }
            Note::AgentPermissions => {
                "agentPermissions: aws codeguruprofiler put-permission --profiling-group-name <PROFILING_GROUP_NAME> --action-group agentPermissions --principals <PRINCIPAL_ARN> (the profiling group of the resource above and the principal's ARN; add --revision-id if the group has a policy)."
            }
            Note::ProfilerNewIdentity => text::PROFILER_NEW_IDENTITY,
            Note::ProfilerOutside => text::PROFILER_OUTSIDE,
            Note::AccessKeys => text::ACCESS_KEYS_NOTE,
            Note::AccessKeysLimit => {
                "The user already has two access keys: delete an unused one before creating another."
            }
            Note::AccessKeysSelf => text::ACCESS_KEYS_SELF,
            Note::AssumeRoleTrust => "Note: the role's trust policy must also trust the principal.",
            Note::SmsPhone => {
                "Note: sns:Publish to a phone number (SMS) is authorized on \"Resource\": \"*\" only; restrict it with a condition (e.g. on aws:RequestedRegion) if needed."
            }
            Note::ManagedRule => text::MANAGED_RULE_NOTE,
            Note::LogGroupTags => {
                "Note: creating a log group with tags needs logs:TagResource as well as logs:CreateLogGroup (CloudWatch Logs checks both)."
            }
        })
    }
}

/// `also-` and the reason's code (`also-explicit-scp`).
fn also_id(kind: DenyKind, p: Option<PolicyType>) -> &'static str {
    use PolicyType as P;
    match (kind, p) {
        (DenyKind::Explicit, None) => "also-explicit",
        (DenyKind::Explicit, Some(P::IdentityBased)) => "also-explicit-identity",
        (DenyKind::Explicit, Some(P::ResourceBased)) => "also-explicit-resource",
        (DenyKind::Explicit, Some(P::PermissionsBoundary)) => "also-explicit-boundary",
        (DenyKind::Explicit, Some(P::SessionPolicy)) => "also-explicit-session",
        (DenyKind::Explicit, Some(P::ServiceControlPolicy)) => "also-explicit-scp",
        (DenyKind::Explicit, Some(P::ResourceControlPolicy)) => "also-explicit-rcp",
        (DenyKind::Explicit, Some(P::VpcEndpointPolicy)) => "also-explicit-vpce",
        (_, Some(P::ResourceBased)) => "also-implicit-resource",
        (_, Some(P::PermissionsBoundary)) => "also-implicit-boundary",
        (_, Some(P::SessionPolicy)) => "also-implicit-session",
        (_, Some(P::ServiceControlPolicy)) => "also-implicit-scp",
        (_, Some(P::ResourceControlPolicy)) => "also-implicit-rcp",
        (_, Some(P::VpcEndpointPolicy)) => "also-implicit-vpce",
        // No `Also:` for these (the identity side's own reasons): the
        // note says what the reason is all the same.
        (_, Some(P::IdentityBased)) => "also-implicit-identity",
        (_, None) => "also-implicit",
    }
}

/// The text of the note `id`: a fixed [`Note`], or an action's reference
/// lines (`iam:PassRole`, spelt as the IAM data spells it); `None` for an
/// id that is neither.
///
/// ```
/// use denytrail::hints::note;
/// assert!(note("who-identity").unwrap().starts_with("Who: "));
/// assert!(note("iam:PassRole").unwrap().contains("Docs: iam:PassRole: https://"));
/// assert!(note("IAM:passrole").is_none()); // the data's spelling only
/// assert!(note("no-such-note").is_none());
/// ```
pub fn note(id: &str) -> Option<Cow<'static, str>> {
    if let Some(n) = Note::from_id(id) {
        return Some(n.text());
    }
    let a = iam::action(id)?;
    (a.to_string() == id).then(|| Cow::Owned(action_lines(a, true).join("\n")))
}

/// An action's reference lines: its dependent actions (when
/// `with_dependents`), a warning for a permissions-management action, its
/// documentation.
pub(crate) fn action_lines(a: iam::Action, with_dependents: bool) -> Vec<String> {
    let mut lines = Vec::new();
    let deps: Vec<&str> = a.dependent_actions().collect();
    if with_dependents && !deps.is_empty() {
        lines.push(dependents_line(a, &deps));
    }
    if a.access_level() == "Permissions management" && !a.to_string().eq("iam:PassRole") {
        lines.push(format!(
            "Note: {a} is a permissions-management action: whoever holds it can change who may do what on the resource (and so grant itself more), so grant it only to the resource's administrators."
        ));
    }
    let doc = a.doc_url().map(|u| format!("{u}; ")).unwrap_or_default();
    lines.push(format!("Docs: {a}: {doc}{}", a.service().reference_url));
    lines
}

/// `Depending on the request, A also needs: B, C (…).`
pub(crate) fn dependents_line(a: iam::Action, deps: &[&str]) -> String {
    format!(
        "Depending on the request, {a} also needs: {} (Service Authorization Reference).",
        deps.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_never_an_action() {
        let all = Note::all();
        for (i, n) in all.iter().enumerate() {
            assert!(!n.id().contains(':'), "{}", n.id());
            assert!(
                n.id()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{}",
                n.id()
            );
            assert!(all[i + 1..].iter().all(|o| o.id() != n.id()));
            assert_eq!(Note::from_id(n.id()), Some(*n));
            assert!(!n.text().trim().is_empty(), "{}", n.id());
            assert_eq!(note(n.id()).as_deref(), Some(&*n.text()));
        }
    }

    #[test]
    fn also_notes_are_named_by_their_reason() {
        for n in Note::all() {
            if let Note::Also(kind, policy_type) = n {
                let r = crate::classify::Reason {
                    kind,
                    policy_type,
                    policy_arn: None,
                };
                assert_eq!(n.id(), format!("also-{}", r.code()));
                assert!(n.text().starts_with("Also: "), "{}", n.text());
            }
        }
    }

    #[test]
    fn actions_have_their_reference_lines() {
        let t = note("ec2:RunInstances").unwrap();
        assert!(
            t.contains("also needs: ") && t.contains("iam:PassRole"),
            "{t}"
        );
        assert!(
            t.lines()
                .last()
                .unwrap()
                .starts_with("Docs: ec2:RunInstances: ")
        );
        let t = note("iam:PutRolePolicy").unwrap();
        assert!(t.contains("permissions-management action"), "{t}");
        assert!(
            !note("iam:PassRole")
                .unwrap()
                .contains("permissions-management")
        );
        assert!(note("ec2:NoSuchAction").is_none());
    }
}
