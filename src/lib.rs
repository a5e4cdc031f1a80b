//! denytrail: find AWS AccessDenied events in CloudTrail and CloudWatch Logs,
//! group them by principal and say how to fix them.
//!
//! One pipeline, each stage written once and used by every command (replay,
//! watch, merge, explain). Data flows one way; a module uses the ones above
//! it, never below:
//!
//! ```text
//! input (InputError)                       what went wrong, where
//! source ([`source`], [`aws`])             bytes or messages + origin
//!   decode ([`decode`])                    gzip, members, size cap
//!   frame ([`frame`])                      format, record boundaries, offsets
//!   prefilter ([`prefilter`])              candidate records only
//!   classify ([`classify`])                Denial / AuthFailure / Other
//!   scope ([`scope`])                      which actions, which times
//!   = scan ([`scan`])                      the stages above, composed
//! aggregate ([`aggregate`])                groups, dedup, counters (bounded)
//! hints ([`hints`])                        what to do, per group
//! sinks: [`report`] (JSON/table/markdown), [`page`] (HTML), [`metrics`] + [`events`],
//!        [`shardfile`] (state for merge), checkpoints ([`watch`])
//! drivers: [`replay`], [`merge`], [`watch`] (the sidecar)
//! ```
//!
//! [`hash`] and [`time`] hold the hashes and the time grammar every stage
//! shares; [`generate`] writes the test corpora.
#![deny(missing_docs)]

pub mod aggregate;
pub mod aws;
pub mod classify;
pub mod decode;
pub mod events;
pub mod frame;
pub mod generate;
pub mod hash;
pub mod hints;
pub mod input;
pub mod merge;
pub mod metrics;
pub mod page;
pub mod prefilter;
pub mod replay;
pub mod report;
pub mod scan;
pub mod scope;
pub mod shardfile;
pub mod source;
pub mod time;
pub mod watch;
