//! The ground truth of a corpus, known by construction (never by running the
//! classifier): what each record is, and the expected denial groups.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What one generated record (or text line) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordClass {
    /// An allowed call (no `errorCode`).
    Allowed,
    /// An allowed call whose parameters or response contain denial words.
    Trap,
    /// A failed call that is not a denial (`NoSuchEntityException`,
    /// `ThrottlingException`, `ValidationException`, …).
    OtherError,
    /// An authorization denial (first delivery).
    Denial,
    /// An authentication failure (`InvalidClientTokenId`, `ExpiredToken`,
    /// `SignatureDoesNotMatch`).
    AuthFailure,
    /// An `AwsCloudTrailInsight` record: to be skipped.
    Insight,
    /// A repeated delivery of an earlier record (same `eventID`).
    Duplicate,
    /// The second account's copy of a cross-account call (same
    /// `sharedEventID`, another `eventID` and `recipientAccountId`).
    CrossAccountCopy,
}

/// The expected classification of one denial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenialTruth {
    /// The principal as grouped: `arn:aws:iam::ACCT:role/[path/]ROLE` for an
    /// assumed-role session, the user or root ARN otherwise.
    pub principal: String,
    /// The IAM action (`iam:PassRole`, `lambda:CreateFunction`).
    pub action: String,
    /// The resource the call was denied on, in full (a truncated message may
    /// carry only a prefix of it; an encoded or bare message none).
    pub resource: Option<String>,
    /// The reason code (`implicit-identity`, `explicit-scp`, `unknown`, …),
    /// as `classify::Reason::code` spells it.
    pub reason: String,
    /// The API called when it differs from the action
    /// (`lambda:CreateFunction` for a denied `iam:PassRole`).
    pub via: Option<String>,
    /// The `errorCode` (`AccessDeniedException`, `AccessDenied`,
    /// `Client.UnauthorizedOperation`).
    pub error_code: String,
    /// The message carries an encoded authorization failure message.
    pub encoded: bool,
    /// The message was cut at 1024 characters and ends in `...`.
    pub truncated: bool,
    /// The action is in the default scope (`codeguru-profiler:*`,
    /// `iam:PassRole`).
    pub default_scope: bool,
    /// `eventID` of the record (none for text lines).
    pub event_id: Option<String>,
}

/// The truth about one generated record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordTruth {
    /// What the record is.
    pub class: RecordClass,
    /// For [`RecordClass::Denial`]: the expected denial.
    pub denial: Option<DenialTruth>,
    /// For [`RecordClass::AuthFailure`]: the error code.
    pub auth_error_code: Option<String>,
}

impl RecordTruth {
    pub(crate) fn of(class: RecordClass) -> RecordTruth {
        RecordTruth {
            class,
            denial: None,
            auth_error_code: None,
        }
    }
}

/// One expected group: a principal, an action and the number of distinct
/// denial events.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupTruth {
    /// The principal as grouped.
    pub principal: String,
    /// The IAM action.
    pub action: String,
    /// Distinct denial events (repeated deliveries and cross-account copies
    /// count once).
    pub count: u64,
}

/// The ground truth of a whole corpus (`truth.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Truth {
    /// The seed the corpus was made with.
    pub seed: u64,
    /// Records written (CloudTrail records, duplicates and Insight records
    /// included; for text, lines).
    pub records: u64,
    /// Distinct denials, whatever the action.
    pub denials_all: u64,
    /// Distinct denials of `codeguru-profiler:*` and `iam:PassRole`.
    pub denials_default_scope: u64,
    /// Distinct authentication failures.
    pub auth_failures: u64,
    /// Authentication failures by error code.
    pub auth_failures_by_code: BTreeMap<String, u64>,
    /// Distinct denials by reason code (all scopes).
    pub reasons_all: BTreeMap<String, u64>,
    /// Records by class (as written: duplicates and copies are their own
    /// classes).
    pub classes: BTreeMap<RecordClass, u64>,
    /// Distinct denials with an encoded message.
    pub encoded: u64,
    /// Distinct denials with a message truncated at 1024 characters.
    pub truncated: u64,
    /// Groups of all denials, sorted by principal then action.
    pub groups_all: Vec<GroupTruth>,
    /// Groups of the default-scope denials, sorted by principal then action.
    pub groups_default_scope: Vec<GroupTruth>,
}

/// Adds up [`RecordTruth`]s into a [`Truth`], in bounded memory (one entry
/// per group, not per record).
#[derive(Debug, Default)]
pub struct TruthBuilder {
    truth: Truth,
    groups: BTreeMap<(String, String), (u64, bool)>,
}

impl TruthBuilder {
    /// An empty tally for a corpus made from `seed`.
    pub fn new(seed: u64) -> TruthBuilder {
        TruthBuilder {
            truth: Truth {
                seed,
                ..Truth::default()
            },
            groups: BTreeMap::new(),
        }
    }

    /// Count one written record.
    pub fn add(&mut self, rec: &RecordTruth) {
        let t = &mut self.truth;
        t.records += 1;
        *t.classes.entry(rec.class).or_insert(0) += 1;
        if rec.class == RecordClass::AuthFailure {
            t.auth_failures += 1;
            let code = rec.auth_error_code.clone().unwrap_or_default();
            *t.auth_failures_by_code.entry(code).or_insert(0) += 1;
        }
        if let (RecordClass::Denial, Some(d)) = (rec.class, &rec.denial) {
            t.denials_all += 1;
            t.denials_default_scope += u64::from(d.default_scope);
            t.encoded += u64::from(d.encoded);
            t.truncated += u64::from(d.truncated);
            *t.reasons_all.entry(d.reason.clone()).or_insert(0) += 1;
            let e = self
                .groups
                .entry((d.principal.clone(), d.action.clone()))
                .or_insert((0, d.default_scope));
            e.0 += 1;
        }
    }

    /// The finished truth, groups sorted.
    pub fn finish(self) -> Truth {
        let mut t = self.truth;
        for ((principal, action), (count, default_scope)) in self.groups {
            let g = GroupTruth {
                principal,
                action,
                count,
            };
            if default_scope {
                t.groups_default_scope.push(g.clone());
            }
            t.groups_all.push(g);
        }
        t
    }
}

/// Whether `action` is in denytrail's default scope.
pub(crate) fn in_default_scope(action: &str) -> bool {
    action.starts_with("codeguru-profiler:") || action == "iam:PassRole"
}
