//! Remediation hints: pure functions of a [`Group`](crate::aggregate::Group).
//!
//! For each group: what the administrator must allow (a least-privilege IAM
//! policy statement), who can fix it, and when an identity-policy change will
//! not help. No I/O.
//!
//! - `tables`: what denytrail knows offline (actions without resources, ARN
//!   templates, `iam:PassedToService` principals, resource-based policies);
//! - `policy`: the IAM policy documents;
//! - `text`: the wording (who can fix what, fixed guidance);
//! - `notes`: the lines many groups share, by id ([`note`]), which a report
//!   writes once;
//! - `remedy`: the decision for a group ([`hint_for`], [`explain_denial`]).
//!
//! This module must not read files, the network or the clock, and knows
//! nothing of reports or metrics.

mod arn;
mod notes;
mod policy;
mod remedy;
mod tables;
#[cfg(test)]
mod tests;
mod text;

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use notes::{Note, note};
pub use policy::{POLICY_VERSION, allow_statement, policy_document};
pub use remedy::{explain_denial, explain_message, hint_for};
pub use tables::{is_resourceless, passed_to_service};

/// A short, stable code naming the main remediation, used as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HintCode {
    /// Allow the action in the principal's identity-based policy.
    AllowAction,
    /// Allow `iam:PassRole` on the role(s), conditioned on the receiving service.
    AllowPassrole,
    /// The CodeGuru Profiler agent needs `AmazonCodeGuruProfilerAgentAccess`
    /// or the profiling group's `agentPermissions`.
    ProfilerAgent,
    /// Cross-account: both the caller's identity policy and the owner's
    /// resource-based / trust policy must allow it.
    CrossAccount,
    /// Cross-account `iam:PassRole`: can never succeed.
    CrossAccountPassrole,
    /// Explicit deny in a service control policy.
    ExplicitDenyScp,
    /// Explicit deny in a resource control policy.
    ExplicitDenyRcp,
    /// Explicit deny in a permissions boundary.
    ExplicitDenyBoundary,
    /// Explicit deny in an identity-based policy.
    ExplicitDenyIdentity,
    /// Explicit deny in a session policy.
    ExplicitDenySession,
    /// Explicit deny in a resource-based policy.
    ExplicitDenyResource,
    /// Explicit deny in a VPC endpoint policy.
    ExplicitDenyVpce,
    /// Explicit deny in a policy the message does not name.
    ExplicitDeny,
    /// No allow in the permissions boundary.
    BoundaryMissingAllow,
    /// No allow in a service control policy.
    ScpMissingAllow,
    /// No allow in a resource control policy.
    RcpMissingAllow,
    /// No allow in the session policy.
    SessionMissingAllow,
    /// No allow in the resource-based policy.
    ResourceMissingAllow,
    /// No allow in the VPC endpoint policy.
    VpceMissingAllow,
    /// Encoded authorization message: decode it first.
    DecodeMessage,
    /// Access-key management (at most two keys per user, secret shown once).
    AccessKeys,
}

