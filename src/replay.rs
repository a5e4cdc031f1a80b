//! The replay driver: sources in, one aggregate out.
//!
//! Sources are read in parallel across a work-stealing pool (rayon); each
//! worker opens its source and runs its bytes or messages through the
//! pipeline ([`Scanner`]), sending what it finds in batches over a bounded
//! channel to the one aggregating thread, so dedup is exact and memory stays
//! flat. With `--shard I/N` the run takes only its share of the sources and
//! spills one compact record per counted event, for `merge`.

use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;

use rayon::prelude::*;

use crate::aggregate::shard::{EventRecord, STATE_VERSION, ShardStateRef};
use crate::aggregate::{Added, Aggregator};
use crate::frame::Format;
use crate::hash::fnv1a;
use crate::input::InputError;
use crate::report::Run;
use crate::scan::{ScanEvent, ScanStats, Scanner, skip_reason};
use crate::shardfile::{self, ShardFileError, Spill};
use crate::source::{Opened, Source, SourceKind};

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

/// Settings of one replay run.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// Take only this shard of the inputs.
    pub shard: Option<Shard>,
    /// Plain newline-delimited files larger than this are split into
    /// line-aligned parts that workers scan in parallel; 0 never splits.
    pub split_bytes: u64,
    /// Values listed per list of a group.
    pub list_max: usize,
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

/// What a worker sends the aggregating thread: the events it found and the
/// tasks it finished since its last send. A worker sends when it holds
/// [`BATCH`] events or [`DONE_BATCH`] finished tasks, and when it runs out
/// of work, so thousands of small files cost a few handoffs, not two each.
#[derive(Default)]
struct Msg {
    events: Vec<ScanEvent>,
    done: Vec<Done>,
}

/// A task is done: what it scanned, the format of a whole input, and
/// whether it was the input's first (or only) part, so the input counts
/// once among the files.
struct Done {
    kind: SourceKind,
    stats: ScanStats,
    format: Option<Format>,
    first: bool,
}

/// A worker's unsent [`Msg`]; sent when full and when the worker's share of
/// the tasks ends (dropped).
struct Outbox {
    tx: mpsc::SyncSender<Msg>,
    held: Msg,
}

impl Clone for Outbox {
    fn clone(&self) -> Outbox {
        Outbox {
            tx: self.tx.clone(),
            held: Msg::default(),
        }
    }
}

impl Outbox {
    fn event(&mut self, ev: ScanEvent) {
        self.held.events.push(ev);
        if self.held.events.len() >= BATCH {
            self.flush();
        }
    }

