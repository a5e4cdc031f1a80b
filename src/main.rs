//! The denytrail command line: parses flags, wires them to library calls,
//! and turns errors into messages and exit codes. Nothing else.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use denytrail::input::InputError;
use denytrail::replay::{self, Progress, ReplayOptions, Shard, ShardOutput};
use denytrail::report::{self, Run};
use denytrail::scan::Scanner;
use denytrail::scope::{RangeArgs, Scope, Selection};

/// Exit codes (documented in the README).
mod exit {
    /// Ran to the end; every input read cleanly.
    pub const OK: u8 = 0;
    /// Could not run: bad input to merge, output not writable, …
    pub const FATAL: u8 = 1;
    /// A usage error: a bad flag or flags that do not go together (clap
    /// exits 2 for the errors it finds itself).
    pub const USAGE: u8 = 2;
    /// Ran to the end, but some inputs had errors (counted in the report).
    pub const INPUT_ERRORS: u8 = 3;
    /// `--fail-on-denials` and denials were found (and no input errors).
    pub const DENIALS: u8 = 4;
}

/// mimalloc, not the system allocator: the scanner allocates a denial's
/// strings on one thread and the aggregate frees them on another, and
/// glibc's arenas take a lock for each such free (a quarter of the time at
/// 30 % denials went to futex calls).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "denytrail",
    version,
    about = "Find AWS AccessDenied events in CloudTrail and CloudWatch Logs, group them by principal, and say how to fix them"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Read archived logs (files, directories, `-` for stdin) and print a grouped report.
    Replay(Box<ReplayArgs>),
    /// Print the hint for one error message.
    Explain(ExplainArgs),
    /// Write a deterministic test corpus (same seed, same bytes) in every input format.
    Generate(GenerateArgs),
    /// Combine shard reports (`replay --shard I/N --format json --output FILE`) into one report.
    Merge(MergeArgs),
    /// Follow logs, count denials, serve Prometheus metrics and /report.
    Watch(Box<denytrail::watch::WatchArgs>),
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    Table,
    Json,
    Markdown,
    /// One self-contained HTML page (a file for a ticket or an email).
    Html,
}

#[derive(clap::Args, Debug)]
struct OutputArgs {
    /// Report format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Groups shown in detail by the table and markdown formats, largest
    /// first (0: all); the JSON report always holds every group.
    #[arg(long, value_name = "N", default_value_t = report::DEFAULT_TOP)]
    top: usize,
}

#[derive(clap::Args, Debug)]
struct ReplayArgs {
    /// Files, directories (walked recursively), `-` for stdin,
    /// `s3://BUCKET[/PREFIX]` (CloudTrail archives) or
    /// `cloudwatch://LOG_GROUP[?stream=PREFIX]`. Format and gzip are
    /// detected from content.
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<String>,
    /// Which denied actions to report: `default` (codeguru-profiler:* and
    /// iam:PassRole), `all`, or comma-separated action globs.
    #[arg(long, default_value = "default", value_parser = denytrail::scope::parse_flag)]
    scope: Scope,
    #[command(flatten)]
    range: RangeArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// Worker threads (default: one per core).
    #[arg(long, short = 'j', default_value_t = 0)]
    threads: usize,
    /// Take only shard I of N of the inputs (stable by file key); the run
    /// also writes, beside its JSON report, the state `denytrail merge`
    /// needs (needs --format json --output FILE).
    #[arg(long, value_name = "I/N", env = "DENYTRAIL_SHARD")]
    shard: Option<Shard>,
    /// Largest single record kept, in bytes; longer ones are reported and skipped.
    #[arg(long, default_value_t = denytrail::scan::DEFAULT_MAX_RECORD)]
    max_record: usize,
    /// Cap on the inflated size of one gzip input, in bytes.
    #[arg(long, default_value_t = denytrail::decode::DEFAULT_MAX_INFLATED)]
    max_inflated: u64,
    /// Values kept per list of a group (resources, sessions, accounts, …):
    /// exact counts for these, a count and an estimate of the rest.
    #[arg(long, value_name = "N", default_value_t = denytrail::aggregate::group::DEFAULT_K, value_parser = denytrail::aggregate::group::parse_list_max)]
    list_max: usize,
    /// Split plain JSON Lines files larger than this many bytes into parts
    /// scanned in parallel (0: never).
    #[arg(long, default_value_t = denytrail::replay::DEFAULT_SPLIT_BYTES, hide = true)]
    split_bytes: u64,
    /// No progress bar, even on a terminal.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// On a terminal that cannot draw a bar (TERM dumb or unset): how often
    /// a plain progress line is printed.
    #[arg(long, default_value = "5s", value_parser = denytrail::time::parse_duration, hide = true)]
    progress_interval: std::time::Duration,
    /// Exit with code 4 when denials are found (for CI gates).
    #[arg(long)]
    fail_on_denials: bool,
    #[command(flatten)]
    aws: denytrail::aws::AwsArgs,
}