/// The remediation for one group.
///
/// The advice people read is [`text`](Hint::text) followed by the lines of
/// each of [`notes`](Hint::notes): the text holds what is this group's own
/// (what to do, with the action and the counts), the notes what reads the
/// same for every group they apply to (who can fix a kind of denial,
/// caveats, the action's documentation), which a report writes once in its
/// top-level `notes` table. [`Hint::advice`] joins them.
///
/// `D` is what the hint holds for each policy document: the document
/// itself (a `serde_json::Value`, `null` for none), as [`hint_for`] and
/// `explain` give it, or, in a report, the document's index in the
/// report's `policies` (`Option<u32>`), since many groups need the same
/// document ([`Hint::map_documents`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(
    serialize = "D: Serialize + Document",
    deserialize = "D: Deserialize<'de> + Default"
))]
pub struct Hint<D = serde_json::Value> {
    /// The main code (metric label).
    pub code: HintCode,
    /// Every code that applies, main first.
    pub codes: Vec<HintCode>,
    /// Human text, the group's own: what to do, then what only this group
    /// needs (its other reasons, counts, the resource side). It says "the
    /// principal" and counts the policy's resources rather than repeating
    /// the group's fields.
    pub text: String,
    /// Ids of the shared lines that complete the text, in reading order
    /// ([`note`] gives each one's text). Empty for a hint standing alone
    /// ([`Hint::standalone`]); left out of the JSON when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Cow<'static, str>>,
    /// A least-privilege IAM policy document (`{"Version": …, "Statement": […]}`)
    /// the administrator can apply, or none (`null`, left out of the JSON)
    /// when no identity-policy change helps.
    #[serde(default, skip_serializing_if = "Document::is_none")]
    pub policy: D,
    /// The resource side, for cross-account access or a resource-based policy
    /// missing an allow: a policy document whose statement names the caller as
    /// `Principal` (for a trust policy, without `Resource`); none otherwise.
    #[serde(default, skip_serializing_if = "Document::is_none")]
    pub resource_policy: D,
}

/// What a [`Hint`] holds for a policy document: the document, or its
/// index in a report's table.
pub trait Document: Default {
    /// There is no document.
    fn is_none(&self) -> bool;
}

impl Document for serde_json::Value {
    fn is_none(&self) -> bool {
        self.is_null()
    }
}

impl Document for Option<u32> {
    fn is_none(&self) -> bool {
        Option::is_none(self)
    }
}

impl<D> Hint<D> {
    /// The whole advice as people read it: the text, then the lines of
    /// each note, looked up in `table` (a report's `notes`, id → text). A
    /// note the table lacks is left out.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use denytrail::hints::{HintCode, Hint};
    /// let h = Hint {
    ///     code: HintCode::AllowAction,
    ///     codes: vec![HintCode::AllowAction],
    ///     text: "Allow s3:GetObject.".into(),
    ///     notes: vec!["who-identity".into()],
    ///     policy: serde_json::Value::Null,
    ///     resource_policy: serde_json::Value::Null,
    /// };
    /// let table = BTreeMap::from([("who-identity".to_string(), "Who: me.".to_string())]);
    /// assert_eq!(h.advice(&table), "Allow s3:GetObject.\nWho: me.");
    /// assert_eq!(h.advice(&BTreeMap::new()), "Allow s3:GetObject.");
    /// ```
    pub fn advice(&self, table: &BTreeMap<String, String>) -> String {
        self.advice_with(|id| table.get(id).map(|t| Cow::Borrowed(t.as_str())))
    }

    fn advice_with<'t>(&self, lookup: impl Fn(&str) -> Option<Cow<'t, str>>) -> String {
        let mut out = self.text.clone();
        for id in &self.notes {
            if let Some(t) = lookup(id) {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&t);
            }
        }
        out
    }

    /// The same hint holding `f(document)` for each policy document (a
    /// report names each distinct document once, in its `policies`).
    pub fn map_documents<E>(self, mut f: impl FnMut(D) -> E) -> Hint<E> {
        Hint {
            code: self.code,
            codes: self.codes,
            text: self.text,
            notes: self.notes,
            policy: f(self.policy),
            resource_policy: f(self.resource_policy),
        }
    }
}

impl Hint {
    /// The hint standing alone, where no report carries the notes (what
    /// `denytrail explain` prints): each note's text written into the
    /// text, in order, and no notes left.
    ///
    /// ```
    /// let h = denytrail::hints::explain_message(
    ///     "User: arn:aws:iam::123456789012:user/u is not authorized to perform: iam:ListRoles",
    /// ).unwrap();
    /// assert!(h.notes.is_empty());
    /// assert!(h.text.contains("\nWho: ") && h.text.contains("\nDocs: iam:ListRoles: "));
    /// ```
    pub fn standalone(mut self) -> Hint {
        self.text = self.advice_with(note);
        self.notes.clear();
        self
    }

