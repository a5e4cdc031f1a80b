//! The deterministic corpus generator: realistic CloudTrail records with
//! denials at a chosen rate, their ground truth known by construction, written
//! in every input format denytrail reads.
//!
//! Used by tests (any format ⇒ the same report), benchmarks (gigabytes,
//! streamed) and the README samples. A seed gives byte-identical output: all
//! draws come from ChaCha8 seeded from the `u64`, through this module's own
//! range and choice functions.
//!
//! The records mix allowed calls of many services and principal types (IAM
//! users, assumed-role sessions of roles with and without paths, root, AWS
//! services, other accounts, names with `ü` and `日本`) with denials
//! (CodeGuru Profiler, `iam:PassRole` inside Lambda, ECS and EC2 calls, every
//! enhanced message tail, encoded and truncated messages, other services),
//! authentication failures, other errors, traps (allowed calls that carry
//! denial words), Insight records, repeated deliveries and cross-account
//! copies.
//!
//! This module writes files; it never reads them, and knows nothing of the
//! classifier: its truth is what it meant to write.
//!
//! ```no_run
//! use denytrail::generate::{CorpusConfig, CorpusFormat, write_corpus};
//! let cfg = CorpusConfig::builder().seed(7).records(2000).denial_rate(0.02).build()?;
//! let truth = write_corpus(&cfg, &[CorpusFormat::Records, CorpusFormat::Jsonl], "corpus".as_ref())?;
//! println!("{} denials", truth.denials_all);
//! # Ok::<(), denytrail::generate::GenerateError>(())
//! ```

mod cloudtrail;
mod config;
mod identity;
mod json;
mod random;
mod record;
mod sinks;
mod text;
mod truth;

#[cfg(test)]
mod tests;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use cloudtrail::{GeneratedRecord, Generator};
pub use config::{CorpusConfig, CorpusConfigBuilder};
pub use text::{GeneratedLine, TextGenerator};
pub use truth::{DenialTruth, GroupTruth, RecordClass, RecordTruth, Truth, TruthBuilder};

use sinks::{CwExportSink, CwSubscriptionSink, JsonlSink, LookupEventsSink, RecordsSink, Sink};

/// An input format the generator can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CorpusFormat {
    /// CloudTrail S3 archive files `{"Records":[…]}`, gzipped, under
    /// `AWSLogs/…`, with one Digest and one Insight file.
    Records,
    /// The same, not compressed (`.json`).
    RecordsJson,
    /// One record per line (`cloudtrail.jsonl`).
    Jsonl,
    /// `aws cloudtrail lookup-events` output pages.
    LookupEvents,
    /// CloudWatch Logs `CreateExportTask` output.
    CwExport,
    /// CloudWatch Logs subscription payloads as Firehose writes them.
    CwSubscription,
    /// Plain-text agent and SDK log lines (a stream of its own).
    Text,
}

impl CorpusFormat {
    /// Every format, in a stable order.
    pub const ALL: [CorpusFormat; 7] = [
        CorpusFormat::Records,
        CorpusFormat::RecordsJson,
        CorpusFormat::Jsonl,
        CorpusFormat::LookupEvents,
        CorpusFormat::CwExport,
        CorpusFormat::CwSubscription,
        CorpusFormat::Text,
    ];

    /// The name used on the command line and as the output directory.
    ///
    /// ```
    /// use denytrail::generate::CorpusFormat;
    /// assert_eq!(CorpusFormat::CwExport.as_str(), "cw-export");
    /// assert_eq!("cw-export".parse::<CorpusFormat>()?, CorpusFormat::CwExport);
    /// # Ok::<(), denytrail::generate::GenerateError>(())
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            CorpusFormat::Records => "records",
            CorpusFormat::RecordsJson => "records-json",
            CorpusFormat::Jsonl => "jsonl",
            CorpusFormat::LookupEvents => "lookup-events",
            CorpusFormat::CwExport => "cw-export",
            CorpusFormat::CwSubscription => "cw-subscription",
            CorpusFormat::Text => "text",
        }
    }
}

impl std::fmt::Display for CorpusFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for CorpusFormat {
    type Err = GenerateError;

    fn from_str(s: &str) -> Result<CorpusFormat, GenerateError> {
        CorpusFormat::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| GenerateError::UnknownFormat(s.to_string()))
    }
}

/// What can go wrong while generating.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// A setting is out of range.
    #[error("invalid corpus settings: {0}")]
    InvalidConfig(String),
    /// A format name that is not one of [`CorpusFormat::ALL`].
    #[error(
        "unknown corpus format {0:?} (expected records, records-json, jsonl, lookup-events, cw-export, cw-subscription or text)"
    )]
    UnknownFormat(String),
    /// Creating or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Writing to a caller's writer failed.
    #[error("writing the corpus: {0}")]
    Write(#[source] std::io::Error),
    /// A JSON document could not be serialized or read back.
    #[error("{}: {source}", path.display())]
    Json {
        /// The file the document belongs to.
        path: PathBuf,
        /// The serde_json error.
        source: serde_json::Error,
    },
}

