//! Sources: where input comes from. A source hands out bytes (a file, stdin,
//! an S3 object) or whole messages (CloudWatch Logs events), each with its
//! origin; it knows nothing of formats, framing, scanning or scope. What
//! happens to the bytes is the pipeline's business ([`crate::scan`]).
//!
//! | module | sources |
//! |---|---|
//! | [`local`] | files (whole, or a line-aligned part), directories, stdin |
//!
//! The AWS sources ([`crate::aws`]) implement [`Source`] too; the sidecar's
//! live sources (followed files, its stdin, CloudWatch followers) hand out
//! bytes and messages through the sidecar's own channels.

pub mod local;

use std::fmt;
use std::io::Read;

use crate::input::InputError;

/// Where records came from: the `source_kind` metric label. A closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKind {
    /// A file.
    File,
    /// Standard input.
    Stdin,
    /// A CloudWatch Logs log group.
    Cloudwatch,
    /// An S3 object.
    S3,
    /// A record delivered in a queue message (EventBridge, `watch --sqs`).
    Sqs,
}

impl SourceKind {
    /// Every kind, in a stable order.
    pub const ALL: [SourceKind; 5] = [
        SourceKind::File,
        SourceKind::Stdin,
        SourceKind::Cloudwatch,
        SourceKind::S3,
        SourceKind::Sqs,
    ];

    /// The label value.
    ///
    /// ```
    /// assert_eq!(denytrail::source::SourceKind::Stdin.as_str(), "stdin");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::File => "file",
            SourceKind::Stdin => "stdin",
            SourceKind::Cloudwatch => "cloudwatch",
            SourceKind::S3 => "s3",
            SourceKind::Sqs => "sqs",
        }
    }
}

/// What an opened source hands out.
pub enum Opened<'a> {
    /// A byte stream, possibly compressed, of any format.
    Bytes(Box<dyn Read + 'a>),
    /// A line-aligned part of a plain newline-delimited file: its first
    /// byte is at stream offset `base`.
    LinesPart {
        /// The part's bytes.
        reader: Box<dyn Read + 'a>,
        /// Stream offset of the part's first byte.
        base: u64,
    },
    /// Whole messages, one record each, a page at a time.
    Messages(Box<dyn Messages + 'a>),
}

impl fmt::Debug for Opened<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Opened::Bytes(_) => f.write_str("Opened::Bytes"),
            Opened::LinesPart { base, .. } => write!(f, "Opened::LinesPart({base})"),
            Opened::Messages(_) => f.write_str("Opened::Messages"),
        }
    }
}

/// A source of whole messages (log events), read a page at a time.
pub trait Messages {
    /// The next page: `None` at the end; an error ends the source (every
    /// message handed out before it stays counted).
    fn next_page(&mut self) -> Option<Result<Vec<String>, InputError>>;
}

/// Sources and the errors met while finding them (a directory that cannot
/// be walked, a prefix that cannot be listed).
pub type Expanded = (Vec<std::sync::Arc<dyn Source>>, Vec<InputError>);

/// One input, opened when a worker gets to it.
pub trait Source: Send + Sync + fmt::Debug {
    /// How it is named in errors and reports (a path, `-`, `s3://…`,
    /// `cloudwatch://…`).
    fn origin(&self) -> String;
    /// The stable key `--shard` hashes (a path relative to its directory
    /// argument, an object key, a log group).
    fn key(&self) -> String;
    /// The `source_kind` it counts under.
    fn kind(&self) -> SourceKind;
    /// Its size in bytes when known before reading (progress, splitting).
    fn size(&self) -> Option<u64> {
        None
    }
    /// Start reading it.
    fn open(&self) -> Result<Opened<'_>, InputError>;
    /// Start reading the byte range `start..end` (the driver splits large
    /// plain files into line-aligned parts that workers share); sources
    /// without random access read whole.
    fn open_part(&self, start: u64, end: u64) -> Result<Opened<'_>, InputError> {
        let _ = (start, end);
        self.open()
    }
    /// Read bytes at `offset` without opening a stream: `None` when the
    /// source has no random access (then it is never split).
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Option<std::io::Result<usize>> {
        let _ = (offset, buf);
        None
    }
}
