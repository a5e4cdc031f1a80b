//! Classify one framed record: is it an authorization denial, an
//! authentication failure, or neither — and if a denial, who was denied what,
//! on which resource, and why.
//!
//! Pure: no I/O, no clocks. Input is the raw bytes of one record (a CloudTrail
//! JSON object, or a plain-text log line); output is an [`Outcome`].
//! This module knows nothing of aggregation, hints or sinks.

pub mod actions;
mod fields;
pub mod iam;
pub mod message;
pub mod principal;
pub mod record;
pub mod resource;

pub use compact_str::CompactString;
use serde::{Deserialize, Serialize};

/// The kind of policy AWS names in an enhanced denial message. A closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyType {
    /// "identity-based policy"
    IdentityBased,
    /// "resource-based policy"
    ResourceBased,
    /// "permissions boundary"
    PermissionsBoundary,
    /// "session policy"
    SessionPolicy,
    /// "service control policy"
    ServiceControlPolicy,
    /// "resource control policy"
    ResourceControlPolicy,
    /// "VPC endpoint policy"
    VpcEndpointPolicy,
}

impl PolicyType {
    /// All policy types, in a stable order.
    pub const ALL: [PolicyType; 7] = [
        PolicyType::IdentityBased,
        PolicyType::ResourceBased,
        PolicyType::PermissionsBoundary,
        PolicyType::SessionPolicy,
        PolicyType::ServiceControlPolicy,
        PolicyType::ResourceControlPolicy,
        PolicyType::VpcEndpointPolicy,
    ];

    /// The words AWS uses for this policy type inside messages.
    ///
    /// ```
    /// use denytrail::classify::PolicyType;
    /// assert_eq!(PolicyType::ServiceControlPolicy.phrase(), "service control policy");
    /// ```
    pub fn phrase(self) -> &'static str {
        match self {
            PolicyType::IdentityBased => "identity-based policy",
            PolicyType::ResourceBased => "resource-based policy",
            PolicyType::PermissionsBoundary => "permissions boundary",
            PolicyType::SessionPolicy => "session policy",
            PolicyType::ServiceControlPolicy => "service control policy",
            PolicyType::ResourceControlPolicy => "resource control policy",
            PolicyType::VpcEndpointPolicy => "VPC endpoint policy",
        }
    }

    /// Short stable code used in metric labels (`scp`, `boundary`, …).
    pub fn code(self) -> &'static str {
        match self {
            PolicyType::IdentityBased => "identity",
            PolicyType::ResourceBased => "resource",
            PolicyType::PermissionsBoundary => "boundary",
            PolicyType::SessionPolicy => "session",
            PolicyType::ServiceControlPolicy => "scp",
            PolicyType::ResourceControlPolicy => "rcp",
            PolicyType::VpcEndpointPolicy => "vpce",
        }
    }
}

/// Whether the denial came from a missing allow or an explicit deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DenyKind {
    /// "because no `<policy type>` allows …"
    Implicit,
    /// "with an explicit deny in a `<policy type>`"
    Explicit,
    /// The message does not say (older or terse messages, encoded messages).
    Unknown,
}

/// Why access was denied, from the message tail.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Reason {
    /// Implicit, explicit or unknown.
    pub kind: DenyKind,
    /// The policy type the message names, if any.
    pub policy_type: Option<PolicyType>,
    /// The ARN of the denying policy when the message ends with one.
    pub policy_arn: Option<String>,
}

impl Reason {
    /// A reason the message does not state.
    pub const UNKNOWN: Reason = Reason {
        kind: DenyKind::Unknown,
        policy_type: None,
        policy_arn: None,
    };

    /// Short stable code for metric labels: `implicit-identity`,
    /// `explicit-scp`, `unknown`, …
    pub fn code(&self) -> String {
        match (self.kind, self.policy_type) {
            (DenyKind::Unknown, _) => "unknown".to_string(),
            (DenyKind::Implicit, Some(p)) => format!("implicit-{}", p.code()),
            (DenyKind::Explicit, Some(p)) => format!("explicit-{}", p.code()),
            (DenyKind::Implicit, None) => "implicit".to_string(),
            (DenyKind::Explicit, None) => "explicit".to_string(),
        }
    }
}

/// What kind of identity made the call (`userIdentity.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrincipalKind {
    /// An IAM user.
    IamUser,
    /// An IAM role (assumed-role sessions are folded into their role).
    Role,
    /// The account root user.
    Root,
    /// A federated user (`sts:GetFederationToken`, SAML/web identity).
    FederatedUser,
    /// An AWS service acting on its own.
    AwsService,
    /// A caller from another account (`AWSAccount`).
    AwsAccount,
    /// An IAM Identity Center user or anything else.
    Other,
}