#[derive(clap::Args, Debug)]
struct ExplainArgs {
    /// The error message, e.g. 'User: arn:aws:iam::123456789012:user/x is not
    /// authorized to perform: iam:PassRole on resource: …'.
    message: String,
    /// Output format (`table` prints text and policy; `json` the hint object).
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,
}

#[derive(clap::Args, Debug)]
struct MergeArgs {
    /// Shard reports written by `replay --shard I/N --format json --output FILE`.
    #[arg(value_name = "REPORT.json", required = true)]
    reports: Vec<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(clap::Args, Debug)]
struct GenerateArgs {
    /// Seed: the same seed writes byte-identical files.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// CloudTrail records to write (repeated deliveries included).
    #[arg(long, default_value_t = 2000)]
    records: u64,
    /// Fraction of events that are denials (0 to 1).
    #[arg(long, default_value_t = 0.01)]
    denial_rate: f64,
    /// Distinct principals.
    #[arg(long)]
    principals: Option<u64>,
    /// Accounts.
    #[arg(long)]
    accounts: Option<u32>,
    /// Records per CloudTrail file.
    #[arg(long)]
    records_per_file: Option<usize>,
    /// Formats, comma-separated: records, records-json, jsonl, lookup-events,
    /// cw-export, cw-subscription, text.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "records,jsonl,text,cw-export"
    )]
    formats: Vec<denytrail::generate::CorpusFormat>,
    /// Output directory (one folder per format, plus truth.json). `-` streams
    /// JSON Lines to stdout instead (for benchmarks), with the truth on stderr.
    #[arg(long, default_value = "corpus")]
    out: PathBuf,
}

/// A usage error found after clap: flags that do not go together.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Usage(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `watch` installs its own subscriber (level info, `--log-format`).
    if !matches!(cli.command, Command::Watch(_)) {
        init_logging();
    }
    let result = match cli.command {
        Command::Replay(a) => run_replay(*a),
        Command::Explain(a) => run_explain(a),
        Command::Merge(a) => run_merge(a),
        Command::Generate(a) => run_generate(a),
        Command::Watch(a) => denytrail::watch::run(*a)
            .map(|()| exit::OK)
            .map_err(anyhow::Error::from),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::from(exit::OK);
            }
            eprintln!("denytrail: {}", report::shown(&error_text(&e)));
            ExitCode::from(if is_usage(&e) {
                exit::USAGE
            } else {
                exit::FATAL
            })
        }
    }
}

/// The error and its causes on one line, each cause once: a typed error
/// that already says its cause in its own message (`checkpoint X: No space
/// left on device`) is not followed by the same cause again.
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.is_empty() {
            text = part;
        } else if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
    }
    text
}

