//! Decide the hint for one group: which codes apply and which comes first,
//! the identity-side policy, the resource-side policy for cross-account
//! access, and the text that ties them together.
//!
//! Ranking, most severe first: cross-account `iam:PassRole` (never works) >
//! explicit deny > missing allow in a guardrail (boundary, SCP, RCP, session,
//! VPC endpoint) > cross-account > missing allow in a resource-based policy >
//! identity-side allow. An encoded message is the main code only when no
//! reason is known.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::arn::{Arn, Fill, is_account_id};
use super::policy::{self, Resolved};
use super::tables::{self, OwnerSide};
use super::text;
use super::{Hint, HintCode};
use crate::aggregate::Group;
use crate::classify::{self, Denial, DenyKind, Outcome, PolicyType, Reason, RecordKind};

/// The hint for a group: what to allow, who can fix it, what will not help.
///
/// Pure; never panics.
///
/// ```
/// use denytrail::aggregate::Group;
/// use denytrail::classify::{Denial, DenyKind, PolicyType, PrincipalKind, Reason};
/// use denytrail::hints::{HintCode, hint_for};
///
/// let d = Denial {
///     principal: "arn:aws:iam::111122223333:role/app".into(),
///     principal_kind: PrincipalKind::Role,
///     principal_account: Some("111122223333".into()),
///     session: None,
///     action: "iam:ListRoles".into(),
///     via: None, passes: None,
///     resource: None,
///     reason: Reason { kind: DenyKind::Implicit, policy_type: Some(PolicyType::IdentityBased), policy_arn: None },
///     account: Some("111122223333".into()),
///     region: Some("us-east-1".into()),
///     event_time: None, event_id: None, shared_event_id: None, vpc_endpoint_id: None,
///     error_code: Some("AccessDenied".into()), event_source: None,
///     encoded: false, truncated: false, message: String::new(),
/// };
/// let mut g = Group::new(&d);
/// g.add(&d);
/// let h = hint_for(&g);
/// assert_eq!(h.code, HintCode::AllowAction);
/// assert_eq!(h.policy["Statement"][0]["Resource"], "*");
/// ```
pub fn hint_for(group: &Group) -> Hint {
    let facts = Facts::of(group);
    let ranked = rank(&facts);
    let code = ranked.first().map_or(HintCode::AllowAction, |(_, c, _)| *c);
    let main_reason = ranked.first().and_then(|(_, _, r)| r.clone());
    let codes = distinct(ranked.iter().map(|(_, c, _)| *c));
    let policy = identity_policy(&facts);
    let resource_policy = resource_policy(&facts, code);
    let mut text = compose(&facts, code, main_reason.as_ref(), &resource_policy);
    if group.principal() == crate::aggregate::FOLDED_PRINCIPAL {
        // The sidecar folds principals past its series cap into one group:
        // its hint speaks of many principals, not of one called __other__.
        text = format!(
            "Several principals (folded into {folded} past --max-series) were denied {action}; \
             each needs the allow below in its own identity-based policy. \
             Run `denytrail replay` on the same logs for one group per principal.\n{text}",
            action = group.action(),
            folded = crate::aggregate::FOLDED_PRINCIPAL
        );
    }
    Hint {
        code,
        codes,
        text,
        policy,
        resource_policy,
    }
}

/// The hint for a single denial, as `denytrail explain` shows it.
///
/// ```
/// use denytrail::classify::{Denial, DenyKind, PrincipalKind, Reason};
/// use denytrail::hints::{HintCode, explain_denial};
///
/// let d = Denial {
///     principal: "arn:aws:iam::111122223333:role/app".into(),
///     principal_kind: PrincipalKind::Role,
///     principal_account: Some("111122223333".into()),
///     session: None,
///     action: "iam:PassRole".into(),
///     via: Some("lambda:CreateFunction".into()), passes: None,
///     resource: Some("arn:aws:iam::111122223333:role/fn".into()),
///     reason: Reason::UNKNOWN,
///     account: None, region: None, event_time: None, event_id: None,
///     shared_event_id: None, vpc_endpoint_id: None, error_code: None,
///     event_source: None, encoded: false, truncated: false, message: String::new(),
/// };
/// let h = explain_denial(&d);
/// assert_eq!(h.code, HintCode::AllowPassrole);
/// assert_eq!(
///     h.policy["Statement"][0]["Condition"]["StringEquals"]["iam:PassedToService"],
///     "lambda.amazonaws.com"
/// );
/// ```
pub fn explain_denial(d: &Denial) -> Hint {
    let mut g = Group::new(d);
    g.add(d);
    hint_for(&g)
}

