//! The report: the JSON contract other tools read, and its renderings for
//! people ([`table`]) and for documents ([`markdown`]).
//!
//! The JSON shape is versioned by [`SCHEMA_VERSION`]: a top-level `summary`,
//! a `groups` array sorted by `count` descending and a `notes` table, the
//! text of each shared line the groups' hints name ([`Hint::notes`]),
//! written once. Every report — replay's, the sidecar's `/report`, merge's
//! — is built the same way, by [`Run::new`] from an aggregate's counters
//! and groups, so they agree field by field. The renderings for people
//! show each group's whole advice ([`Hint::advice`]: its text, then its
//! notes).
//!
//! The renderings for people print every value that came from a log through
//! [`shown`], which escapes control characters (a principal name could carry
//! terminal escape sequences).

pub mod markdown;
pub mod table;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use serde::{Deserialize, Serialize};

use crate::aggregate::timeline::Timeline;
use crate::aggregate::{Finished, Group, List, ListView, Totals, sort_groups};
use crate::classify::{DenyKind, PrincipalKind, Reason};
use crate::hints::{self, Hint};
use crate::input::InputError;

pub use crate::aggregate::MAX_LISTED_ERRORS;

/// Version of the JSON shape. 2: a hint's `text` holds the group's own
/// lines and its `notes` name the shared ones, whose text is in the
/// report's top-level `notes` (in version 1 every group's `text` held them
/// all).
pub const SCHEMA_VERSION: u32 = 2;

/// Groups shown in detail by the table and markdown renderings by default
/// (`--top`); the JSON always holds every group.
pub const DEFAULT_TOP: usize = 25;

/// Totals for the whole run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Records framed (lines, `Records` elements, log events).
    pub records: u64,
    /// Distinct denials in scope.
    pub denials: u64,
    /// Distinct principals among them.
    pub principals: u64,
    /// Principal/action groups.
    pub groups: u64,
    /// Inputs read (files, stdin, objects, log groups).
    pub files: u64,
    /// Bytes scanned (decompressed).
    pub bytes: u64,
    /// Input errors (bad records, corrupt files, unreadable files).
    pub errors: u64,
    /// Input errors by kind.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Records the prefilter passed to the parser.
    pub candidates: u64,
    /// Authentication failures (not denials), by error code.
    pub auth_failures: BTreeMap<String, u64>,
    /// Repeated deliveries dropped (same eventID / sharedEventID).
    pub duplicates: u64,
    /// Denials outside the scope.
    pub out_of_scope: u64,
    /// Denials and authentication failures outside `--since`/`--until`.
    #[serde(default)]
    pub out_of_range: u64,
    /// Records skipped on purpose (Insight events, control messages).
    pub skipped_records: u64,
    /// Files skipped on purpose (digest, Insight, empty), by reason.
    pub skipped_files: BTreeMap<String, u64>,
    /// The scope in force (`all` or globs).
    pub scope: String,
    /// `I/N` when this report covers one shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
}

impl Summary {
    /// The summary of a run: its counters, and what its groups add up to.
    /// The one place a summary is built.
    pub fn new(t: &Totals, groups: &[Group], scope: String, shard: Option<String>) -> Summary {
        let mut principals: Vec<&str> = groups.iter().map(|g| g.principal()).collect();
        principals.sort_unstable();
        principals.dedup();
        Summary {
            records: t.records_all(),
            denials: groups.iter().map(|g| g.count).sum(),
            principals: principals.len() as u64,
            groups: groups.len() as u64,
            files: t.files,
            bytes: t.bytes_all(),
            errors: t.errors_all(),
            errors_by_kind: t.errors_by_kind.clone(),
            candidates: t.candidates,
            auth_failures: t.auth_failures.clone(),
            duplicates: t.duplicates,
            out_of_scope: t.out_of_scope,
            out_of_range: t.out_of_range,
            skipped_records: t.skipped_records,
            skipped_files: t.skipped_files.clone(),
            scope,
            shard,
        }
    }
}

/// A resource and how often it was denied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceCount {
    /// The resource ARN (or the resource text of the message).
    pub arn: String,
    /// Denials on it.
    pub count: u64,
}

