//! Decide the hint for one group: which codes apply and which comes first,
//! the identity-side policy, the resource-side policy for cross-account
//! access, and the text that ties them together.
//!
//! Ranking, most severe first: cross-account `iam:PassRole` (never works) >
//! explicit deny > missing allow in a guardrail (boundary, SCP, RCP, session,
//! VPC endpoint) > cross-account > missing allow in a resource-based policy >
//! identity-side allow. An encoded message is the main code only when no
//! reason is known.

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::arn::{Arn, Fill, is_account_id};
use super::notes::{self, Note};
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
    let (mut text, notes) = compose(
        &facts,
        code,
        main_reason.as_ref(),
        !policy.is_null(),
        &resource_policy,
    );
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
        notes,
        policy,
        resource_policy,
    }
}

/// The hint for a single denial, as `denytrail explain` shows it: standing
/// alone, its notes written into its text ([`Hint::standalone`]).
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
    hint_for(&g).standalone()
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

    /// The VPC endpoints the calls went through, in words.
    fn endpoints(&self) -> String {
        let endpoints: Vec<&str> = self.g.vpc_endpoints().iter().collect();
        if endpoints.is_empty() {
            "the endpoint".to_string()
        } else {
            text::list(&endpoints, 3)
        }
    }

    /// ` of the sessions a, b`: which sessions a session policy capped.
    fn of_sessions(&self) -> String {
        let sessions: Vec<&str> = self.g.sessions().iter().collect();
        match sessions.len() {
            0 => String::new(),
            1 => format!(" of the session {}", sessions[0]),
            _ => format!(" of the sessions {}", text::list(&sessions, 2)),
        }
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

/// Why a PassRole grant has no `iam:PassedToService` condition.
enum NoCondition {
    /// The events name no calling API.
    NoVia,
    /// denytrail does not know where this API passes roles.
    Unknown(String),
}

/// The service principals the roles were passed to, or why there is no
/// condition.
fn passed_to(f: &Facts) -> Result<Vec<&'static str>, NoCondition> {
    if f.g.via().is_empty() {
        return Err(NoCondition::NoVia);
    }
    let mut out = Vec::new();
    for v in f.g.via() {
        match tables::passed_to_service(v) {
            Some(s) if !out.contains(&s) => out.push(s),
            Some(_) => {}
            None => return Err(NoCondition::Unknown(v.to_string())),
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

/// A hint's lines as they are composed, in reading order: the group's own
/// words go to the text, shared ones (the same for every group they apply
/// to) are named by id and read after it.
#[derive(Default)]
struct Lines {
    own: Vec<String>,
    notes: Vec<Cow<'static, str>>,
}

impl Lines {
    fn own(&mut self, line: String) {
        self.own.push(line);
    }

    fn note(&mut self, n: Note) {
        self.shared(Cow::Borrowed(n.id()));
    }

    fn shared(&mut self, id: Cow<'static, str>) {
        if !self.notes.contains(&id) {
            self.notes.push(id);
        }
    }
}

/// The text and notes: what to do, who, then caveats and references. The
/// principal and the resources are the group's own fields (and the policy
/// lists the resources): the text says "the principal" and counts them.
fn compose(
    f: &Facts,
    code: HintCode,
    main: Option<&Reason>,
    has_policy: bool,
    resource_policy: &Value,
) -> (String, Vec<Cow<'static, str>>) {
    let g = f.g;
    let mut lines = Lines::default();
    let phrase = main
        .and_then(|r| r.policy_type)
        .map_or("policy", PolicyType::phrase);
    let arn = main
        .and_then(|r| r.policy_arn.as_deref())
        .map(|a| format!(" {a}"))
        .unwrap_or_default();
    let account = f.principal_account.as_deref().unwrap_or("<ACCOUNT>");
    // The policy below names the resources: the text does not list them.
    let below = if has_policy { ": the policy below" } else { "" };

    // 1. What to do.
    match code {
        HintCode::CrossAccountPassrole => lines.own(format!(
            "Pass a role of the principal's own account ({account}) instead: iam:PassRole on a role of another account can never succeed."
        )),
        HintCode::ExplicitDenyIdentity => {
            lines.own(format!(
                "Remove or narrow the explicit deny in an identity-based policy of the principal (attached to it, to one of its groups, or inline){arn}."
            ));
            lines.note(Note::DenyStands);
        }
        HintCode::ExplicitDeny => {
            lines.own(format!(
                "Find and remove or narrow the explicit deny on {}; decode or reproduce the denial to learn which policy denies it.",
                g.action()
            ));
            lines.note(Note::DenyStands);
        }
        HintCode::ExplicitDenyScp
        | HintCode::ExplicitDenyRcp
        | HintCode::ExplicitDenyBoundary
        | HintCode::ExplicitDenySession
        | HintCode::ExplicitDenyResource
        | HintCode::ExplicitDenyVpce => {
            lines.own(format!(
                "Remove or narrow the explicit deny in the {phrase}{arn}{} (or exempt the principal from it).",
                match code {
                    HintCode::ExplicitDenyVpce => format!(" of {}", f.endpoints()),
                    HintCode::ExplicitDenySession => f.of_sessions(),
                    _ => String::new(),
                }
            ));
            lines.note(Note::DenyStands);
        }
        HintCode::ScpMissingAllow => {
            lines.own(format!(
                "Allow {} in the service control policies{arn} too.",
                g.action()
            ));
            lines.note(Note::ScpChain);
        }
        HintCode::RcpMissingAllow => {
            lines.own(format!(
                "Allow {} in the resource control policies{arn} too.",
                g.action()
            ));
            lines.note(Note::RcpChain);
        }
        HintCode::BoundaryMissingAllow => {
            lines.own(format!(
                "Allow {} in the principal's permissions boundary{arn} too.",
                g.action()
            ));
            lines.note(Note::BoundaryCaps);
        }
        HintCode::SessionMissingAllow => {
            lines.own(format!(
                "Allow {} in the session policy{arn}{} too (or issue the session without it).",
                g.action(),
                f.of_sessions()
            ));
            lines.note(Note::SessionCaps);
        }
        HintCode::VpceMissingAllow => {
            lines.own(format!(
                "Allow {} for the principal in the VPC endpoint policy{arn} of {}.",
                g.action(),
                f.endpoints()
            ));
            lines.note(Note::VpceAllow);
        }
        HintCode::CrossAccount => match tables::owner_side(g.action()) {
            OwnerSide::RoleToAssume => {
                lines.own(format!(
                    "Cross-account: {} has no resource-based policy for this, so the caller (account {account}) must assume a role in account {} that allows {}.",
                    f.service.unwrap_or("the service"),
                    text::list(&f.cross_accounts, 3),
                    g.action()
                ));
                lines.note(Note::CrossAccountRole);
            }
            _ => lines.own(format!(
                "Allow {} on both sides: in the principal's identity-based policy (account {account}) AND in the {} in account {}.",
                g.action(),
                owner_words(g.action()),
                text::list(&f.cross_accounts, 3)
            )),
        },
        HintCode::ResourceMissingAllow => lines.own(format!(
            "Allow {} for the principal in the resource's {}{arn}.",
            g.action(),
            owner_words(g.action())
        )),
        HintCode::DecodeMessage if f.all_encoded_cut() => {
            lines.own(format!(
                "The encoded authorization message for {} was cut (it ends in ...), so it cannot be decoded.",
                g.action()
            ));
            lines.note(Note::FullEncodedMessage);
        }
        HintCode::DecodeMessage => {
            lines.own(format!(
                "Decode the authorization message to learn why {} was denied.",
                g.action()
            ));
            lines.note(Note::Decode);
        }
        HintCode::AllowPassrole if f.passes => lines.own(format!(
            "The message does not say what was denied, but the request passes {} to {}: the usual cause is iam:PassRole on that role. Allow iam:PassRole on {}{} in the principal's identity-based policy, then retry; {}",
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
        )),
        HintCode::AllowPassrole => lines.own(format!(
            "Allow iam:PassRole{} in the principal's identity-based policy{below}.",
            match passed_to(f) {
                Ok(s) => format!(" to {}", s.join(" / ")),
                Err(_) => String::new(),
            }
        )),
        HintCode::ProfilerAgent => {
            lines.own(format!(
                "Let the CodeGuru Profiler agent running as the principal call {}.",
                g.action()
            ));
            lines.note(Note::ProfilerAgent);
        }
        HintCode::AllowAction if f.s3_unexplained() => {
            lines.own(format!(
                "S3 answered only \"Access Denied\" to {}.",
                g.action()
            ));
            lines.note(Note::S3Deniers);
        }
        HintCode::AccessKeys | HintCode::AllowAction => lines.own(format!(
            "Allow {} in the principal's identity-based policy{below}.",
            g.action()
        )),
    }

    // 2. Who.
    match code {
        HintCode::CrossAccountPassrole => lines.note(Note::WhoCrossAccountPassrole),
        HintCode::CrossAccount => lines.note(Note::WhoCrossAccount),
        HintCode::DecodeMessage if f.all_encoded_cut() => lines.note(Note::WhoDecodeCut),
        HintCode::DecodeMessage => lines.note(Note::WhoDecode),
        HintCode::ExplicitDeny => lines.note(Note::WhoUntypedDeny),
        HintCode::AllowAction if f.s3_unexplained() => lines.note(Note::WhoS3),
        _ => lines.note(text::who(main.and_then(|r| r.policy_type))),
    }

    // 3. What will not help, and the other reasons.
    let guardrail = f
        .reasons
        .iter()
        .any(|(r, _)| reason_code(r).is_some_and(|(rank, _)| rank >= 70));
    if guardrail && !matches!(code, HintCode::CrossAccountPassrole) {
        lines.note(Note::NotSufficient);
    }
    for (r, _) in &f.reasons {
        if reason_code(r).is_none() || Some(r) == main {
            continue;
        }
        lines.note(Note::Also(r.kind, r.policy_type));
    }

    // 4. Caveats and specifics.
    if f.passrole {
        passrole_lines(f, code, &mut lines);
    }
    if tables::is_profiler_agent_action(g.action()) && f.cross.is_empty() {
        lines.note(Note::ProfilerAgent);
        lines.note(Note::AgentPermissions);
    } else if f.service == Some("codeguru-profiler")
        && f.cross.is_empty()
        && code == HintCode::AllowAction
    {
        lines.note(Note::ProfilerNewIdentity);
    }
    if f.is_access_keys() {
        lines.note(Note::AccessKeys);
        if g.error_codes().iter().any(|e| e.contains("LimitExceeded")) {
            lines.note(Note::AccessKeysLimit);
        }
        if f.resolved.unnamed {
            lines.note(Note::AccessKeysSelf);
        }
    }
    if !f.passrole && g.action().eq_ignore_ascii_case("sts:AssumeRole") && f.cross.is_empty() {
        lines.note(Note::AssumeRoleTrust);
    }
    if !resource_policy.is_null() {
        resource_side_lines(f, &mut lines);
    }
    if f.resolved.resourceless {
        lines.note(Note::Resourceless);
    }
    if f.resolved.unnamed && code != HintCode::CrossAccountPassrole {
        if f.resolved.arns.iter().any(|a| a.contains('*')) {
            lines.note(Note::UnnamedStars);
        } else {
            lines.note(Note::Unnamed);
        }
    } else if f.resolved.placeholder {
        lines.note(Note::Placeholder);
    }
    if !f.resolved.built.is_empty() {
        lines.note(Note::Built);
    }
    if f.service.is_none() {
        lines.note(Note::NoService);
    }
    if g.encoded > 0 && f.all_encoded_cut() {
        if code != HintCode::DecodeMessage {
            lines.note(Note::EncodedCut);
        }
    } else if g.encoded > 0 && code != HintCode::DecodeMessage {
        lines.own(format!("Note: {} encoded.", text::messages(g.encoded)));
        lines.note(Note::Decode);
    } else if code == HintCode::DecodeMessage {
        lines.note(Note::DecodeCheck);
    }
    if g.truncated > 0 && !(g.encoded > 0 && f.all_encoded_cut()) {
        lines.own(format!(
            "Note: {} cut by CloudTrail at 1024 characters.",
            text::messages(g.truncated)
        ));
        lines.note(Note::Truncated);
    }
    facts_notes(f, code, &mut lines);
    (lines.own.join("\n"), lines.notes)
}

/// Notes from what the IAM data and the events say: accounts that could
/// not be compared, resources that cannot be the action's, the other
/// resource types the action needs, dependent actions, documentation.
fn facts_notes(f: &Facts, code: HintCode, lines: &mut Lines) {
    let g = f.g;
    if let Some(a) = &f.unknown_account {
        lines.own(format!(
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
        lines.own(format!(
            "Note: {r} cannot be what {} acts on (its ARN formats: {formats}); the policy names a placeholder instead: check the resource in the message.",
            g.action()
        ));
    }
    if f.resolved.phone {
        lines.note(Note::SmsPhone);
    }
    if !f.resolved.also_required.is_empty() {
        lines.own(format!(
            "Note: {} also needs the resource types {} (the policy grants them with *; narrow them to the IDs the call uses).",
            g.action(),
            f.resolved.also_required.join(", ")
        ));
    }
    if f.service.is_some() && !f.resolved.known {
        lines.note(Note::UnknownAction);
    }
    if let Some(a) = crate::classify::iam::action(g.action()) {
        // The action's reference lines are shared, unless this group
        // leaves a dependent action out: iam:PassRole when the policy
        // already grants it, all of them when nothing can help.
        let all: Vec<&str> = a.dependent_actions().collect();
        let deps: Vec<&str> = all
            .iter()
            .copied()
            .filter(|d| !d.eq_ignore_ascii_case("iam:PassRole") || !f.passes)
            .collect();
        let with_dependents = code != HintCode::CrossAccountPassrole;
        if deps.len() == all.len() && (with_dependents || all.is_empty()) {
            lines.shared(Cow::Owned(a.to_string()));
        } else {
            if with_dependents && !deps.is_empty() {
                lines.own(notes::dependents_line(a, &deps));
            }
            for l in notes::action_lines(a, false) {
                lines.own(l);
            }
        }
    }
    if g.example_contains("managed-rule") {
        lines.note(Note::ManagedRule);
    }
    if g.action().eq_ignore_ascii_case("logs:TagResource")
        && g.via()
            .iter()
            .any(|v| v.eq_ignore_ascii_case("logs:CreateLogGroup"))
    {
        lines.note(Note::LogGroupTags);
    }
}

fn passrole_lines(f: &Facts, code: HintCode, lines: &mut Lines) {
    if code == HintCode::CrossAccountPassrole || !f.cross.is_empty() {
        lines.note(Note::CrossAccountPassroleFix);
        if f.passable_roles().is_empty() {
            return;
        }
    }
    match passed_to(f) {
        Ok(_) => lines.note(Note::PassedToService),
        Err(NoCondition::NoVia) => lines.note(Note::NoPassedToServiceVia),
        Err(NoCondition::Unknown(v)) => lines.own(format!(
            "No iam:PassedToService condition: denytrail does not know which service {v} passes roles to; add one once known (the principal of the service that receives the role, such as ecs-tasks.amazonaws.com for ECS tasks or ec2.amazonaws.com for an instance profile), to keep the grant least-privilege."
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

/// How the owner applies the resource-side policy (the hint's
/// `resource_policy`, which the line does not repeat).
fn resource_side_lines(f: &Facts, lines: &mut Lines) {
    let accounts = if f.cross_accounts.is_empty() {
        String::new()
    } else {
        format!(" (account {})", text::list(&f.cross_accounts, 3))
    };
    lines.own(match tables::owner_side(f.g.action()) {
        OwnerSide::TrustPolicy => format!(
            "Resource side{accounts}: add the statement of the resource-side policy below to the role's trust policy."
        ),
        OwnerSide::ProfilingGroupPolicy => format!(
            "Resource side{accounts}: the profiling group's owner adds the principal to its agentPermissions (the command below), which adds the statement of the resource-side policy below."
        ),
        OwnerSide::ResourcePolicy(words) => format!(
            "Resource side{accounts}: add the statement of the resource-side policy below to the {words}."
        ),
        OwnerSide::RoleToAssume => format!(
            "Resource side{accounts}: the owner creates a role allowing {} and trusting the caller (the resource-side policy below).",
            f.g.action()
        ),
    });
    if tables::owner_side(f.g.action()) == OwnerSide::ProfilingGroupPolicy {
        lines.note(Note::AgentPermissions);
    }
    if f.service == Some("codeguru-profiler") && !f.cross.is_empty() {
        lines.note(Note::ProfilerOutside);
    }
}
