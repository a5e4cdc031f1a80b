//! The replay driver: expand inputs, scan them in parallel, aggregate.
//!
//! Files are read in parallel across a work-stealing pool (rayon); each
//! worker streams its file through [`Scanner::scan_stream`] and sends events
//! in batches over a bounded channel to the one aggregating thread, so
//! dedup is exact and memory stays flat.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use rayon::prelude::*;

use crate::aggregate::Aggregator;
use crate::classify::Denial;
use crate::frame::{Format, SkipReason};
use crate::input::{InputError, InputErrorKind};
use crate::report::{Report, Summary};
use crate::scan::{ScanEvent, ScanStats, Scanner, StreamSummary};

/// One input to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A file on disk; `key` is the stable name used for sharding (the path
    /// relative to the directory argument it was found under).
    File {
        /// Where to open it.
        path: PathBuf,
        /// Stable sharding key.
        key: String,
    },
    /// Standard input.
    Stdin,
    /// An input that knows how to scan itself (an S3 object, a CloudWatch
    /// Logs log group over a time range).
    External(std::sync::Arc<dyn ExternalInput>),
}

impl PartialEq for dyn ExternalInput {
    fn eq(&self, other: &Self) -> bool {
        self.origin() == other.origin()
    }
}
impl Eq for dyn ExternalInput {}

/// An input read from elsewhere than the local disk. Implementations do
/// their own I/O (possibly blocking on an async runtime: replay workers are
/// plain threads) and feed what they read through the scanner.
pub trait ExternalInput: Send + Sync + std::fmt::Debug {
    /// How the input is named in errors and reports (`s3://bucket/key`).
    fn origin(&self) -> String;
    /// Stable sharding key (the object key, the log group name).
    fn key(&self) -> String;
    /// Read the input and scan it, reporting events to `out` and bytes read
    /// to `progress`. Failures to read are reported as `ScanEvent::Error`.
    fn scan(
        &self,
        scanner: &Scanner,
        progress: &dyn Progress,
        out: &mut dyn FnMut(ScanEvent),
    ) -> StreamSummary;
}

impl Input {
    /// How the input is named in errors and reports.
    pub fn origin(&self) -> String {
        match self {
            Input::File { path, .. } => path.display().to_string(),
            Input::Stdin => "-".to_string(),
            Input::External(e) => e.origin(),
        }
    }

    /// The stable key used for sharding.
    pub fn key(&self) -> String {
        match self {
            Input::File { key, .. } => key.clone(),
            Input::Stdin => "-".to_string(),
            Input::External(e) => e.key(),
        }
    }
}

/// A shard: this run takes the inputs whose key hashes to `index` mod `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based index.
    pub index: u32,
    /// Number of shards (≥ 1).
    pub count: u32,
}

/// A `--shard` value that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid shard {0:?}: expected I/N with 0 <= I < N, e.g. 0/4 (JOB_COMPLETION_INDEX/completions)"
)]
pub struct ShardError(pub String);

impl std::str::FromStr for Shard {
    type Err = ShardError;
    fn from_str(s: &str) -> Result<Shard, ShardError> {
        let bad = || ShardError(s.to_string());
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Does this shard take the input named `key`? Stable across runs,
    /// machines and versions (FNV-1a of the key).
    ///
    /// ```
    /// use denytrail::replay::Shard;
    /// let shards: Vec<Shard> = (0..3).map(|i| Shard { index: i, count: 3 }).collect();
    /// let takers = shards.iter().filter(|s| s.takes("AWSLogs/1/x.json.gz")).count();
    /// assert_eq!(takers, 1);
    /// ```
    pub fn takes(&self, key: &str) -> bool {
        (fnv1a(key.as_bytes()) % u64::from(self.count)) as u32 == self.index
    }
}

/// FNV-1a, 64 bit: a fixed, documented hash so shard assignment never
/// changes with the Rust version.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Expand command-line arguments into inputs: files as given, directories
/// walked recursively in sorted order, `-` for stdin. Paths that cannot be
/// read become errors; the rest go on.
pub fn expand_inputs(args: &[String]) -> (Vec<Input>, Vec<InputError>) {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for a in args {
        if a == "-" {
            inputs.push(Input::Stdin);
            continue;
        }
        let p = Path::new(a);
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => {
                for entry in walkdir::WalkDir::new(p)
                    .sort_by_file_name()
                    .follow_links(true)
                {
                    match entry {
                        Ok(e) if e.file_type().is_file() => {
                            let key = e
                                .path()
                                .strip_prefix(p)
                                .unwrap_or(e.path())
                                .to_string_lossy()
                                .into_owned();
                            inputs.push(Input::File {
                                path: e.path().to_path_buf(),
                                key,
                            });
                        }
                        Ok(_) => {}
                        Err(e) => errors.push(InputError {
                            origin: e
                                .path()
                                .map_or_else(|| a.clone(), |p| p.display().to_string()),
                            offset: 0,
                            kind: InputErrorKind::Unreadable,
                            detail: format!("cannot walk: {e}"),
                        }),
                    }
                }
            }
            Ok(_) => inputs.push(Input::File {
                path: p.to_path_buf(),
                key: a.clone(),
            }),
            Err(e) => errors.push(InputError {
                origin: a.clone(),
                offset: 0,
                kind: InputErrorKind::Unreadable,
                detail: format!("cannot open: {e} (check the path and its permissions)"),
            }),
        }
    }
    (inputs, errors)
}