/// A reason and how often it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonCount {
    /// Short code (`implicit-identity`, `explicit-scp`, `unknown`).
    pub code: String,
    /// `implicit`, `explicit` or `unknown`.
    pub kind: DenyKind,
    /// The policy type named, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_type: Option<String>,
    /// The denying policy's ARN, if the message names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_arn: Option<String>,
    /// How often.
    pub count: u64,
}

/// What a cut list of a group left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unlisted {
    /// Denials whose value is not listed (for `accounts`: deliveries).
    pub count: u64,
    /// About how many distinct values they are.
    pub distinct_estimate: u64,
}

/// One principal/action group as reported. A list, count or value that
/// is empty, 0 or null is left out of the JSON (version 2), and read back
/// as that.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportGroup {
    /// The principal (role ARN for assumed-role sessions).
    pub principal: String,
    /// What kind of principal.
    pub principal_kind: PrincipalKind,
    /// The principal's account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_account: Option<String>,
    /// The denied IAM action.
    pub action: String,
    /// Distinct denial events.
    pub count: u64,
    /// Resources, most denied first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceCount>,
    /// Session ARNs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<String>,
    /// Reasons, most frequent first.
    pub reasons: Vec<ReasonCount>,
    /// Called APIs when they differ from the action.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<String>,
    /// Accounts that recorded the events.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    /// Regions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// VPC endpoints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vpc_endpoints: Vec<String>,
    /// Error codes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_codes: Vec<String>,
    /// Roles or instance profiles the requests passed when their messages
    /// named no action (an encoded EC2 `RunInstances` with an instance
    /// profile). Absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passes: Vec<String>,
    /// Lists that were cut (at `--list-max` values): what they left out,
    /// by list name (`resources`, `sessions`, …). Absent when nothing was.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unlisted: BTreeMap<String, Unlisted>,
    /// Earliest event time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    /// Latest event time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// Encoded authorization messages among them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub encoded: u64,
    /// Messages truncated at 1024 characters among them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub truncated: u64,
    /// The message of the earliest event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example_message: Option<String>,
    /// What to do; its policy documents are named by their index in the
    /// report's `policies`.
    pub hint: ReportHint,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// An input error as listed in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportError {
    /// Where: file path, `-`, `s3://…`.
    pub origin: String,
    /// Byte offset in the decoded stream.
    pub offset: u64,
    /// Kind (metric label).
    pub kind: String,
    /// What happened.
    pub detail: String,
}

impl From<&InputError> for ReportError {
    fn from(e: &InputError) -> Self {
        ReportError {
            origin: e.origin.clone(),
            offset: e.offset,
            kind: e.kind.as_str().to_string(),
            detail: e.detail.clone(),
        }
    }
}

/// Where a shard's state for `merge` was written, beside its report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardStateFile {
    /// The file's name, in the report's directory.
    pub file: String,
    /// Event records it holds.
    pub events: u64,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its XXH3-64 checksum, in hex.
    pub xxh3: String,
    /// The inputs the shard's run was given, as written (every shard of a
    /// set is given the same and takes its part of them).
    #[serde(default)]
    pub inputs: Vec<String>,
    /// The run's `--since`/`--until` range (`all` when unbounded).
    #[serde(default)]
    pub range: String,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub version: u32,
    /// Totals.
    pub summary: Summary,
    /// Groups, by count descending.
    pub groups: Vec<ReportGroup>,
    /// The text of every note the groups' hints name, by id
    /// ([`hints::note`]). Absent when no group names one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub notes: BTreeMap<String, String>,
    /// Every distinct policy document the groups' hints name, once, in the
    /// order they are first named; a hint's `policy` and `resource_policy`
    /// are indices into it. Absent when no group has one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<serde_json::Value>,
    /// The first [`MAX_LISTED_ERRORS`] input errors.
    pub errors: Vec<ReportError>,
    /// Shard reports only (`--shard`): the file beside the report holding
    /// what `denytrail merge` needs to dedup across shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_state: Option<ShardStateFile>,
    /// Denials over time by action (the web page's chart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Timeline>,
    /// `watch` only: per configured source, the Unix time the newest record
    /// was read from it (as `denytrail_last_event_timestamp_seconds`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub last_event: BTreeMap<String, f64>,
    /// `watch` only: its groups and counters as its aggregate holds them,
    /// so that `denytrail merge` of several replicas' reports gives the
    /// groups of one process that read everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<Box<crate::aggregate::shard::ShardState>>,
}