    fn done(&mut self, d: Done) {
        self.held.done.push(d);
        if self.held.done.len() >= DONE_BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.held.events.is_empty() || !self.held.done.is_empty() {
            let _ = self.tx.send(std::mem::take(&mut self.held));
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Events per batch sent to the aggregating thread, finished tasks per
/// batch, and batches in flight: a few thousand denials (a kilobyte or two
/// each) at most wait in the channel.
const BATCH: usize = 256;
const DONE_BATCH: usize = 64;
const CHANNEL: usize = 8;

/// A replay that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The shard state for `merge` cannot be written.
    #[error(transparent)]
    ShardState(#[from] ShardFileError),
}

/// What a shard run writes beside its report.
#[derive(Debug, Clone)]
pub struct ShardOutput<'a> {
    /// The report's path: the state goes beside it.
    pub report: &'a Path,
    /// The inputs as given (said in the report, checked by `merge`).
    pub inputs: &'a [String],
}

/// Scan `sources` with `scanner` and build the report. A shard run
/// (`opts.shard`) with `shard_output` also writes its state for `merge`
/// beside the report, and names it in the report.
pub fn replay(
    scanner: &Scanner,
    sources: Vec<Arc<dyn Source>>,
    pre_errors: Vec<InputError>,
    opts: &ReplayOptions,
    shard_output: Option<ShardOutput<'_>>,
    progress: &dyn Progress,
) -> Result<Run, ReplayError> {
    let sources: Vec<Arc<dyn Source>> = match opts.shard {
        Some(s) => sources.into_iter().filter(|i| s.takes(&i.key())).collect(),
        None => sources,
    };
    let mut agg = Aggregator::builder().list_max(opts.list_max.max(1)).build();
    for e in pre_errors {
        progress.error(&e);
        agg.error(e);
    }
    let mut spill = match (&opts.shard, &shard_output) {
        (Some(_), Some(o)) => Some(Spill::create(o.report)?),
        _ => None,
    };
    let mut spill_error: Option<ShardFileError> = None;

    let (tx, rx) = mpsc::sync_channel::<Msg>(CHANNEL);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .build();
    std::thread::scope(|s| {
        let tasks = plan(&sources, opts.split_bytes);
        s.spawn(move || {
            let work = || {
                let outbox = Outbox {
                    tx,
                    held: Msg::default(),
                };
                tasks.par_iter().for_each_with(outbox, |out, task| {
                    scan_one(scanner, task, out, progress);
                })
            };
            match &pool {
                Ok(p) => p.install(work),
                Err(_) => work(),
            }
        });
        for msg in rx {
            for ev in msg.events {
                match ev {
                    ScanEvent::Denial(d) => {
                        if let (Added::New { group }, Some(sp)) = (agg.add(&d), &mut spill)
                            && let Some(r) = EventRecord::of_denial(&d, group)
                            && let Err(e) = sp.push(&r)
                        {
                            spill_error.get_or_insert(e);
                        }
                    }
                    ScanEvent::AuthFailure(a) => {
                        if agg.auth_failure(&a)
                            && let (Some(sp), Some(key)) = (&mut spill, &a.event_id)
                        {
                            let r = EventRecord::AuthFailure {
                                key: crate::hash::stable(key.as_bytes()),
                                code: a.error_code.clone(),
                            };
                            if let Err(e) = sp.push(&r) {
                                spill_error.get_or_insert(e);
                            }
                        }
                    }
                    ScanEvent::Error(e) => {
                        progress.error(&e);
                        agg.error(e);
                    }
                }
            }
            for d in msg.done {
                if d.first {
                    agg.input_read();
                }
                agg.scanned(d.kind, &d.stats);
                if let Some(why) = d.format.and_then(skip_reason) {
                    agg.input_skipped(why);
                }
            }
        }
    });
    if let Some(e) = spill_error {
        return Err(e.into());
    }
    let scope = scanner.scope().describe();
    let shard = opts.shard.map(|s| s.to_string());
    let list_max = agg.list_max();
    let finished = agg.finish();
    let (totals, errors, position) = (
        finished.totals.clone(),
        finished.errors.clone(),
        finished.position.clone(),
    );
    let mut run = Run::new(finished, scope, shard);
    if let (Some(sp), Some(o)) = (spill, shard_output) {
        let state = ShardStateRef {
            version: STATE_VERSION,
            shard: run.summary.shard.as_deref().unwrap_or_default(),
            scope: &run.summary.scope,
            list_max,
            totals: &totals,
            groups: &run.groups,
            errors: &errors,
            timeline: &run.timeline,
            events: 0,
        };
        let pos = |id: u32| position.get(id as usize).copied().unwrap_or(u32::MAX);
        let mut file = shardfile::write(o.report, &state, sp, &pos)?;
        file.inputs = o.inputs.to_vec();
        file.range = scanner.selection().range.describe();
        run.shard_state = Some(file);
    }
    Ok(run)
}

fn scan_one(scanner: &Scanner, task: &Task<'_>, out: &mut Outbox, progress: &dyn Progress) {
    let Task {
        source,
        part,
        first,
    } = *task;
    let origin = source.origin();
    let kind = source.kind();
    let mut emit = |ev: ScanEvent| out.event(ev);
    let opened = match part {
        Some((start, end)) => source.open_part(start, end),
        None => source.open(),
    };
    let mut format = None;
    let stats = match opened {
        Err(e) => {
            emit(ScanEvent::Error(e));
            ScanStats::default()
        }
        Ok(Opened::Bytes(r)) => {
            let sum = scanner.scan_stream(Counting { inner: r, progress }, &origin, &mut emit);
            format = Some(sum.format);
            sum.stats
        }
        Ok(Opened::LinesPart { reader, base }) => scanner.scan_lines_part(
            Counting {
                inner: reader,
                progress,
            },
            &origin,
            base,
            &mut emit,
        ),
        Ok(Opened::Messages(mut pages)) => {
            let mut st = ScanStats::default();
            let mut offset = 0u64;
            while let Some(page) = pages.next_page() {
                match page {
                    Ok(msgs) => {
                        for m in msgs {
                            st += scanner.scan_message(m.as_bytes(), &origin, offset, &mut emit);
                            offset += m.len() as u64 + 1;
                            progress.read(m.len() as u64);
                        }
                    }
                    Err(mut e) => {
                        e.offset = offset;
                        emit(ScanEvent::Error(e));
                    }
                }
            }
            st
        }
    };
    out.done(Done {
        kind,
        stats,
        format,
        first,
    });
}

/// One unit of work: a source, or a line-aligned part of a large plain file.
#[derive(Clone, Copy)]
struct Task<'a> {
    source: &'a Arc<dyn Source>,
    /// `start..end` byte range of the source, when it is split.
    part: Option<(u64, u64)>,
    /// The source's first (or only) part.
    first: bool,
}

/// Turn sources into tasks, splitting large plain newline-delimited files.
fn plan(sources: &[Arc<dyn Source>], split: u64) -> Vec<Task<'_>> {
    let mut tasks = Vec::with_capacity(sources.len());
    for source in sources {
        match line_parts(source.as_ref(), split) {
            Some(parts) if parts.len() > 1 => {
                for (i, p) in parts.into_iter().enumerate() {
                    tasks.push(Task {
                        source,
                        part: Some(p),
                        first: i == 0,
                    });
                }
            }
            _ => tasks.push(Task {
                source,
                part: None,
                first: true,
            }),
        }
    }
    tasks
}

/// Line-aligned byte ranges that cover a plain newline-delimited source
/// larger than `split`, each about `split` long; `None` for a small,
/// compressed, non-line or unreadable one, or one without random access
/// (scanned whole, which reports any problem).
fn line_parts(source: &dyn Source, split: u64) -> Option<Vec<(u64, u64)>> {
    if split == 0 {
        return None;
    }
    let size = source.size()?;
    if size <= split {
        return None;
    }
    let mut head = vec![0u8; 64 * 1024];
    let n = source.read_at(0, &mut head)?.ok()?;
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
            let n = source.read_at(at, &mut window)?.ok()?;
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