/// Settings of one replay run.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// Take only this shard of the inputs.
    pub shard: Option<Shard>,
    /// Keep every denial event, repeated deliveries included, in the report
    /// (shard reports, for merge).
    pub keep_denials: bool,
    /// Plain newline-delimited files larger than this are split into
    /// line-aligned parts that workers scan in parallel; 0 never splits.
    pub split_bytes: u64,
}

/// Default for [`ReplayOptions::split_bytes`]: 64 MiB.
pub const DEFAULT_SPLIT_BYTES: u64 = 64 << 20;

/// What a replay observer is told as the run goes.
pub trait Progress: Sync {
    /// `n` more input bytes were read.
    fn read(&self, n: u64);
    /// An input error occurred (already counted).
    fn error(&self, e: &InputError);
}

/// A progress observer that does nothing.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn read(&self, _: u64) {}
    fn error(&self, _: &InputError) {}
}

struct Counting<'a, R> {
    inner: R,
    progress: &'a dyn Progress,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.read(n as u64);
        Ok(n)
    }
}

enum Msg {
    Events(Vec<ScanEvent>),
    /// A task is done; `bool`: it was the input's first (or only) part, so
    /// the input counts once among the files.
    Done(StreamSummary, bool),
    Unreadable(InputError),
}

const BATCH: usize = 1024;

/// Scan `inputs` with `scanner` and build the report.
pub fn replay(
    scanner: &Scanner,
    inputs: Vec<Input>,
    mut pre_errors: Vec<InputError>,
    opts: &ReplayOptions,
    progress: &dyn Progress,
) -> Report {
    let inputs: Vec<Input> = match opts.shard {
        Some(s) => inputs.into_iter().filter(|i| s.takes(&i.key())).collect(),
        None => inputs,
    };
    let mut summary = Summary {
        scope: scanner.scope().describe(),
        shard: opts.shard.map(|s| s.to_string()),
        ..Summary::default()
    };
    let mut agg = Aggregator::default();
    let mut kept: Vec<Denial> = Vec::new();
    let mut errors: Vec<InputError> = Vec::new();
    let mut stats = ScanStats::default();
    let mut files = 0u64;
    let count_error = |e: InputError, summary: &mut Summary, errors: &mut Vec<InputError>| {
        progress.error(&e);
        summary.errors += 1;
        *summary
            .errors_by_kind
            .entry(e.kind.as_str().to_string())
            .or_insert(0) += 1;
        errors.push(e);
    };
    for e in pre_errors.drain(..) {
        count_error(e, &mut summary, &mut errors);
    }

    let (tx, rx) = mpsc::sync_channel::<Msg>(64);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .build();
    std::thread::scope(|s| {
        let tasks = plan(&inputs, opts.split_bytes);
        s.spawn(move || {
            let work = || {
                tasks.par_iter().for_each_with(tx, |tx, task| {
                    scan_one(scanner, task, tx, progress);
                })
            };
            match &pool {
                Ok(p) => p.install(work),
                Err(_) => work(),
            }
        });
        for msg in rx {
            match msg {
                Msg::Events(evs) => {
                    for ev in evs {
                        match ev {
                            ScanEvent::Denial(d) => {
                                agg.add(&d);
                                // Every copy, repeated deliveries included:
                                // merge dedups across shards as one machine
                                // would (the other copy's account counts).
                                if opts.keep_denials {
                                    kept.push(*d);
                                }
                            }
                            ScanEvent::AuthFailure(a) => {
                                *summary.auth_failures.entry(a.error_code).or_insert(0) += 1;
                            }
                            ScanEvent::Error(e) => count_error(e, &mut summary, &mut errors),
                        }
                    }
                }
                Msg::Done(sum, first) => {
                    files += u64::from(first);
                    stats += sum.stats;
                    if let Format::Skip(r) = sum.format {
                        let why = match r {
                            SkipReason::Digest => "cloudtrail-digest",
                            SkipReason::Insight => "cloudtrail-insight",
                            SkipReason::Empty => "empty",
                        };
                        *summary.skipped_files.entry(why.to_string()).or_insert(0) += 1;
                    }
                }
                Msg::Unreadable(e) => {
                    files += 1;
                    count_error(e, &mut summary, &mut errors);
                }
            }
        }
    });
    summary.records = stats.records;
    summary.bytes = stats.bytes;
    summary.candidates = stats.candidates;
    summary.out_of_scope = stats.out_of_scope;
    summary.skipped_records = stats.skipped;
    summary.files = files;
    summary.duplicates = agg.duplicates();
    // Errors in a stable order: parallel workers finish in any order.
    errors.sort_by(|a, b| (&a.origin, a.offset).cmp(&(&b.origin, b.offset)));
    let mut report = Report::new(summary, agg.into_sorted(), &errors);
    if opts.keep_denials {
        kept.sort_by(|a, b| {
            (&a.event_time, &a.event_id, &a.account).cmp(&(&b.event_time, &b.event_id, &b.account))
        });
        report.denials = Some(kept);
    }
    report
}