fn strings(l: ListView<'_>) -> Vec<String> {
    l.iter().map(str::to_string).collect()
}

/// A hint as a report holds it: each policy document is an index into the
/// report's `policies` (many groups need the same one).
pub type ReportHint = Hint<Option<u32>>;

impl ReportGroup {
    /// Turn an aggregated group into its reported form, with its hint, its
    /// policy documents added to `policies`.
    pub fn from_group(g: &Group, policies: &mut Policies) -> ReportGroup {
        let mut resources: Vec<ResourceCount> = g
            .resources()
            .counts()
            .map(|(arn, count)| ResourceCount {
                arn: arn.to_string(),
                count,
            })
            .collect();
        resources.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.arn.cmp(&b.arn)));
        let mut reasons: Vec<ReasonCount> = g
            .reasons()
            .reasons()
            .map(|(r, count)| reason_count(&r, count))
            .collect();
        reasons.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.code.cmp(&b.code)));
        let unlisted = List::ALL
            .iter()
            .filter_map(|&l| {
                let v = g.list(l);
                v.is_cut().then(|| {
                    (
                        l.name().to_string(),
                        Unlisted {
                            count: v.unlisted(),
                            distinct_estimate: v.unlisted_distinct(),
                        },
                    )
                })
            })
            .collect();
        ReportGroup {
            principal: g.principal().to_string(),
            principal_kind: g.principal_kind,
            principal_account: g.principal_account().map(str::to_string),
            action: g.action().to_string(),
            count: g.count,
            resources,
            sessions: strings(g.sessions()),
            reasons,
            via: strings(g.via()),
            accounts: strings(g.accounts()),
            regions: strings(g.regions()),
            vpc_endpoints: strings(g.vpc_endpoints()),
            error_codes: strings(g.error_codes()),
            passes: strings(g.passes()),
            unlisted,
            first_seen: g.first_seen().map(str::to_string),
            last_seen: g.last_seen().map(str::to_string),
            encoded: g.encoded,
            truncated: g.truncated,
            example_message: g.example_message(),
            hint: hints::hint_for(g).map_documents(|d| policies.add(d)),
        }
    }
}

fn reason_count(r: &Reason, count: u64) -> ReasonCount {
    ReasonCount {
        code: r.code(),
        kind: r.kind,
        policy_type: r.policy_type.map(|p| p.phrase().to_string()),
        policy_arn: r.policy_arn.clone(),
        count,
    }
}

/// Everything a run found, before it is rendered: the summary, the groups
/// (sorted as reports show them), the listed errors. Renderings read it
/// without building every reported group at once: the JSON is written a
/// group at a time, the table and markdown build only the groups they show,
/// so a report of a million groups costs the groups, not their rendering.
#[derive(Debug, Clone)]
pub struct Run {
    /// Totals.
    pub summary: Summary,
    /// Groups, by count descending.
    pub groups: Vec<Group>,
    /// The first [`MAX_LISTED_ERRORS`] input errors.
    pub errors: Vec<ReportError>,
    /// Shard runs: the state file beside the report.
    pub shard_state: Option<ShardStateFile>,
    /// Denials over time by action.
    pub timeline: Timeline,
    /// `watch` only: per source, the Unix time its newest record was read.
    pub last_event: BTreeMap<String, f64>,
}

impl Run {
    /// What an aggregate counted, as a run over `scope` (and shard
    /// `shard`). The one place a report's content is put together.
    pub fn new(f: Finished, scope: String, shard: Option<String>) -> Run {
        let Finished {
            totals,
            mut groups,
            errors,
            timeline,
            ..
        } = f;
        sort_groups(&mut groups);
        let summary = Summary::new(&totals, &groups, scope, shard);
        Run {
            summary,
            groups,
            errors: errors
                .iter()
                .take(MAX_LISTED_ERRORS)
                .map(ReportError::from)
                .collect(),
            shard_state: None,
            timeline,
            last_event: BTreeMap::new(),
        }
    }