/// One authorization denial, extracted from one record.
///
/// Owned strings: denials are rare next to the records scanned, and they
/// outlive the buffer they were parsed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denial {
    /// The principal the denial counts toward: the role ARN for an
    /// assumed-role session, else the caller's ARN (or a synthetic
    /// `service:NAME` / `account:ID` / `unknown`).
    pub principal: String,
    /// What kind of principal.
    pub principal_kind: PrincipalKind,
    /// The principal's account, when known.
    pub principal_account: Option<CompactString>,
    /// The session ARN (`arn:aws:sts::…:assumed-role/ROLE/SESSION`), if any.
    pub session: Option<String>,
    /// The IAM action that was denied (`iam:PassRole`).
    pub action: CompactString,
    /// The API that was called, when it differs from `action`
    /// (`lambda:CreateFunction` for a PassRole denied inside it); for a
    /// text line that names only the service (`(Service: AmazonECS; …)`),
    /// that service's endpoint host (`ecs.amazonaws.com`).
    pub via: Option<CompactString>,
    /// When the message does not name the denied action but the request
    /// passes a role to the service (EC2's `iamInstanceProfile` in an
    /// encoded `RunInstances` denial): the role or instance profile ARN it
    /// passes. `iam:PassRole` on that role is then the usual cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passes: Option<String>,
    /// The resource ARN (or the resource text of the message).
    pub resource: Option<String>,
    /// Why.
    pub reason: Reason,
    /// The account that recorded the event (`recipientAccountId`).
    pub account: Option<CompactString>,
    /// `awsRegion`.
    pub region: Option<CompactString>,
    /// `eventTime` as written (ISO-8601, UTC).
    pub event_time: Option<CompactString>,
    /// `eventID`.
    pub event_id: Option<String>,
    /// `sharedEventID` (cross-account copies share it).
    pub shared_event_id: Option<String>,
    /// `vpcEndpointId`.
    pub vpc_endpoint_id: Option<CompactString>,
    /// `errorCode` (or the exception name of a text line).
    pub error_code: Option<CompactString>,
    /// `eventSource` (`iam.amazonaws.com`).
    pub event_source: Option<CompactString>,
    /// The message was an encoded authorization failure message (EC2).
    pub encoded: bool,
    /// The message was cut at CloudTrail's 1024-character limit.
    pub truncated: bool,
    /// The error message as recorded (may be empty).
    pub message: String,
}

/// An authentication failure: bad or expired credentials. Not a denial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthFailure {
    /// `InvalidClientTokenId`, `ExpiredToken`, `SignatureDoesNotMatch`, …
    pub error_code: String,
    /// `eventID`, for dedup.
    pub event_id: Option<String>,
    /// `eventTime`, when known (for `--since`/`--until`).
    #[serde(default)]
    pub event_time: Option<CompactString>,
}

/// The classification of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not a denial (allowed call, other error, control message, …).
    Other,
    /// An authorization denial.
    Denial(Box<Denial>),
    /// An authentication failure, counted apart.
    AuthFailure(AuthFailure),
    /// Skipped on purpose (Insight event, digest, …).
    Skipped,
}

pub use crate::frame::RecordKind;

/// Classify one record.
///
/// Never panics, whatever the bytes. Invalid JSON for a
/// [`RecordKind::CloudTrailJson`] record is an error the caller counts.
pub fn classify(bytes: &[u8], kind: RecordKind) -> Result<Outcome, ClassifyError> {
    match kind {
        RecordKind::CloudTrailJson => record::classify_json(bytes),
        RecordKind::Text => Ok(message::classify_text_line(bytes)),
    }
}

/// Why a record could not be classified.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClassifyError {
    /// The record is not valid JSON (or not a JSON object).
    #[error("invalid JSON at byte {offset} of the record: {msg}")]
    InvalidJson {
        /// Byte offset inside the record, as serde_json reports it.
        offset: usize,
        /// serde_json's description.
        msg: String,
    },
}

/// The byte strings at least one of which every record that classifies as a
/// [`Outcome::Denial`] or [`Outcome::AuthFailure`] contains (unless the
/// JSON spells them with `\u` escapes): the error codes of both families and
/// the message phrases (`not authorized to perform`, and the security-token
/// sentence of an authentication failure logged without its code). The prefilter should build its automaton from these,
/// so the two cannot drift apart.
///
/// ```
/// let markers: Vec<&str> = denytrail::classify::markers().collect();
/// assert!(markers.contains(&"AccessDenied"));
/// assert!(markers.contains(&"ExpiredToken"));
/// ```
pub fn markers() -> impl Iterator<Item = &'static str> {
    record::DENIAL_ERROR_CODES
        .iter()
        .chain(record::AUTH_FAILURE_ERROR_CODES)
        .copied()
        .chain([message::NOT_AUTHORIZED, message::SECURITY_TOKEN])
}