/// Errors that mean the command line is wrong, whichever command found them.
fn is_usage(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.is::<Usage>()
            || c.is::<denytrail::watch::config::ConfigError>()
            || c.is::<denytrail::scope::RangeError>()
            || matches!(
                c.downcast_ref::<denytrail::aws::AwsError>(),
                Some(denytrail::aws::AwsError::Config(_))
            )
            || c.is::<denytrail::scan::BuildError>()
            || c.downcast_ref::<denytrail::watch::WatchError>()
                .is_some_and(|w| {
                    // `Config` is transparent: its ConfigError is not a
                    // link of the chain of its own.
                    matches!(
                        w,
                        denytrail::watch::WatchError::Locked { .. }
                            | denytrail::watch::WatchError::Config(_)
                    )
                })
    })
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DENYTRAIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Prints input errors on stderr as they happen (the first 100; all are
/// counted) and shows progress: a bar on a terminal that can draw one, a
/// plain line now and then on a dumb terminal, nothing when stderr is not a
/// terminal.
struct Console {
    display: Display,
    printed: AtomicU64,
}

enum Display {
    None,
    Bar(indicatif::ProgressBar),
    Plain(PlainProgress),
}

/// A progress line every `every`, for terminals without cursor movement
/// (`TERM=dumb`, or unset as under some CI runners and `docker run -t`).
struct PlainProgress {
    total: u64,
    every: std::time::Duration,
    start: std::time::Instant,
    read: AtomicU64,
    last: std::sync::Mutex<std::time::Instant>,
}

impl PlainProgress {
    fn line(&self, read: u64) -> String {
        let secs = self.start.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { read as f64 / secs } else { 0.0 };
        let pct = if self.total > 0 {
            format!(" ({:.0}%)", 100.0 * read as f64 / self.total as f64)
        } else {
            String::new()
        };
        format!(
            "denytrail: read {} of {}{pct}, {}/s, {secs:.1}s",
            indicatif::HumanBytes(read),
            indicatif::HumanBytes(self.total),
            indicatif::HumanBytes(rate as u64),
        )
    }
}

/// What to show for progress on this stderr.
fn display(quiet: bool, total: u64, every: std::time::Duration) -> Display {
    if quiet || !std::io::stderr().is_terminal() {
        return Display::None;
    }
    let term = std::env::var("TERM").unwrap_or_default();
    if term.is_empty() || term == "dumb" {
        let now = std::time::Instant::now();
        return Display::Plain(PlainProgress {
            total,
            every,
            start: now,
            read: AtomicU64::new(0),
            last: std::sync::Mutex::new(now),
        });
    }
    let b = indicatif::ProgressBar::new(total);
    b.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} {bytes_per_sec} [{wide_bar}] {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Display::Bar(b)
}

const MAX_PRINTED_ERRORS: u64 = 100;

impl Console {
    /// Clears the bar, or prints the last plain line.
    fn finish(&self) {
        match &self.display {
            Display::Bar(b) => b.finish_and_clear(),
            Display::Plain(p) => eprintln!("{}", p.line(p.read.load(Ordering::Relaxed))),
            Display::None => {}
        }
    }
}

impl Progress for Console {
    fn read(&self, n: u64) {
        match &self.display {
            Display::Bar(b) => b.inc(n),
            Display::Plain(p) => {
                let read = p.read.fetch_add(n, Ordering::Relaxed) + n;
                let mut last = p.last.lock().unwrap_or_else(|e| e.into_inner());
                if last.elapsed() >= p.every {
                    *last = std::time::Instant::now();
                    eprintln!("{}", p.line(read));
                }
            }
            Display::None => {}
        }
    }
    fn error(&self, e: &InputError) {
        let k = self.printed.fetch_add(1, Ordering::Relaxed);
        let line = if k < MAX_PRINTED_ERRORS {
            format!("denytrail: {}", report::shown(&e.to_string()))
        } else if k == MAX_PRINTED_ERRORS {
            "denytrail: more input errors: counted in the report, not printed".to_string()
        } else {
            return;
        };
        match &self.display {
            Display::Bar(b) => b.suspend(|| eprintln!("{line}")),
            _ => eprintln!("{line}"),
        }
    }
}

fn run_replay(a: ReplayArgs) -> Result<u8> {
    let range = a.range.range()?;
    if a.shard.is_some() && (a.output.format != OutputFormat::Json || a.output.output.is_none()) {
        return Err(Usage(
            "--shard needs --format json --output FILE: merge reads the shard's state from beside its report".into(),
        )
        .into());
    }
    let scanner = Scanner::builder()
        .selection(Selection::new(a.scope, range))
        .max_record(a.max_record)
        .max_inflated(a.max_inflated)
        .build()?;
    let (remote, local): (Vec<String>, Vec<String>) = a
        .paths
        .iter()
        .cloned()
        .partition(|p| denytrail::aws::is_remote(p));
    let (mut sources, mut pre_errors) = denytrail::source::local::expand(&local);
    if !remote.is_empty() {
        let (more, errs) = denytrail::aws::expand_inputs(&remote, &a.aws, range)?;
        sources.extend(more);
        pre_errors.extend(errs);
    }
    let total: u64 = sources.iter().filter_map(|s| s.size()).sum();
    let console = Console {
        display: display(a.quiet, total, a.progress_interval),
        printed: AtomicU64::new(0),
    };
    let opts = ReplayOptions {
        threads: a.threads,
        shard: a.shard,
        split_bytes: a.split_bytes,
        list_max: a.list_max,
    };
    let shard_output = a
        .shard
        .and(a.output.output.as_deref())
        .map(|report| ShardOutput {
            report,
            inputs: &a.paths,
        });
    let report = replay::replay(&scanner, sources, pre_errors, &opts, shard_output, &console)?;
    console.finish();
    write_report(&report, &a.output)?;
    Ok(if report.summary.errors > 0 {
        exit::INPUT_ERRORS
    } else if a.fail_on_denials && report.summary.denials > 0 {
        exit::DENIALS
    } else {
        exit::OK
    })
}

fn write_report(run: &Run, out: &OutputArgs) -> Result<()> {
    let text = match out.format {
        OutputFormat::Table => run.to_table(out.top),
        OutputFormat::Markdown => run.to_markdown(out.top),
        OutputFormat::Html => denytrail::page::render(
            &run.report_top(denytrail::page::MAX_ROWS),
            &denytrail::page::PageOptions::file(),
        )?,
        OutputFormat::Json => {
            // Streamed a group at a time: a million groups never sit in
            // memory as text.
            let what = || match &out.output {
                Some(p) => format!("cannot write the report to {}", p.display()),
                None => "cannot write the report to stdout".to_string(),
            };
            let mut w: Box<dyn Write> = match &out.output {
                Some(p) => Box::new(std::fs::File::create(p).with_context(what)?),
                None => Box::new(std::io::stdout().lock()),
            };
            let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut w);
            run.write_json(&mut w)
                .and_then(|()| w.flush())
                .with_context(what)?;
            return Ok(());
        }
    };
    write_out(&text, out.output.as_ref())
}