    /// The whole report, every group rendered.
    pub fn report(&self) -> Report {
        self.report_top(0)
    }

    /// The report with only the `top` largest groups rendered (0: all): a
    /// page shows a few thousand at most.
    pub fn report_top(&self, top: usize) -> Report {
        let (groups, policies) = self.top(top);
        Report {
            version: SCHEMA_VERSION,
            summary: self.summary.clone(),
            notes: notes_of(&groups),
            policies,
            groups,
            errors: self.errors.clone(),
            shard_state: self.shard_state.clone(),
            timeline: Some(self.timeline.clone()),
            last_event: self.last_event.clone(),
            replica: None,
        }
    }

    /// Write the JSON report to `w`, a group at a time.
    pub fn write_json(&self, w: &mut dyn Write) -> io::Result<()> {
        write_json(
            w,
            &self.summary,
            Groups::Aggregated(&self.groups),
            &self.errors,
            Tail {
                shard_state: self.shard_state.as_ref(),
                timeline: Some(&self.timeline),
                last_event: &self.last_event,
                replica: None,
            },
        )
    }

    /// The table form, for people: the summary, the top principals and
    /// actions, and the `top` largest groups in detail (0: all).
    pub fn to_table(&self, top: usize) -> String {
        let (shown, policies) = self.top(top);
        let notes = notes_of(&shown);
        table::render(&self.view(&shown, &notes, &policies))
    }

    /// The markdown form, for tickets and wikis, with the `top` largest
    /// groups (0: all).
    pub fn to_markdown(&self, top: usize) -> String {
        let (shown, policies) = self.top(top);
        let notes = notes_of(&shown);
        markdown::render(&self.view(&shown, &notes, &policies))
    }

    /// The `top` largest groups (0: all) as reported, and the policy
    /// documents they name.
    fn top(&self, top: usize) -> (Vec<ReportGroup>, Vec<serde_json::Value>) {
        let n = if top == 0 {
            self.groups.len()
        } else {
            top.min(self.groups.len())
        };
        let mut policies = Policies::default();
        let groups = self.groups[..n]
            .iter()
            .map(|g| ReportGroup::from_group(g, &mut policies))
            .collect();
        (groups, policies.values())
    }

    fn view<'a>(
        &'a self,
        shown: &'a [ReportGroup],
        notes: &'a BTreeMap<String, String>,
        policies: &'a [serde_json::Value],
    ) -> View<'a> {
        View {
            summary: &self.summary,
            shown,
            notes,
            policies,
            total: self.groups.len(),
            rollup: Rollup::of(
                self.groups
                    .iter()
                    .map(|g| (g.principal(), g.action(), g.count)),
            ),
            errors: &self.errors,
        }
    }
}

impl Report {
    /// The JSON form: compact, one group per line.
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        let _ = write_json(
            &mut out,
            &self.summary,
            Groups::Reported {
                groups: &self.groups,
                notes: &self.notes,
                policies: &self.policies,
            },
            &self.errors,
            Tail {
                shard_state: self.shard_state.as_ref(),
                timeline: self.timeline.as_ref(),
                last_event: &self.last_event,
                replica: self.replica.as_deref(),
            },
        );
        String::from_utf8(out).unwrap_or_default()
    }

    /// The table form (see [`Run::to_table`]).
    pub fn to_table(&self, top: usize) -> String {
        table::render(&self.view(top))
    }

    /// The markdown form (see [`Run::to_markdown`]).
    pub fn to_markdown(&self, top: usize) -> String {
        markdown::render(&self.view(top))
    }

    fn view(&self, top: usize) -> View<'_> {
        let n = if top == 0 {
            self.groups.len()
        } else {
            top.min(self.groups.len())
        };
        View {
            summary: &self.summary,
            shown: &self.groups[..n],
            notes: &self.notes,
            policies: &self.policies,
            total: self.groups.len(),
            rollup: Rollup::of(
                self.groups
                    .iter()
                    .map(|g| (g.principal.as_str(), g.action.as_str(), g.count)),
            ),
            errors: &self.errors,
        }
    }
}

