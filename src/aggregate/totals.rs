//! The counters of a run that are not groups: records, bytes, errors,
//! authentication failures, duplicates, what was dropped and why. The
//! report's `summary` is built from them in one place
//! ([`crate::report::Summary::new`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::input::InputErrorKind;
use crate::scan::ScanStats;
use crate::source::SourceKind;

/// Why a whole input was skipped (the `skipped_files` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkippedFile {
    /// A CloudTrail digest file.
    Digest,
    /// A CloudTrail Insight file.
    Insight,
    /// Nothing but white space.
    Empty,
}

impl SkippedFile {
    /// The key in `summary.skipped_files`.
    pub fn as_str(self) -> &'static str {
        match self {
            SkippedFile::Digest => "cloudtrail-digest",
            SkippedFile::Insight => "cloudtrail-insight",
            SkippedFile::Empty => "empty",
        }
    }
}

/// The counters. Every field adds up across workers, shards and restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Records framed, by source kind.
    pub records: BTreeMap<String, u64>,
    /// Bytes scanned, by source kind.
    pub bytes: BTreeMap<String, u64>,
    /// Records the prefilter passed to the parser.
    pub candidates: u64,
    /// Denials outside the scope.
    pub out_of_scope: u64,
    /// Denials and authentication failures outside the time range.
    pub out_of_range: u64,
    /// Records skipped on purpose.
    pub skipped_records: u64,
    /// Inputs read (files, stdin, objects, log groups).
    pub files: u64,
    /// Inputs skipped on purpose, by reason.
    pub skipped_files: BTreeMap<String, u64>,
    /// Input errors by kind.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Authentication failures by error code.
    pub auth_failures: BTreeMap<String, u64>,
    /// Repeated deliveries dropped (denials and authentication failures).
    pub duplicates: u64,
}

impl Totals {
    /// Count what scanning a piece of input from a `kind` source found.
    pub fn scanned(&mut self, kind: SourceKind, s: &ScanStats) {
        if s.records > 0 {
            *self.records.entry(kind.as_str().to_string()).or_insert(0) += s.records;
        }
        if s.bytes > 0 {
            *self.bytes.entry(kind.as_str().to_string()).or_insert(0) += s.bytes;
        }
        self.candidates += s.candidates;
        self.out_of_scope += s.out_of_scope;
        self.out_of_range += s.out_of_range;
        self.skipped_records += s.skipped;
    }

    /// One input error.
    pub fn error(&mut self, kind: InputErrorKind) {
        *self
            .errors_by_kind
            .entry(kind.as_str().to_string())
            .or_insert(0) += 1;
    }

    /// One whole input skipped on purpose.
    pub fn skipped_file(&mut self, why: SkippedFile) {
        *self
            .skipped_files
            .entry(why.as_str().to_string())
            .or_insert(0) += 1;
    }

    /// All records, all kinds.
    pub fn records_all(&self) -> u64 {
        self.records.values().sum()
    }

    /// All bytes, all kinds.
    pub fn bytes_all(&self) -> u64 {
        self.bytes.values().sum()
    }

    /// All input errors.
    pub fn errors_all(&self) -> u64 {
        self.errors_by_kind.values().sum()
    }

    /// Add another run's counters.
    pub fn merge(&mut self, o: &Totals) {
        add_maps(&mut self.records, &o.records);
        add_maps(&mut self.bytes, &o.bytes);
        self.candidates += o.candidates;
        self.out_of_scope += o.out_of_scope;
        self.out_of_range += o.out_of_range;
        self.skipped_records += o.skipped_records;
        self.files += o.files;
        add_maps(&mut self.skipped_files, &o.skipped_files);
        add_maps(&mut self.errors_by_kind, &o.errors_by_kind);
        add_maps(&mut self.auth_failures, &o.auth_failures);
        self.duplicates += o.duplicates;
    }
}

fn add_maps(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_insert(0) += v;
    }
}