/// The hint for a pasted error message or CloudTrail record, as `denytrail
/// explain` takes it: a JSON object is read as one CloudTrail record, anything
/// else as an SDK / CLI error line. `None` when it is not an authorization
/// denial.
pub fn explain_message(message: &str) -> Option<Hint> {
    let m = message.trim();
    let kind = if m.starts_with('{') {
        RecordKind::CloudTrailJson
    } else {
        RecordKind::Text
    };
    let denial = |kind| match classify::classify(m.as_bytes(), kind) {
        Ok(Outcome::Denial(d)) => Some(explain_denial(&d)),
        _ => None,
    };
    // A JSON-looking line that is not a denial record may still be a message.
    denial(kind).or_else(|| {
        (kind == RecordKind::CloudTrailJson)
            .then(|| denial(RecordKind::Text))
            .flatten()
    })
}

/// What the hint is built from, worked out once.
struct Facts<'g> {
    g: &'g Group,
    principal_account: Option<String>,
    partition: String,
    /// The action's service, when the action is `service:Name`.
    service: Option<&'g str>,
    passrole: bool,
    /// The messages named no action but the requests passed a role or
    /// instance profile ([`Group::passes`]): iam:PassRole is the usual cause.
    passes: bool,
    /// An account that could not be compared: the principal's or a
    /// resource's, masked or cut in the message (`***`, 10 digits).
    unknown_account: Option<String>,
    resolved: Resolved,
    /// ARNs from the events that live in another account than the principal.
    cross: Vec<String>,
    /// Their accounts.
    cross_accounts: Vec<String>,
    /// Reasons, most frequent first.
    reasons: Vec<(Reason, u64)>,
}

impl<'g> Facts<'g> {
    fn of(g: &'g Group) -> Facts<'g> {
        let principal_arn = Arn::parse(g.principal());
        let written_account = g
            .principal_account()
            .map(str::to_string)
            .filter(|a| !a.is_empty())
            .or_else(|| principal_arn.and_then(|a| a.account()).map(str::to_string))
            .or_else(|| g.principal().strip_prefix("account:").map(str::to_string));
        // Only a 12-digit account is an account: masked or cut ones are
        // never compared.
        let principal_account = written_account.clone().filter(|a| is_account_id(a));
        let mut unknown_account = written_account.filter(|a| !is_account_id(a));
        let partition = principal_arn
            .map(|a| a.partition)
            .or_else(|| {
                g.resources()
                    .keys()
                    .find_map(Arn::parse)
                    .map(|a| a.partition)
            })
            .unwrap_or("aws")
            .to_string();
        let fill = Fill {
            partition: partition.clone(),
            region: g.regions().single().map(str::to_string),
            account: principal_account.clone().or_else(|| {
                g.accounts()
                    .single()
                    .map(str::to_string)
                    .filter(|a| is_account_id(a))
            }),
        };
        let service = tables::split_action(g.action()).map(|(s, _)| s);
        let resolved = if service.is_some() {
            policy::resolve(
                g.action(),
                g.resources().keys(),
                &fill,
                g.via().iter().next(),
            )
        } else {
            Resolved::default()
        };
        let mut cross = Vec::new();
        let mut cross_accounts = BTreeSet::new();
        for r in g.resources().keys() {
            let Some(a) = Arn::parse(r).and_then(|a| a.account()) else {
                continue;
            };
            // `aws` owns managed policies: not another customer's account.
            if a == "aws" || a == "*" {
                continue;
            }
            if !is_account_id(a) {
                unknown_account.get_or_insert_with(|| a.to_string());
                continue;
            }
            if let Some(pa) = principal_account.as_deref()
                && a != pa
            {
                cross.push(r.to_string());
                cross_accounts.insert(a.to_string());
            }
        }
        let mut reasons: Vec<(Reason, u64)> = g.reasons().reasons().collect();
        let severity = |r: &Reason| reason_code(r).map_or(0, |(rank, _)| rank);
        reasons.sort_by(|a, b| {
            b.1.cmp(&a.1)
                .then_with(|| severity(&b.0).cmp(&severity(&a.0)))
                .then_with(|| a.0.cmp(&b.0))
        });
        Facts {
            g,
            principal_account,
            partition,
            service,
            passrole: g.action().eq_ignore_ascii_case("iam:PassRole"),
            passes: !g.passes().is_empty() && !g.action().eq_ignore_ascii_case("iam:PassRole"),
            unknown_account,
            resolved,
            cross,
            cross_accounts: cross_accounts.into_iter().collect(),
            reasons,
        }
    }

    /// The identity-side code for this action.
    fn identity_code(&self) -> HintCode {
        let a = self.g.action();
        if self.passrole {
            HintCode::AllowPassrole
        } else if tables::is_profiler_agent_action(a) {
            HintCode::ProfilerAgent
        } else if self.is_access_keys() {
            HintCode::AccessKeys
        } else {
            HintCode::AllowAction
        }
    }

    fn is_access_keys(&self) -> bool {
        tables::split_action(self.g.action()).is_some_and(|(s, a)| {
            s.eq_ignore_ascii_case("iam")
                && tables::ACCESS_KEY_ACTIONS
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(a))
        })
    }