/// What the renderings for people show.
pub(crate) struct View<'a> {
    pub summary: &'a Summary,
    /// The groups shown in detail, largest first.
    pub shown: &'a [ReportGroup],
    /// The notes their hints name, by id.
    pub notes: &'a BTreeMap<String, String>,
    /// The policy documents their hints name, by index.
    pub policies: &'a [serde_json::Value],
    /// All groups.
    pub total: usize,
    pub rollup: Rollup<'a>,
    pub errors: &'a [ReportError],
}

/// The text of each note `groups` name, by id: a report's `notes`.
pub fn notes_of<'a>(groups: impl IntoIterator<Item = &'a ReportGroup>) -> BTreeMap<String, String> {
    let mut ids = NoteIds::default();
    for g in groups {
        ids.add(&g.hint);
    }
    ids.table()
}

/// The notes named so far, as groups are written.
#[derive(Default)]
struct NoteIds(BTreeSet<Cow<'static, str>>);

impl NoteIds {
    fn add<D>(&mut self, h: &Hint<D>) {
        for id in &h.notes {
            if !self.0.contains(id) {
                self.0.insert(id.clone());
            }
        }
    }

    fn table(self) -> BTreeMap<String, String> {
        self.0
            .into_iter()
            .filter_map(|id| hints::note(&id).map(|t| (id.into_owned(), t.into_owned())))
            .collect()
    }
}

/// The distinct policy documents of a report, each kept once (as its
/// compact JSON) and named by its index, in the order groups name them.
/// The texts are packed in chunks of [`POLICY_CHUNK`] bytes: memory grows
/// by the chunk with the texts, never by doubling one buffer.
#[derive(Default)]
pub struct Policies {
    /// The documents' texts, one after the other in each chunk.
    chunks: Vec<String>,
    /// Each document's chunk and span in it, by index.
    spans: Vec<(u32, u32, u32)>,
    /// The indices, by the hash of their text.
    index: hashbrown::HashTable<u32>,
    hasher: foldhash::fast::FixedState,
    /// The document being added, serialised.
    scratch: Vec<u8>,
}

/// The size of a chunk of [`Policies`] texts (a longer text has a chunk of
/// its own).
const POLICY_CHUNK: usize = 256 << 10;

impl std::fmt::Debug for Policies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policies")
            .field("documents", &self.spans.len())
            .field("chunks", &self.chunks.len())
            .finish()
    }
}

/// The text at `span` in `chunks`.
fn span_text(chunks: &[String], (c, a, b): (u32, u32, u32)) -> &str {
    &chunks[c as usize][a as usize..b as usize]
}

impl Policies {
    /// The index of `doc` (added if new); `None` for a null document.
    pub fn add(&mut self, doc: serde_json::Value) -> Option<u32> {
        use std::hash::BuildHasher;
        if doc.is_null() {
            return None;
        }
        self.scratch.clear();
        // Writing a `Value` to memory cannot fail.
        sonic_rs::to_writer(&mut self.scratch, &doc).ok()?;
        let text = std::str::from_utf8(&self.scratch).ok()?;
        let hash = self.hasher.hash_one(text);
        let Policies {
            chunks,
            spans,
            index,
            hasher,
            ..
        } = self;
        if let Some(&i) = index.find(hash, |&i| span_text(chunks, spans[i as usize]) == text) {
            return Some(i);
        }
        let fits = chunks
            .last()
            .is_some_and(|c| c.capacity() - c.len() >= text.len());
        if !fits {
            chunks.push(String::with_capacity(POLICY_CHUNK.max(text.len())));
        }
        let last = chunks.len() - 1;
        let chunk = &mut chunks[last];
        let start = chunk.len();
        chunk.push_str(text);
        let next = spans.len() as u32;
        spans.push((last as u32, start as u32, chunk.len() as u32));
        let (chunks, spans) = (&*chunks, &*spans);
        index.insert_unique(hash, next, |&i| {
            hasher.hash_one(span_text(chunks, spans[i as usize]))
        });
        Some(next)
    }