fn scan_one(
    scanner: &Scanner,
    task: &Task<'_>,
    tx: &mut mpsc::SyncSender<Msg>,
    progress: &dyn Progress,
) {
    let Task { input, part, first } = *task;
    let origin = input.origin();
    let mut batch: Vec<ScanEvent> = Vec::new();
    let mut emit = |ev: ScanEvent| {
        batch.push(ev);
        if batch.len() >= BATCH {
            let _ = tx.send(Msg::Events(std::mem::take(&mut batch)));
        }
    };
    let summary = match input {
        Input::External(e) => e.scan(scanner, progress, &mut emit),
        Input::Stdin => {
            let stdin = io::stdin().lock();
            scanner.scan_stream(
                Counting {
                    inner: stdin,
                    progress,
                },
                &origin,
                &mut emit,
            )
        }
        Input::File { path, .. } => match (File::open(path), part) {
            (Ok(mut f), Some((start, end))) => {
                let stats = match f.seek(SeekFrom::Start(start)) {
                    Ok(_) => scanner.scan_lines_part(
                        Counting {
                            inner: f.take(end - start),
                            progress,
                        },
                        &origin,
                        start,
                        &mut emit,
                    ),
                    Err(e) => {
                        emit(ScanEvent::Error(InputError {
                            origin: origin.clone(),
                            offset: start,
                            kind: InputErrorKind::Unreadable,
                            detail: format!("cannot seek: {e}"),
                        }));
                        ScanStats::default()
                    }
                };
                StreamSummary {
                    stats,
                    format: Format::Lines,
                    gzip: false,
                }
            }
            (Ok(f), None) => {
                scanner.scan_stream(Counting { inner: f, progress }, &origin, &mut emit)
            }
            (Err(e), _) => {
                let _ = tx.send(Msg::Unreadable(InputError {
                    origin,
                    offset: 0,
                    kind: InputErrorKind::Unreadable,
                    detail: format!("cannot open: {e} (check the path and its permissions)"),
                }));
                return;
            }
        },
    };
    if !batch.is_empty() {
        let _ = tx.send(Msg::Events(batch));
    }
    let _ = tx.send(Msg::Done(summary, first));
}

/// One unit of work: an input, or a line-aligned part of a large plain file.
#[derive(Clone, Copy)]
struct Task<'a> {
    input: &'a Input,
    /// `start..end` byte range of the file, when the file is split.
    part: Option<(u64, u64)>,
    /// The input's first (or only) part.
    first: bool,
}

/// Turn inputs into tasks, splitting large plain newline-delimited files.
fn plan(inputs: &[Input], split: u64) -> Vec<Task<'_>> {
    let mut tasks = Vec::with_capacity(inputs.len());
    for input in inputs {
        let parts = match input {
            Input::File { path, .. } => line_parts(path, split),
            _ => None,
        };
        match parts {
            Some(parts) if parts.len() > 1 => {
                for (i, p) in parts.into_iter().enumerate() {
                    tasks.push(Task {
                        input,
                        part: Some(p),
                        first: i == 0,
                    });
                }
            }
            _ => tasks.push(Task {
                input,
                part: None,
                first: true,
            }),
        }
    }
    tasks
}

