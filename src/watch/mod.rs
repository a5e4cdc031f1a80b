//! `denytrail watch`: the sidecar. Follows log files, CloudWatch Logs log
//! groups ([`crate::aws::Follower`]), SQS queues announcing CloudTrail
//! objects ([`crate::aws::QueueFollower`]) and stdin, counts
//! AccessDenied events into bounded Prometheus series, serves `/metrics`,
//! `/report`, `/healthz` and `/readyz`, and checkpoints so that a restart —
//! even after `kill -9` — neither loses nor double-counts an event.
//!
//! | module | holds |
//! |---|---|
//! | [`config`] | the clap arguments and their checked, working form |
//! | [`tail`] | file following: globs, identity, rotation, offsets |
//! | [`changes`] | change notification (inotify) for the followed files |
//! | [`stdin`] | the stdin reader thread |
//! | [`series`] | the bounded principal/action label sets |
//! | [`tally`] | what was counted, saved and restored with the checkpoint |
//! | [`queues`] | queue deliveries counted, finished objects, deletes after checkpoints |
//! | [`checkpoint`] | the atomic checkpoint file |
//! | [`server`] | the HTTP endpoints |
//! | [`runtime`] | threads, tasks, signals and shutdown order |

pub mod changes;
pub mod checkpoint;
pub mod config;
pub mod queues;
pub mod runtime;
pub mod series;
pub mod server;
pub mod stdin;
pub mod tail;
pub mod tally;

pub use config::{Settings, WatchArgs};
pub use runtime::{WatchError, run};