    /// The documents' compact JSON, by index.
    fn texts(&self) -> impl Iterator<Item = &str> {
        self.spans.iter().map(|&s| span_text(&self.chunks, s))
    }

    /// The documents, by index.
    fn values(self) -> Vec<serde_json::Value> {
        self.texts()
            .map(|t| serde_json::from_str(t).unwrap_or_default())
            .collect()
    }
}

/// The groups a report writes: built and named already (a [`Report`]), or
/// aggregated ones, reported as they are written (a [`Run`]: the notes and
/// policies they name are collected on the way).
enum Groups<'a> {
    Reported {
        groups: &'a [ReportGroup],
        notes: &'a BTreeMap<String, String>,
        policies: &'a [serde_json::Value],
    },
    Aggregated(&'a [Group]),
}

/// The fields written after the errors.
struct Tail<'a> {
    shard_state: Option<&'a ShardStateFile>,
    timeline: Option<&'a Timeline>,
    last_event: &'a BTreeMap<String, f64>,
    replica: Option<&'a crate::aggregate::shard::ShardState>,
}

/// The JSON layout: one object, the summary on one line, each group on a
/// line of its own (compact, so that a report of a million groups stays a
/// stream a tool can read line by line and people can grep), then the
/// notes and the policy documents the groups name, one a line.
fn write_json(
    w: &mut dyn Write,
    summary: &Summary,
    groups: Groups<'_>,
    errors: &[ReportError],
    tail: Tail<'_>,
) -> io::Result<()> {
    write!(w, "{{\"version\":{SCHEMA_VERSION},\n\"summary\":")?;
    serde_json::to_writer(&mut *w, summary)?;
    w.write_all(b",\n\"groups\":[")?;
    let sep = |i: usize| if i == 0 { &b"\n"[..] } else { &b",\n"[..] };
    let (collected_notes, policy_texts);
    let (notes, policies): (&BTreeMap<String, String>, Vec<Cow<'_, str>>) = match groups {
        Groups::Reported {
            groups,
            notes,
            policies,
        } => {
            for (i, g) in groups.iter().enumerate() {
                w.write_all(sep(i))?;
                serde_json::to_writer(&mut *w, g)?;
            }
            let texts = policies.iter().map(|p| Cow::Owned(p.to_string()));
            (notes, texts.collect())
        }
        Groups::Aggregated(groups) => {
            let mut ids = NoteIds::default();
            let mut docs = Policies::default();
            let mut line = Vec::new();
            for (i, g) in groups.iter().enumerate() {
                w.write_all(sep(i))?;
                let g = ReportGroup::from_group(g, &mut docs);
                line.clear();
                sonic_rs::to_writer(&mut line, &g).map_err(io::Error::other)?;
                w.write_all(&line)?;
                ids.add(&g.hint);
            }
            collected_notes = ids.table();
            policy_texts = docs;
            (
                &collected_notes,
                policy_texts.texts().map(Cow::Borrowed).collect(),
            )
        }
    };
    w.write_all(b"\n]")?;
    if !notes.is_empty() {
        w.write_all(b",\n\"notes\":{")?;
        for (i, (id, text)) in notes.iter().enumerate() {
            w.write_all(sep(i))?;
            serde_json::to_writer(&mut *w, id)?;
            w.write_all(b":")?;
            serde_json::to_writer(&mut *w, text)?;
        }
        w.write_all(b"\n}")?;
    }
    if !policies.is_empty() {
        w.write_all(b",\n\"policies\":[")?;
        for (i, doc) in policies.iter().enumerate() {
            w.write_all(sep(i))?;
            w.write_all(doc.as_bytes())?;
        }
        w.write_all(b"\n]")?;
    }
    w.write_all(b",\n\"errors\":[")?;
    for (i, e) in errors.iter().enumerate() {
        w.write_all(sep(i))?;
        serde_json::to_writer(&mut *w, e)?;
    }
    w.write_all(b"\n]")?;
    if let Some(s) = tail.shard_state {
        w.write_all(b",\n\"shard_state\":")?;
        serde_json::to_writer(&mut *w, s)?;
    }
    if let Some(t) = tail.timeline {
        w.write_all(b",\n\"timeline\":")?;
        serde_json::to_writer(&mut *w, t)?;
    }
    if !tail.last_event.is_empty() {
        w.write_all(b",\n\"last_event\":")?;
        serde_json::to_writer(&mut *w, tail.last_event)?;
    }
    if let Some(r) = tail.replica {
        w.write_all(b",\n\"replica\":")?;
        serde_json::to_writer(&mut *w, r)?;
    }
    w.write_all(b"}\n")
}