    /// The roles the requests passed ([`Group::passes`]) as role ARNs: a
    /// role as it is, an instance profile's role as a placeholder in the
    /// profile's account.
    fn passed_roles(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .g
            .passes()
            .iter()
            .map(|p| match Arn::parse(p) {
                Some(a) if a.resource.starts_with("role/") && is_account_id(a.account) => {
                    p.to_string()
                }
                Some(a) if is_account_id(a.account) => format!(
                    "arn:{}:iam::{}:role/<ROLE_NAME_WITH_PATH>",
                    a.partition, a.account
                ),
                _ => format!(
                    "arn:{}:iam::{}:role/<ROLE_NAME_WITH_PATH>",
                    self.partition,
                    self.principal_account.as_deref().unwrap_or("*")
                ),
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The instance profiles the requests passed, by name.
    fn passed_profiles(&self) -> Vec<String> {
        self.g
            .passes()
            .iter()
            .filter_map(|p| {
                p.split_once(":instance-profile/")
                    .map(|(_, n)| n.to_string())
            })
            .collect()
    }

    /// Every encoded message of the group was cut.
    fn all_encoded_cut(&self) -> bool {
        self.g.encoded > 0 && self.g.truncated >= self.g.encoded
    }

    /// An S3 denial whose messages say nothing of why (`Access Denied`).
    fn s3_unexplained(&self) -> bool {
        self.service.is_some_and(|s| s.eq_ignore_ascii_case("s3"))
            && self.g.encoded == 0
            && self
                .reasons
                .iter()
                .all(|(r, _)| r.kind == DenyKind::Unknown)
    }

    /// What the requests passed, in words: `instance profile web`, `role X`.
    fn passes_words(&self) -> String {
        let profiles = self.passed_profiles();
        if !profiles.is_empty() {
            return format!(
                "instance profile {} (find its role with `aws iam get-instance-profile --instance-profile-name {} --query 'InstanceProfile.Roles[].Arn'`)",
                text::list(&profiles, 3),
                profiles[0]
            );
        }
        format!("role {}", text::list(&self.passed_roles(), 3))
    }

    /// Roles the principal may pass: those not in another account.
    fn passable_roles(&self) -> Vec<String> {
        self.resolved
            .arns
            .iter()
            .filter(|a| !self.cross.contains(a))
            .cloned()
            .collect()
    }

    /// Where the resources are, for the text: the ARNs, or `*`.
    fn target(&self) -> String {
        if self.resolved.resourceless {
            format!(
                "{} (it takes no resource: \"Resource\": \"*\")",
                self.g.action()
            )
        } else if self.resolved.arns.is_empty() {
            self.g.action().to_string()
        } else {
            format!(
                "{} on {}",
                self.g.action(),
                text::list(&self.resolved.arns, 3)
            )
        }
    }

    fn who(&self, r: Option<&Reason>) -> String {
        let sessions: Vec<String> = self.g.sessions().iter().map(str::to_string).collect();
        let endpoints: Vec<String> = self.g.vpc_endpoints().iter().map(str::to_string).collect();
        text::who(
            r.and_then(|r| r.policy_type),
            r.and_then(|r| r.policy_arn.as_deref()),
            self.g.principal(),
            self.principal_account.as_deref(),
            &sessions,
            &endpoints,
        )
    }
}

/// The one value of a set with exactly one.
fn distinct(codes: impl Iterator<Item = HintCode>) -> Vec<HintCode> {
    let mut out: Vec<HintCode> = Vec::new();
    for c in codes {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// The code a reason calls for, with its rank; `None` for reasons the
/// identity side fixes (or that say nothing).
fn reason_code(r: &Reason) -> Option<(u8, HintCode)> {
    use PolicyType as P;
    match (r.kind, r.policy_type) {
        (DenyKind::Explicit, p) => Some(match p {
            Some(P::ServiceControlPolicy) => (87, HintCode::ExplicitDenyScp),
            Some(P::ResourceControlPolicy) => (86, HintCode::ExplicitDenyRcp),
            Some(P::PermissionsBoundary) => (85, HintCode::ExplicitDenyBoundary),
            Some(P::SessionPolicy) => (84, HintCode::ExplicitDenySession),
            Some(P::VpcEndpointPolicy) => (83, HintCode::ExplicitDenyVpce),
            Some(P::ResourceBased) => (82, HintCode::ExplicitDenyResource),
            Some(P::IdentityBased) => (81, HintCode::ExplicitDenyIdentity),
            None => (80, HintCode::ExplicitDeny),
        }),
        (DenyKind::Implicit, Some(p)) => match p {
            P::ServiceControlPolicy => Some((75, HintCode::ScpMissingAllow)),
            P::ResourceControlPolicy => Some((74, HintCode::RcpMissingAllow)),
            P::PermissionsBoundary => Some((73, HintCode::BoundaryMissingAllow)),
            P::SessionPolicy => Some((72, HintCode::SessionMissingAllow)),
            P::VpcEndpointPolicy => Some((71, HintCode::VpceMissingAllow)),
            P::ResourceBased => Some((50, HintCode::ResourceMissingAllow)),
            P::IdentityBased => None,
        },
        (DenyKind::Implicit, None) | (DenyKind::Unknown, _) => None,
    }
}

/// Every code that applies, most severe first, with the reason behind it.
fn rank(f: &Facts) -> Vec<(u8, HintCode, Option<Reason>)> {
    let mut out: Vec<(u8, HintCode, Option<Reason>)> = Vec::new();
    for (r, _) in &f.reasons {
        if let Some((rank, code)) = reason_code(r) {
            out.push((rank, code, Some((*r).clone())));
        }
    }
    if f.passrole && !f.cross.is_empty() {
        out.push((90, HintCode::CrossAccountPassrole, None));
    } else if !f.cross.is_empty() {
        out.push((60, HintCode::CrossAccount, None));
    }
    let identity_reason = f
        .reasons
        .iter()
        .find(|(r, _)| reason_code(r).is_none())
        .map(|(r, _)| (*r).clone());
    if !(f.passrole && f.passable_roles().is_empty()) {
        out.push((40, f.identity_code(), identity_reason));
    }
    if f.passes && f.reasons.iter().all(|(r, _)| r.kind == DenyKind::Unknown) {
        // Above decode-message: passing the role is the usual cause, and
        // what the PassRole alert and the default scope look for.
        out.push((46, HintCode::AllowPassrole, None));
    }
    if f.g.encoded > 0 {
        let nothing_known = f.reasons.iter().all(|(r, _)| r.kind == DenyKind::Unknown);
        out.push((
            if nothing_known { 45 } else { 10 },
            HintCode::DecodeMessage,
            None,
        ));
    }
    // Stable: equal ranks keep reason order (most frequent first).
    out.sort_by_key(|(rank, _, _)| std::cmp::Reverse(*rank));
    out
}

/// The statement the principal's identity-based policy needs, as a
/// document; `null` when no identity-policy change can help.
fn identity_policy(f: &Facts) -> Value {
    if f.service.is_none() || !f.resolved.known {
        return Value::Null;
    }
    let condition = |services: Vec<&str>| {
        let v = match services.as_slice() {
            [one] => json!(one),
            many => json!(many),
        };
        json!({ "StringEquals": { "iam:PassedToService": v } })
    };
    if f.passrole {
        let roles = f.passable_roles();
        if roles.is_empty() {
            return Value::Null;
        }
        return policy::policy_document(vec![policy::allow_statement(
            f.g.action(),
            &roles,
            passed_to(f).ok().map(condition),
        )]);
    }
    let own = policy::allow_statement(
        f.g.action(),
        if f.resolved.resourceless {
            &[]
        } else {
            &f.resolved.arns
        },
        None,
    );
    if f.passes {
        // The role passed, then the action itself: either may be missing.
        let pass = policy::allow_statement(
            "iam:PassRole",
            &f.passed_roles(),
            tables::passed_to_service(f.g.action()).map(|s| condition(vec![s])),
        );
        return policy::policy_document(vec![pass, own]);
    }
    policy::policy_document(vec![own])
}

/// The service principals the roles were passed to, or why there is no
/// condition.
fn passed_to(f: &Facts) -> Result<Vec<&'static str>, String> {
    if f.g.via().is_empty() {
        return Err(
            "the events do not say which API passed the role (no via), so the receiving service is unknown"
                .to_string(),
        );
    }
    let mut out = Vec::new();
    for v in f.g.via() {
        match tables::passed_to_service(v) {
            Some(s) if !out.contains(&s) => out.push(s),
            Some(_) => {}
            None => {
                return Err(format!(
                    "denytrail does not know which service {v} passes roles to"
                ));
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// The resource side of the grant: for cross-account access, and for a
/// resource-based policy that is missing an allow. `null` otherwise.
fn resource_policy(f: &Facts, code: HintCode) -> Value {
    if f.passrole {
        return Value::Null;
    }
    let resources: Vec<String> = if !f.cross.is_empty() {
        f.cross.clone()
    } else if f
        .reasons
        .iter()
        .any(|(r, _)| reason_code(r).is_some_and(|(_, c)| c == HintCode::ResourceMissingAllow))
        || code == HintCode::ResourceMissingAllow
    {
        f.resolved.arns.clone()
    } else {
        return Value::Null;
    };
    let principal = policy::principal_element(f.g.principal(), &f.partition);
    let statement = match tables::owner_side(f.g.action()) {
        OwnerSide::TrustPolicy => policy::grant_statement(principal, &[f.g.action()], &[]),
        OwnerSide::ProfilingGroupPolicy => {
            policy::grant_statement(principal, tables::PROFILER_AGENT_ACTIONS, &resources)
        }
        OwnerSide::ResourcePolicy(_) => {
            policy::grant_statement(principal, &[f.g.action()], &resources)
        }
        OwnerSide::RoleToAssume => policy::grant_statement(principal, &["sts:AssumeRole"], &[]),
    };
    policy::policy_document(vec![statement])
}

/// The profiling group names of the resolved ARNs, for `put-permission`.
fn profiling_group_name(f: &Facts) -> String {
    f.resolved
        .arns
        .iter()
        .find_map(|a| a.split_once(":profilingGroup/").map(|(_, n)| n.to_string()))
        .unwrap_or_else(|| "<PROFILING_GROUP_NAME>".to_string())
}

fn principal_or_placeholder(f: &Facts) -> String {
    if Arn::parse(f.g.principal()).is_some() {
        f.g.principal().to_string()
    } else {
        "<ROLE_ARN>".to_string()
    }
}

const NOT_SUFFICIENT: &str =
    "The policy below is what the identity side also needs, but it is not sufficient on its own.";

/// The text: what to do, who, then caveats.
fn compose(f: &Facts, code: HintCode, main: Option<&Reason>, resource_policy: &Value) -> String {
    let g = f.g;
    let p = &g.principal();
    let mut lines: Vec<String> = Vec::new();
    let phrase = main
        .and_then(|r| r.policy_type)
        .map_or("policy", PolicyType::phrase);
    let arn = main
        .and_then(|r| r.policy_arn.as_deref())
        .map(|a| format!(" {a}"))
        .unwrap_or_default();

    // 1. What to do.
    let headline = match code {
        HintCode::CrossAccountPassrole => format!(
            "Pass a role from the caller's own account instead: iam:PassRole on a role in another account ({}) can never succeed, since {p} may only pass roles of account {}.",
            text::list(&f.cross, 3),
            f.principal_account.as_deref().unwrap_or("<ACCOUNT>")
        ),
        HintCode::ExplicitDenyIdentity => format!(
            "Remove or narrow the explicit deny in an identity-based policy of {p} (attached to it, to one of its groups, or inline){arn}: adding an allow will not help while it stands."
        ),
        HintCode::ExplicitDeny => format!(
            "Find and remove or narrow the explicit deny on {}: adding an allow will not help while it stands; decode or reproduce the denial to learn which policy denies it.",
            f.target()
        ),
        HintCode::ExplicitDenyScp
        | HintCode::ExplicitDenyRcp
        | HintCode::ExplicitDenyBoundary
        | HintCode::ExplicitDenySession
        | HintCode::ExplicitDenyResource
        | HintCode::ExplicitDenyVpce => format!(
            "Remove or narrow the explicit deny in the {phrase}{arn} (or exempt {p} from it): an identity-policy change will not help while it stands."
        ),
        HintCode::ScpMissingAllow => format!(
            "Allow {} in the service control policies too: every SCP from the organization root down to the account must allow it, so an identity-policy change alone will not help.",
            f.target()
        ),
        HintCode::RcpMissingAllow => format!(
            "Allow {} in the resource control policies too{arn}: every RCP from the organization root down to the resource's account must allow it, so an identity-policy change alone will not help.",
            f.target()
        ),
        HintCode::BoundaryMissingAllow => format!(
            "Allow {} in {p}'s permissions boundary{arn} too: the boundary caps what identity policies grant, so an identity-policy change alone will not help.",
            f.target()
        ),
        HintCode::SessionMissingAllow => format!(
            "Allow {} in the session policy{arn} too (or issue the session without it): a session policy caps the role's permissions, so an identity-policy change alone will not help.",
            f.target()
        ),
        HintCode::VpceMissingAllow => format!(
            "Allow {} for {p} in the VPC endpoint policy{arn} of {}: calls through the endpoint need its allow too, so an identity-policy change alone will not help.",
            f.target(),
            if g.vpc_endpoints().is_empty() {
                "the endpoint".to_string()
            } else {
                text::list(
                    &g.vpc_endpoints()
                        .iter()
                        .map(str::to_string)
                        .collect::<Vec<_>>(),
                    3,
                )
            }
        ),
        HintCode::CrossAccount => match tables::owner_side(g.action()) {
            OwnerSide::RoleToAssume => format!(
                "Cross-account: {} has no resource-based policy for this, so the caller (account {}) must assume a role in account {} that allows {}. Both sides must allow it: that role's trust policy trusts the caller, and the caller's identity-based policy allows sts:AssumeRole on the role. The policy below goes on that role.",
                f.service.unwrap_or("the service"),
                f.principal_account.as_deref().unwrap_or("<ACCOUNT>"),
                text::list(&f.cross_accounts, 3),
                f.target()
            ),
            _ => format!(
                "Allow {} on both sides: in {p}'s identity-based policy (account {}) AND in the {} in account {}.",
                f.target(),
                f.principal_account.as_deref().unwrap_or("<ACCOUNT>"),
                owner_words(g.action()),
                text::list(&f.cross_accounts, 3)
            ),
        },
        HintCode::ResourceMissingAllow => format!(
            "Allow {} for {p} in the resource's {}{arn}.",
            f.target(),
            owner_words(g.action())
        ),
        HintCode::DecodeMessage if f.all_encoded_cut() => format!(
            "The encoded authorization message for {} was cut (it ends in ...), so it cannot be decoded. {}",
            g.action(),
            text::FULL_ENCODED_MESSAGE
        ),
        HintCode::DecodeMessage => format!(
            "Decode the authorization message to learn why {} was denied: {}",
            g.action(),
            text::DECODE_COMMAND
        ),
        HintCode::AllowPassrole if f.passes => format!(
            "The message does not say what was denied, but the request passes {} to {}: the usual cause is iam:PassRole on that role. Allow iam:PassRole on {}{} in the identity-based policy of {p}, then retry; {}",
            f.passes_words(),
            tables::passed_to_service(g.action()).unwrap_or("the service"),
            text::list(&f.passed_roles(), 3),
            tables::passed_to_service(g.action())
                .map(|s| format!(" with iam:PassedToService = {s}"))
                .unwrap_or_default(),
            if g.encoded > 0 && f.all_encoded_cut() {
                "the message itself was cut and cannot be decoded (see below)."
            } else if g.encoded > 0 {
                "decode the message to confirm (see below)."
            } else {
                "if it still fails, the call itself needs allowing (the second statement)."
            }
        ),
        HintCode::AllowPassrole => format!(
            "Allow iam:PassRole on {}{} in the identity-based policy of {p}.",
            text::list(&f.passable_roles(), 3),
            match passed_to(f) {
                Ok(s) => format!(" to {}", s.join(" / ")),
                Err(_) => String::new(),
            }
        ),
        HintCode::ProfilerAgent => format!(
            "Let the CodeGuru Profiler agent running as {p} call {}: attach the managed policy AmazonCodeGuruProfilerAgentAccess to it, or add it to the profiling group's agentPermissions.",
            f.target()
        ),
        HintCode::AllowAction if f.s3_unexplained() => format!(
            "S3 answered only \"Access Denied\", which does not say which policy denied {}. If the identity-based policy of {p} lacks it, allow it (the policy below); if it has it, one of these denies it: {}",
            f.target(),
            text::S3_DENIERS
        ),
        HintCode::AccessKeys | HintCode::AllowAction => {
            format!("Allow {} in the identity-based policy of {p}.", f.target())
        }
    };
    lines.push(headline);

    // 2. Who.
    let who = match code {
        HintCode::CrossAccountPassrole => "Who: whoever configures the call (the role ARN it passes); no policy in either account can allow this.".to_string(),
        HintCode::CrossAccount => format!(
            "Who: both the administrator of {p} (account {}) and the resource's owner (account {}).",
            f.principal_account.as_deref().unwrap_or("<ACCOUNT>"),
            text::list(&f.cross_accounts, 3)
        ),
        HintCode::ResourceMissingAllow => {
            format!("Who: {}.", f.who(main))
        }
        HintCode::DecodeMessage if f.all_encoded_cut() => format!(
            "Who: whoever made the call has the whole message; then {}.",
            f.who(None)
        ),
        HintCode::DecodeMessage => format!(
            "Who: anyone in the account allowed sts:DecodeAuthorizationMessage can decode it; then {}.",
            f.who(None)
        ),
        HintCode::ExplicitDeny => format!("Who: {}.", text::WHO_UNTYPED_DENY),
        HintCode::AllowAction if f.s3_unexplained() => format!(
            "Who: the administrator of {p}'s identity-based policies for the first; the bucket's owner for its bucket policy, ACLs, Object Ownership and Block Public Access; the KMS key's owner for its key policy; the AWS Organizations administrator for SCPs and RCPs; the VPC endpoint's owner for its policy."
        ),
        _ => format!("Who: {}.", f.who(main)),
    };
    lines.push(who);

    // 3. What will not help, and the other reasons.
    let guardrail = f
        .reasons
        .iter()
        .any(|(r, _)| reason_code(r).is_some_and(|(rank, _)| rank >= 70));
    if guardrail && !matches!(code, HintCode::CrossAccountPassrole) {
        lines.push(NOT_SUFFICIENT.to_string());
    }
    for (r, n) in &f.reasons {
        if reason_code(r).is_none() || Some(r) == main {
            continue;
        }
        lines.push(format!(
            "Also: {} ({n} event{}); who: {}.",
            text::describe(r),
            if *n == 1 { "" } else { "s" },
            f.who(Some(r))
        ));
    }

    // 4. Caveats and specifics.
    if f.passrole {
        passrole_lines(f, code, &mut lines);
    }
    if tables::is_profiler_agent_action(g.action()) && f.cross.is_empty() {
        if code != HintCode::ProfilerAgent {
            lines.push("For the agent: the managed policy AmazonCodeGuruProfilerAgentAccess, or the profiling group's agentPermissions, grants this on the identity or resource side.".to_string());
        }
        lines.push(format!(
            "agentPermissions: aws codeguruprofiler put-permission --profiling-group-name {} --action-group agentPermissions --principals {} (add --revision-id of the current policy if the group has one).",
            profiling_group_name(f),
            principal_or_placeholder(f)
        ));
    } else if f.service == Some("codeguru-profiler")
        && f.cross.is_empty()
        && code == HintCode::AllowAction
    {
        lines.push(text::PROFILER_NEW_IDENTITY.to_string());
    }
    if f.is_access_keys() {
        lines.push(text::ACCESS_KEYS_NOTE.to_string());
        if g.error_codes().iter().any(|e| e.contains("LimitExceeded")) {
            lines.push("The user already has two access keys: delete an unused one before creating another.".to_string());
        }
        if f.resolved.unnamed {
            lines.push(text::ACCESS_KEYS_SELF.to_string());
        }
    }
    if !f.passrole && g.action().eq_ignore_ascii_case("sts:AssumeRole") && f.cross.is_empty() {
        lines.push(format!(
            "Note: the role's trust policy must also trust {p}."
        ));
    }
    if !resource_policy.is_null() {
        lines.push(resource_side_line(f, resource_policy));
    }
    if f.resolved.unnamed && code != HintCode::CrossAccountPassrole {
        let stars = f.resolved.arns.iter().any(|a| a.contains('*'));
        lines.push(format!(
            "Note: the events name no resource; fill in the <PLACEHOLDERS>{} in the policy (its ARNs follow the action's formats in the Service Authorization Reference).",
            if stars { " and narrow the *" } else { "" }
        ));
    } else if f.resolved.placeholder {
        lines.push("Note: the events did not say which region or account: the policy has * there (and <PLACEHOLDERS> for names); narrow them.".to_string());
    }
    if !f.resolved.built.is_empty() {
        let names: Vec<String> = f.resolved.built.iter().map(|(n, _)| n.clone()).collect();
        lines.push(format!(
            "Note: the ARN was built from the name in the message ({}) with the events' region and account; check it.",
            text::list(&names, 3)
        ));
    }
    if f.service.is_none() {
        lines.push(format!(
            "Note: the action '{}' is not of the form service:Action, so no policy is offered.",
            g.action()
        ));
    }
    if g.encoded > 0 && f.all_encoded_cut() {
        if code != HintCode::DecodeMessage {
            lines.push(format!(
                "Note: the encoded message was cut (it ends in ...), so it cannot be decoded. {}",
                text::FULL_ENCODED_MESSAGE
            ));
        }
    } else if g.encoded > 0 && code != HintCode::DecodeMessage {
        lines.push(text::encoded_note(g.encoded));
    } else if code == HintCode::DecodeMessage {
        lines.push("Decoding needs sts:DecodeAuthorizationMessage; the decoded message names the denying policy and the request context. The policy below is the identity side's allow, to check against it.".to_string());
    }
    if g.truncated > 0 && !(g.encoded > 0 && f.all_encoded_cut()) {
        lines.push(text::truncated_note(g.truncated));
    }
    facts_notes(f, code, &mut lines);
    if f.reasons.len() > 1 {
        let all: Vec<String> = f
            .reasons
            .iter()
            .map(|(r, n)| format!("{} ({n})", r.code()))
            .collect();
        lines.push(format!("Reasons: {}.", all.join(", ")));
    }
    lines.join("\n")
}

/// Notes from what the IAM data and the events say: accounts that could
/// not be compared, resources that cannot be the action's, the other
/// resource types the action needs, dependent actions, documentation.
fn facts_notes(f: &Facts, code: HintCode, lines: &mut Vec<String>) {
    let g = f.g;
    if let Some(a) = &f.unknown_account {
        lines.push(format!(
            "Note: the account '{a}' in the message is masked or cut, so it is not known: the hint assumes the principal and the resource are in the same account{}. If they are not, both accounts must allow the call{}.",
            if f.resolved.masked.is_empty() {
                String::new()
            } else {
                format!(
                    " (the policy writes {} for it)",
                    f.principal_account.as_deref().unwrap_or("*")
                )
            },
            if f.passrole || f.passes {
                ", and a role of another account cannot be passed at all"
            } else {
                ""
            }
        ));
    }
    for (r, formats) in &f.resolved.rejected {
        lines.push(format!(
            "Note: {r} cannot be what {} acts on (its ARN formats: {formats}); the policy names a placeholder instead: check the resource in the message.",
            g.action()
        ));
    }
    if f.resolved.phone {
        lines.push(format!(
            "Note: {} to a phone number (SMS) is authorized on \"Resource\": \"*\" only; restrict it with a condition (e.g. on aws:RequestedRegion) if needed.",
            g.action()
        ));
    }
    if !f.resolved.also_required.is_empty() {
        lines.push(format!(
            "Note: {} also needs the resource types {} (the policy grants them with *; narrow them to the IDs the call uses).",
            g.action(),
            f.resolved.also_required.join(", ")
        ));
    }
    if f.service.is_some() && !f.resolved.known {
        lines.push(format!(
            "Note: the IAM data ({}) has no action {}: check its name and service prefix; no policy is offered for an action that does not exist.",
            crate::classify::iam::source(),
            g.action()
        ));
    }
    if let Some(a) = crate::classify::iam::action(g.action()) {
        let deps: Vec<&str> = a
            .dependent_actions()
            .filter(|d| !d.eq_ignore_ascii_case("iam:PassRole") || !f.passes)
            .collect();
        if !deps.is_empty() && code != HintCode::CrossAccountPassrole {
            lines.push(format!(
                "Depending on the request, {a} also needs: {} (Service Authorization Reference).",
                deps.join(", ")
            ));
        }
        if a.access_level() == "Permissions management" && f.resolved.known && !f.passrole {
            lines.push(format!(
                "Note: {a} is a permissions-management action: whoever holds it can change who may do what on the resource (and so grant itself more), so grant it only to the resource's administrators."
            ));
        }
        let doc = a.doc_url().map(|u| format!("{u}; ")).unwrap_or_default();
        lines.push(format!("Docs: {a}: {doc}{}", a.service().reference_url));
    }
    if let Some(m) = &g.example_message()
        && m.contains("managed-rule")
    {
        lines.push(text::MANAGED_RULE_NOTE.to_string());
    }
    if g.action().eq_ignore_ascii_case("logs:TagResource")
        && g.via()
            .iter()
            .any(|v| v.eq_ignore_ascii_case("logs:CreateLogGroup"))
    {
        lines.push("Note: creating a log group with tags needs logs:TagResource as well as logs:CreateLogGroup (CloudWatch Logs checks both).".to_string());
    }
}

fn passrole_lines(f: &Facts, code: HintCode, lines: &mut Vec<String>) {
    if code == HintCode::CrossAccountPassrole || !f.cross.is_empty() {
        lines.push(format!(
            "Fix: use a role in account {} whose trust policy trusts the receiving service, or make the call from the role's account.",
            f.principal_account.as_deref().unwrap_or("<ACCOUNT>")
        ));
        if f.passable_roles().is_empty() {
            return;
        }
    }
    match passed_to(f) {
        Ok(services) => lines.push(format!(
            "The condition iam:PassedToService = {} limits the grant to the service the API ({}) hands the role to; that role's trust policy must trust it too.",
            services.join(", "),
            f.g.via().iter().map(str::to_string).collect::<Vec<_>>().join(", ")
        )),
        Err(why) => lines.push(format!(
            "No iam:PassedToService condition: {why}; add one once known (the principal of the service that receives the role, such as ecs-tasks.amazonaws.com for ECS tasks or ec2.amazonaws.com for an instance profile), to keep the grant least-privilege."
        )),
    }
}

/// Where the owner grants the action, in words.
fn owner_words(action: &str) -> String {
    match tables::owner_side(action) {
        OwnerSide::TrustPolicy => "role's trust policy".to_string(),
        OwnerSide::ProfilingGroupPolicy => {
            "profiling group's resource-based policy (agentPermissions)".to_string()
        }
        OwnerSide::ResourcePolicy(words) => words.to_string(),
        OwnerSide::RoleToAssume => "trust policy of a role the caller assumes".to_string(),
    }
}

fn resource_side_line(f: &Facts, doc: &Value) -> String {
    let statement = doc
        .get("Statement")
        .and_then(|s| s.get(0))
        .map(Value::to_string)
        .unwrap_or_default();
    let accounts = if f.cross_accounts.is_empty() {
        String::new()
    } else {
        format!(" (account {})", text::list(&f.cross_accounts, 3))
    };
    let mut line = match tables::owner_side(f.g.action()) {
        OwnerSide::TrustPolicy => {
            format!("Resource side{accounts}: add to the role's trust policy: {statement}")
        }
        OwnerSide::ProfilingGroupPolicy => format!(
            "Resource side{accounts}: aws codeguruprofiler put-permission --profiling-group-name {} --action-group agentPermissions --principals {}, which adds: {statement}",
            profiling_group_name(f),
            principal_or_placeholder(f)
        ),
        OwnerSide::ResourcePolicy(words) => {
            format!("Resource side{accounts}: add to the {words}: {statement}")
        }
        OwnerSide::RoleToAssume => format!(
            "Resource side{accounts}: the owner creates a role allowing {} and trusting the caller: {statement}",
            f.g.action()
        ),
    };
    if f.service == Some("codeguru-profiler") && !f.cross.is_empty() {
        line.push('\n');
        line.push_str(text::PROFILER_OUTSIDE);
    }
    line
}