fn write_out(text: &str, path: Option<&PathBuf>) -> Result<()> {
    match path {
        Some(p) => std::fs::write(p, text)
            .with_context(|| format!("cannot write the report to {}", p.display())),
        None => {
            let mut o = std::io::stdout().lock();
            o.write_all(text.as_bytes())
                .and_then(|_| o.flush())
                .context("cannot write the report to stdout")
        }
    }
}

fn run_explain(a: ExplainArgs) -> Result<u8> {
    let hint = denytrail::hints::explain_message(&a.message)
        .context("this does not look like an AWS authorization error message")?;
    let text = match a.format {
        OutputFormat::Json => serde_json::to_string_pretty(&hint)? + "\n",
        OutputFormat::Table | OutputFormat::Markdown | OutputFormat::Html => {
            let mut s = format!("hint [{}]\n", hint.code.as_str());
            for line in hint.text.lines() {
                s += &report::shown(line);
                s.push('\n');
            }
            for (title, doc) in hint.documents() {
                s += &format!("\n{title}\n");
                for line in serde_json::to_string_pretty(doc)?.lines() {
                    s += &report::shown(line);
                    s.push('\n');
                }
            }
            s
        }
    };
    write_out(&text, None)?;
    Ok(exit::OK)
}

fn run_merge(a: MergeArgs) -> Result<u8> {
    let mut reports = Vec::new();
    for p in &a.reports {
        let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
        let r: denytrail::merge::ShardReport = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a denytrail JSON report", p.display()))?;
        reports.push((p.clone(), r));
    }
    let merged = denytrail::merge::merge(reports)?;
    write_report(&merged, &a.output)?;
    Ok(if merged.summary.errors > 0 {
        exit::INPUT_ERRORS
    } else {
        exit::OK
    })
}

fn run_generate(a: GenerateArgs) -> Result<u8> {
    use denytrail::generate::{self, CorpusConfig};
    let mut b = CorpusConfig::builder()
        .seed(a.seed)
        .records(a.records)
        .denial_rate(a.denial_rate);
    if let Some(p) = a.principals {
        b = b.principals(p);
    }
    if let Some(n) = a.accounts {
        b = b.accounts(n);
    }
    if let Some(n) = a.records_per_file {
        b = b.records_per_file(n);
    }
    let cfg = b.build().map_err(|e| Usage(e.to_string()))?;
    if a.out.as_os_str() == "-" {
        let out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
        let truth = generate::write_jsonl(&cfg, out)?;
        eprintln!("{}", serde_json::to_string_pretty(&truth)?);
    } else {
        let truth = generate::write_corpus(&cfg, &a.formats, &a.out)?;
        eprintln!(
            "denytrail: wrote {} records ({} denials, {} in the default scope) to {}",
            truth.records,
            truth.denials_all,
            truth.denials_default_scope,
            a.out.display()
        );
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("checkpoint /s/c.json: {source}")]
    struct Saying {
        source: std::io::Error,
    }

    #[test]
    fn each_cause_is_printed_once() {
        let io = || std::io::Error::other("No space left on device");
        let e = anyhow::Error::from(Saying { source: io() });
        assert_eq!(
            error_text(&e),
            "checkpoint /s/c.json: No space left on device"
        );
        let e = anyhow::Error::from(io()).context("writing report.json");
        assert_eq!(
            error_text(&e),
            "writing report.json: No space left on device"
        );
        let e = anyhow::Error::from(Saying { source: io() }).context("watch");
        assert_eq!(
            error_text(&e),
            "watch: checkpoint /s/c.json: No space left on device"
        );
    }
}