/// `s` with every control character (C0, DEL, C1) escaped, so that a value
/// read from a log cannot move the cursor, change colours or retitle the
/// terminal when printed.
///
/// ```
/// use denytrail::report::shown;
/// assert_eq!(shown("a\u{1b}[31mb"), "a\\u{1b}[31mb");
/// assert_eq!(shown("plain/ü"), "plain/ü");
/// ```
pub fn shown(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            o.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            o.push(c);
        }
    }
    Cow::Owned(o)
}

/// One line describing a reason.
pub fn describe_reason(r: &ReasonCount) -> String {
    let mut s = match (r.kind, &r.policy_type) {
        (DenyKind::Explicit, Some(p)) => format!("explicit deny in {}", with_article(p)),
        (DenyKind::Implicit, Some(p)) => format!("no {p} allows it"),
        (DenyKind::Explicit, None) => "explicit deny".to_string(),
        (DenyKind::Implicit, None) => "no policy allows it".to_string(),
        (DenyKind::Unknown, _) => "not stated in the message".to_string(),
    };
    if let Some(a) = &r.policy_arn {
        s.push_str(&format!(" ({a})"));
    }
    s
}

/// `a service control policy`, `an identity-based policy`.
fn with_article(p: &str) -> String {
    let vowel = p.starts_with(['a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U']);
    format!("{} {p}", if vowel { "an" } else { "a" })
}

