//! Input errors: what went wrong with the bytes of an input, and where.
//!
//! Every stage that reads input (sources, decode, frame, classify) reports
//! its problems as an [`InputError`]: the origin (file, S3 object, log
//! group, queue), the byte offset and a [`InputErrorKind`] from a closed set
//! that is also the `kind` label of `denytrail_input_errors_total`. A bad
//! record never stops a run: the error is counted, reported and scanning
//! goes on.

/// A problem with the input, with where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{origin}: byte {offset}: {kind}: {detail}")]
pub struct InputError {
    /// File path, `-` for stdin, `s3://…`, `cloudwatch://…`.
    pub origin: String,
    /// Byte offset in the (decompressed) stream where the bad record starts.
    pub offset: u64,
    /// What kind of problem (closed set, used as a metric label).
    pub kind: InputErrorKind,
    /// A human description.
    pub detail: String,
}

/// Kinds of input error; `as_str` is the metric label.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum InputErrorKind {
    /// A gzip stream that ends early or is corrupt.
    TruncatedGzip,
    /// A record that is not valid JSON.
    InvalidJson,
    /// A text record that is not UTF-8.
    InvalidUtf8,
    /// A record larger than the record size cap.
    OversizedRecord,
    /// Binary data where text was expected.
    Binary,
    /// A file that could not be opened or read.
    Unreadable,
    /// A gzip stream that inflates past the size cap.
    GzipTooLarge,
}

impl InputErrorKind {
    /// Every kind, in a stable order.
    pub const ALL: [InputErrorKind; 7] = [
        InputErrorKind::TruncatedGzip,
        InputErrorKind::InvalidJson,
        InputErrorKind::InvalidUtf8,
        InputErrorKind::OversizedRecord,
        InputErrorKind::Binary,
        InputErrorKind::Unreadable,
        InputErrorKind::GzipTooLarge,
    ];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            InputErrorKind::TruncatedGzip => "truncated_gzip",
            InputErrorKind::InvalidJson => "invalid_json",
            InputErrorKind::InvalidUtf8 => "invalid_utf8",
            InputErrorKind::OversizedRecord => "oversized_record",
            InputErrorKind::Binary => "binary",
            InputErrorKind::Unreadable => "unreadable",
            InputErrorKind::GzipTooLarge => "gzip_too_large",
        }
    }
}

impl std::fmt::Display for InputErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