/// Write `truth` as pretty JSON to `path`.
fn write_truth(path: &Path, truth: &Truth) -> Result<(), GenerateError> {
    let mut doc = serde_json::to_vec_pretty(truth).map_err(|source| GenerateError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    doc.push(b'\n');
    sinks::write_file(path, &doc)
}

/// Write the corpus of `cfg` in each of `formats` under `out_dir/<format>/`,
/// with `out_dir/truth.json` for the CloudTrail formats and
/// `out_dir/text/truth.json` for `text`.
///
/// The CloudTrail records are generated once and written to every format,
/// so all formats hold the same records. Returns the CloudTrail truth, or the
/// text truth when `text` is the only format. Files of the same name are
/// overwritten; other files already in `out_dir` are left alone.
pub fn write_corpus(
    cfg: &CorpusConfig,
    formats: &[CorpusFormat],
    out_dir: &Path,
) -> Result<Truth, GenerateError> {
    let mut formats = formats.to_vec();
    formats.sort();
    formats.dedup();
    let per_file = cfg.records_per_file();
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    for f in &formats {
        let dir = out_dir.join(f.as_str());
        match f {
            CorpusFormat::Records => {
                sinks.push(Box::new(RecordsSink::new(dir, true, per_file, cfg.seed())))
            }
            CorpusFormat::RecordsJson => {
                sinks.push(Box::new(RecordsSink::new(dir, false, per_file, cfg.seed())))
            }
            CorpusFormat::Jsonl => {
                let path = dir.join("cloudtrail.jsonl");
                sinks.push(Box::new(JsonlSink::new(sinks::create(&path)?, path)));
            }
            CorpusFormat::LookupEvents => {
                sinks.push(Box::new(LookupEventsSink::new(dir, per_file)))
            }
            CorpusFormat::CwExport => {
                sinks.push(Box::new(CwExportSink::new(dir, per_file, cfg.seed())))
            }
            CorpusFormat::CwSubscription => {
                sinks.push(Box::new(CwSubscriptionSink::new(dir, per_file, cfg.seed())))
            }
            CorpusFormat::Text => {}
        }
    }
    let mut cloudtrail_truth = None;
    if !sinks.is_empty() {
        let mut tb = TruthBuilder::new(cfg.seed());
        for rec in Generator::new(cfg) {
            tb.add(&rec.truth);
            for s in sinks.iter_mut() {
                s.write(&rec)?;
            }
        }
        for s in sinks {
            s.finish()?;
        }
        let truth = tb.finish();
        write_truth(&out_dir.join("truth.json"), &truth)?;
        cloudtrail_truth = Some(truth);
    }
    let mut text_truth = None;
    if formats.contains(&CorpusFormat::Text) {
        text_truth = Some(text::write_text(cfg, &out_dir.join("text"))?);
    }
    Ok(cloudtrail_truth
        .or(text_truth)
        .unwrap_or_else(|| TruthBuilder::new(cfg.seed()).finish()))
}

/// Stream the CloudTrail records of `cfg` as JSON Lines to `w`, in bounded
/// memory, and return their truth.
///
/// ```
/// use denytrail::generate::{CorpusConfig, write_jsonl};
/// let cfg = CorpusConfig::builder().seed(1).records(500).denial_rate(0.2).build()?;
/// let mut out = Vec::new();
/// let truth = write_jsonl(&cfg, &mut out)?;
/// assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 500);
/// assert!(truth.denials_all > 50);
/// # Ok::<(), denytrail::generate::GenerateError>(())
/// ```
pub fn write_jsonl<W: Write>(cfg: &CorpusConfig, mut w: W) -> Result<Truth, GenerateError> {
    let mut tb = TruthBuilder::new(cfg.seed());
    for rec in Generator::new(cfg) {
        tb.add(&rec.truth);
        w.write_all(&rec.json).map_err(GenerateError::Write)?;
        w.write_all(b"\n").map_err(GenerateError::Write)?;
    }
    w.flush().map_err(GenerateError::Write)?;
    Ok(tb.finish())
}

/// Stream the CloudTrail records of `cfg` as one CloudTrail file document
/// `{"Records":[…]}` to `w` (Insight records included), in bounded memory.
pub fn write_records_document<W: Write>(
    cfg: &CorpusConfig,
    mut w: W,
) -> Result<Truth, GenerateError> {
    let mut tb = TruthBuilder::new(cfg.seed());
    w.write_all(b"{\"Records\":[")
        .map_err(GenerateError::Write)?;
    for (i, rec) in Generator::new(cfg).enumerate() {
        tb.add(&rec.truth);
        if i > 0 {
            w.write_all(b",").map_err(GenerateError::Write)?;
        }
        w.write_all(&rec.json).map_err(GenerateError::Write)?;
    }
    w.write_all(b"]}").map_err(GenerateError::Write)?;
    w.flush().map_err(GenerateError::Write)?;
    Ok(tb.finish())
}

/// Stream the text log lines of `cfg` to `w` and return their truth.
pub fn write_text_log<W: Write>(cfg: &CorpusConfig, mut w: W) -> Result<Truth, GenerateError> {
    let mut tb = TruthBuilder::new(cfg.seed());
    for l in TextGenerator::new(cfg) {
        tb.add(&l.truth);
        w.write_all(&l.line).map_err(GenerateError::Write)?;
        w.write_all(b"\n").map_err(GenerateError::Write)?;
    }
    w.flush().map_err(GenerateError::Write)?;
    Ok(tb.finish())
}