/// `1.2 MB` style sizes.
pub fn human_bytes(b: u64) -> String {
    const U: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1000.0 && i < U.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

/// Denials and groups per principal, and denials and principals per
/// action, largest first: what the renderings summarise a big report by.
pub(crate) struct Rollup<'a> {
    /// `(principal, denials, groups)`.
    pub principals: Vec<(&'a str, u64, u64)>,
    /// `(action, denials, principals)`.
    pub actions: Vec<(&'a str, u64, u64)>,
}

impl<'a> Rollup<'a> {
    /// From every group's `(principal, action, count)`.
    pub(crate) fn of(groups: impl Iterator<Item = (&'a str, &'a str, u64)>) -> Rollup<'a> {
        let mut p: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        let mut a: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for (principal, action, count) in groups {
            let e = p.entry(principal).or_default();
            e.0 += count;
            e.1 += 1;
            // One group per principal/action: a group is one principal.
            let e = a.entry(action).or_default();
            e.0 += count;
            e.1 += 1;
        }
        let sorted = |m: BTreeMap<&'a str, (u64, u64)>| {
            let mut v: Vec<(&'a str, u64, u64)> =
                m.into_iter().map(|(k, (d, n))| (k, d, n)).collect();
            v.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(y.0)));
            v
        };
        Rollup {
            principals: sorted(p),
            actions: sorted(a),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        // Groups are written with sonic-rs for speed; the report promises
        // serde_json's compact form: the same bytes for any text (control
        // characters, quotes, backslashes, any Unicode) and any count.
        #[test]
        fn sonic_writes_what_serde_json_writes(
            s in proptest::prelude::any::<String>(),
            t in "[\\x00-\\x7f\u{80}-\u{10ffff}\"\\\\]{0,40}",
            n in proptest::prelude::any::<u64>(),
        ) {
            let v = (s, t, n, Some(n as u32), None::<String>, vec![1.5f64]);
            let mut sonic = Vec::new();
            sonic_rs::to_writer(&mut sonic, &v).unwrap();
            proptest::prop_assert_eq!(sonic, serde_json::to_vec(&v).unwrap());
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_234_567), "1.2 MB");
    }

    #[test]
    fn empty_report_round_trips() {
        let run = Run::new(
            crate::aggregate::Aggregator::builder().build().finish(),
            "all".into(),
            None,
        );
        let r = run.report();
        let back: Report = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(back, r);
        let mut streamed = Vec::new();
        run.write_json(&mut streamed).unwrap();
        assert_eq!(String::from_utf8(streamed).unwrap(), r.to_json());
        assert!(run.to_table(DEFAULT_TOP).contains("0 denials"));
        assert_eq!(run.to_table(DEFAULT_TOP), r.to_table(DEFAULT_TOP));
        assert!(r.to_markdown(DEFAULT_TOP).starts_with("# denytrail report"));
    }

    #[test]
    fn a_group_leaves_out_what_is_empty() {
        use crate::classify::{Denial, PolicyType, PrincipalKind};
        let d = Denial {
            principal: "arn:aws:iam::111122223333:role/app".into(),
            principal_kind: PrincipalKind::Role,
            principal_account: Some("111122223333".into()),
            session: None,
            action: "iam:ListRoles".into(),
            via: None,
            passes: None,
            resource: None,
            reason: Reason {
                kind: DenyKind::Implicit,
                policy_type: Some(PolicyType::IdentityBased),
                policy_arn: None,
            },
            account: Some("111122223333".into()),
            region: None,
            event_time: None,
            event_id: None,
            shared_event_id: None,
            vpc_endpoint_id: None,
            error_code: Some("AccessDenied".into()),
            event_source: None,
            encoded: false,
            truncated: false,
            message: "denied".into(),
        };
        let mut agg = crate::aggregate::Aggregator::builder().build();
        agg.add(&d);
        let r = Run::new(agg.finish(), "all".into(), None).report();
        let json = r.to_json();
        let line = json
            .lines()
            .find(|l| l.starts_with("{\"principal\""))
            .unwrap();
        for absent in [
            "\"resources\"",
            "\"sessions\"",
            "\"via\"",
            "\"regions\"",
            "\"vpc_endpoints\"",
            "\"first_seen\"",
            "\"encoded\"",
            "\"truncated\"",
            "\"policy_arn\"",
            "\"resource_policy\"",
        ] {
            assert!(!line.contains(absent), "{absent} in {line}");
        }
        for present in [
            "\"accounts\":[\"111122223333\"]",
            "\"policy_type\":\"identity-based policy\"",
            "\"example_message\":\"denied\"",
            "\"policy\":0}",
        ] {
            assert!(line.contains(present), "{present} not in {line}");
        }
        // Read back, what was left out is empty again.
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert!(back.groups[0].via.is_empty() && back.groups[0].hint.resource_policy.is_none());
        // Its policy is the report's first document.
        assert_eq!(r.policies.len(), 1);
        assert_eq!(r.policies[0]["Statement"][0]["Action"], "iam:ListRoles");
        // The notes its hint names are in the table, once.
        assert!(!r.groups[0].hint.notes.is_empty());
        for id in &r.groups[0].hint.notes {
            assert!(r.notes.contains_key(id.as_ref()), "{id}");
            assert_eq!(json.matches(&format!("\n\"{id}\":")).count(), 1, "{id}");
        }
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(shown("x\u{7}\u{9b}y\r"), "x\\u{7}\\u{9b}y\\u{d}");
        assert!(matches!(shown("fine"), Cow::Borrowed(_)));
    }

    #[test]
    fn reasons_read_as_english() {
        let r = |p: &str| ReasonCount {
            code: String::new(),
            kind: DenyKind::Explicit,
            policy_type: Some(p.into()),
            policy_arn: None,
            count: 1,
        };
        assert_eq!(
            describe_reason(&r("identity-based policy")),
            "explicit deny in an identity-based policy"
        );
        assert_eq!(
            describe_reason(&r("service control policy")),
            "explicit deny in a service control policy"
        );
    }
}