    /// The policy documents the hint carries, each with its name: the
    /// identity side's (`policy`), then the resource side's
    /// (`resource-side policy`); null ones are left out.
    pub fn documents(&self) -> impl Iterator<Item = (&'static str, &serde_json::Value)> {
        [
            ("policy", &self.policy),
            ("resource-side policy", &self.resource_policy),
        ]
        .into_iter()
        .filter(|(_, d)| !d.is_null())
    }
}

impl Hint<Option<u32>> {
    /// The policy documents the hint names, from `policies` (a report's),
    /// each with its name as [`Hint::documents`] gives it; an index past
    /// the end is left out.
    pub fn documents_in<'a>(
        &self,
        policies: &'a [serde_json::Value],
    ) -> impl Iterator<Item = (&'static str, &'a serde_json::Value)> {
        [
            ("policy", self.policy),
            ("resource-side policy", self.resource_policy),
        ]
        .into_iter()
        .filter_map(|(title, i)| Some((title, policies.get(usize::try_from(i?).ok()?)?)))
    }
}

impl HintCode {
    /// Every code, in declaration order (for pre-registering metric labels).
    pub const ALL: [HintCode; 21] = [
        HintCode::AllowAction,
        HintCode::AllowPassrole,
        HintCode::ProfilerAgent,
        HintCode::CrossAccount,
        HintCode::CrossAccountPassrole,
        HintCode::ExplicitDenyScp,
        HintCode::ExplicitDenyRcp,
        HintCode::ExplicitDenyBoundary,
        HintCode::ExplicitDenyIdentity,
        HintCode::ExplicitDenySession,
        HintCode::ExplicitDenyResource,
        HintCode::ExplicitDenyVpce,
        HintCode::ExplicitDeny,
        HintCode::BoundaryMissingAllow,
        HintCode::ScpMissingAllow,
        HintCode::RcpMissingAllow,
        HintCode::SessionMissingAllow,
        HintCode::ResourceMissingAllow,
        HintCode::VpceMissingAllow,
        HintCode::DecodeMessage,
        HintCode::AccessKeys,
    ];

    /// The label value (`allow-action`, `explicit-deny-scp`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            HintCode::AllowAction => "allow-action",
            HintCode::AllowPassrole => "allow-passrole",
            HintCode::ProfilerAgent => "profiler-agent",
            HintCode::CrossAccount => "cross-account",
            HintCode::CrossAccountPassrole => "cross-account-passrole",
            HintCode::ExplicitDenyScp => "explicit-deny-scp",
            HintCode::ExplicitDenyRcp => "explicit-deny-rcp",
            HintCode::ExplicitDenyBoundary => "explicit-deny-boundary",
            HintCode::ExplicitDenyIdentity => "explicit-deny-identity",
            HintCode::ExplicitDenySession => "explicit-deny-session",
            HintCode::ExplicitDenyResource => "explicit-deny-resource",
            HintCode::ExplicitDenyVpce => "explicit-deny-vpce",
            HintCode::ExplicitDeny => "explicit-deny",
            HintCode::BoundaryMissingAllow => "boundary-missing-allow",
            HintCode::ScpMissingAllow => "scp-missing-allow",
            HintCode::RcpMissingAllow => "rcp-missing-allow",
            HintCode::SessionMissingAllow => "session-missing-allow",
            HintCode::ResourceMissingAllow => "resource-missing-allow",
            HintCode::VpceMissingAllow => "vpce-missing-allow",
            HintCode::DecodeMessage => "decode-message",
            HintCode::AccessKeys => "access-keys",
        }
    }
}

impl std::fmt::Display for HintCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every hint code, in a stable order.
///
/// ```
/// use denytrail::hints::hint_codes_all;
/// assert!(hint_codes_all().iter().any(|c| c.as_str() == "cross-account-passrole"));
/// ```
pub fn hint_codes_all() -> &'static [HintCode] {
    &HintCode::ALL
}