/// Line-aligned byte ranges that cover a plain newline-delimited file larger
/// than `split`, each about `split` long; `None` for a small, compressed,
/// non-line or unreadable file (scanned whole, which reports any problem).
fn line_parts(path: &Path, split: u64) -> Option<Vec<(u64, u64)>> {
    use std::os::unix::fs::FileExt;
    if split == 0 {
        return None;
    }
    let f = File::open(path).ok()?;
    let size = f.metadata().ok()?.len();
    if size <= split {
        return None;
    }
    let mut head = vec![0u8; 64 * 1024];
    let n = f.read_at(&mut head, 0).ok()?;
    head.truncate(n);
    if crate::decode::is_gzip(&head) || crate::frame::detect(&head, false) != Format::Lines {
        return None;
    }
    let n_parts = size.div_ceil(split);
    let mut bounds = vec![0u64];
    let mut window = vec![0u8; 1 << 20];
    for k in 1..n_parts {
        let p = k * size / n_parts;
        let last = bounds.last().copied().unwrap_or(0);
        if p <= last {
            continue;
        }
        // The first line that starts at or after p: just past the first
        // newline at or after p - 1.
        let mut at = p - 1;
        let b = loop {
            let n = f.read_at(&mut window, at).ok()?;
            if n == 0 {
                break size;
            }
            if let Some(i) = memchr::memchr(b'\n', &window[..n]) {
                break at + i as u64 + 1;
            }
            at += n as u64;
        };
        if b > last && b < size {
            bounds.push(b);
        }
    }
    bounds.push(size);
    Some(bounds.windows(2).map(|w| (w[0], w[1])).collect())
}

/// Merge shard reports (made with `--shard` and `keep_denials`) into the
/// report one machine would have made.
pub fn merge(reports: Vec<Report>) -> Result<Report, MergeError> {
    let mut agg = Aggregator::default();
    let mut summary = Summary::default();
    let mut errors = Vec::new();
    let mut scopes: Vec<String> = Vec::new();
    for (i, r) in reports.into_iter().enumerate() {
        let Some(denials) = r.denials else {
            return Err(MergeError::NoDenials { index: i });
        };
        for d in &denials {
            agg.add(d);
        }
        let s = r.summary;
        summary.records += s.records;
        summary.files += s.files;
        summary.bytes += s.bytes;
        summary.errors += s.errors;
        summary.candidates += s.candidates;
        summary.out_of_scope += s.out_of_scope;
        summary.skipped_records += s.skipped_records;
        add_maps(&mut summary.errors_by_kind, s.errors_by_kind);
        add_maps(&mut summary.auth_failures, s.auth_failures);
        add_maps(&mut summary.skipped_files, s.skipped_files);
        if !scopes.contains(&s.scope) {
            scopes.push(s.scope);
        }
        errors.extend(r.errors);
    }
    if scopes.len() > 1 {
        return Err(MergeError::ScopeMismatch(scopes));
    }
    summary.scope = scopes.pop().unwrap_or_default();
    // Shards keep every copy, so the merge sees all repeated deliveries.
    summary.duplicates = agg.duplicates();
    errors.sort_by(|a, b| (&a.origin, a.offset).cmp(&(&b.origin, b.offset)));
    let mut report = Report::new(summary, agg.into_sorted(), &[]);
    errors.truncate(crate::report::MAX_LISTED_ERRORS);
    report.errors = errors;
    Ok(report)
}

fn add_maps(into: &mut BTreeMap<String, u64>, from: BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k).or_insert(0) += v;
    }
}

/// Shard reports that cannot be merged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MergeError {
    /// A report was not made with `--shard` (it lacks the `denials` list).
    #[error(
        "report #{index} has no `denials` list: make shard reports with `replay --shard I/N --format json`"
    )]
    NoDenials {
        /// Position of the report on the command line (0-based).
        index: usize,
    },
    /// Shards were made with different scopes.
    #[error("shard reports were made with different scopes: {0:?}")]
    ScopeMismatch(Vec<String>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_keys() {
        for n in 1..6u32 {
            for k in 0..200 {
                let key = format!("AWSLogs/123/CloudTrail/us-east-1/2024/01/01/f{k}.json.gz");
                let takers = (0..n)
                    .filter(|&i| Shard { index: i, count: n }.takes(&key))
                    .count();
                assert_eq!(takers, 1);
            }
        }
    }

    #[test]
    fn shard_parses() {
        assert_eq!("1/4".parse::<Shard>(), Ok(Shard { index: 1, count: 4 }));
        assert!("4/4".parse::<Shard>().is_err());
        assert!("0/0".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
    }
}
