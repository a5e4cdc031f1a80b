//! `denytrail merge`: shard reports in, the report one machine would have
//! made out. Reads each shard's report and the state file beside it, in
//! shard order, streams the event records through
//! [`ShardMerger`](crate::aggregate::shard::ShardMerger) (which takes back
//! an event a later shard counted again), and builds the report from the
//! one aggregate, as replay does.
//!
//! A shard set is refused when it cannot give the whole: a shard given
//! twice, a missing shard, shards of different `N`, scopes or list sizes,
//! or a report of a schema version merge cannot read. Merge reads only a
//! shard report's summary and `shard_state` (the groups come back from
//! the state file), which every version from [`OLDEST_MERGED_VERSION`]
//! on writes alike.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::aggregate::shard::{REPLICA, STATE_VERSION, ShardMerger, ShardState, UnknownGroup};
use crate::replay::Shard;
use crate::report::{Run, SCHEMA_VERSION, ShardStateFile, Summary};
use crate::shardfile::{self, ShardFileError};

/// Shard reports that cannot be merged. Each names the files concerned.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A report that is not a shard report.
    #[error(
        "{0}: not a shard report (no summary.shard or no shard_state) nor a replica's /report (no replica state): make shard reports with `replay --shard I/N --format json --output FILE`, and merge replicas' reports only with one another"
    )]
    NotAShard(PathBuf),
    /// A report written by a version of the schema merge cannot read.
    #[error(
        "{path}: report version {found}, this denytrail merges versions {OLDEST_MERGED_VERSION} to {SCHEMA_VERSION}"
    )]
    Version {
        /// The report.
        path: PathBuf,
        /// Its version.
        found: u32,
    },
    /// A shard label that does not parse.
    #[error("{path}: summary.shard {label:?} is not I/N")]
    BadLabel {
        /// The report.
        path: PathBuf,
        /// The label.
        label: String,
    },
    /// Shards of different counts.
    #[error("{first} is shard {a} and {second} is shard {b}: they belong to different shard sets")]
    MixedCounts {
        /// One report.
        first: PathBuf,
        /// Its label.
        a: String,
        /// Another.
        second: PathBuf,
        /// Its label.
        b: String,
    },
    /// The same shard twice.
    #[error("shard {shard} is given twice: {first} and {second}")]
    Duplicate {
        /// The label.
        shard: String,
        /// One file.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// Shards missing from the set.
    #[error("shards {missing} of {count} are missing: merging the rest would not give the whole")]
    Missing {
        /// `N`.
        count: u32,
        /// The missing indices, as `0, 3`.
        missing: String,
    },
    /// Shards made with different scopes or list sizes.
    #[error("{first} and {second} were made with different settings ({what})")]
    Settings {
        /// One report.
        first: PathBuf,
        /// Another.
        second: PathBuf,
        /// Which setting.
        what: String,
    },
    /// A state file that cannot be read.
    #[error(transparent)]
    State(#[from] ShardFileError),
    /// A state file whose records do not fit its groups.
    #[error("{path}: {source}")]
    Records {
        /// The report.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: UnknownGroup,
    },
}

/// The oldest report version merge reads: version 2 changed how groups
/// carry their hints, which merge does not read.
pub const OLDEST_MERGED_VERSION: u32 = 1;

/// What merge reads of a shard report: its version, summary and
/// `shard_state`. The groups come back from the state file, so the rest
/// of the report is skipped unread (and may be of any version from
/// [`OLDEST_MERGED_VERSION`] on).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ShardReport {
    /// The report's schema version.
    pub version: u32,
    /// Its totals; `summary.shard` says which shard it is.
    pub summary: Summary,
    /// The state file beside it.
    #[serde(default)]
    pub shard_state: Option<ShardStateFile>,
    /// A `watch` replica's state (its `/report` when it follows queues).
    #[serde(default)]
    pub replica: Option<Box<ShardState>>,
}

/// Merge the shard reports read from `reports` (path and report), or the
/// `/report`s of `watch` replicas that shared queues.
pub fn merge(reports: Vec<(PathBuf, ShardReport)>) -> Result<Run, MergeError> {
    if reports.iter().any(|(_, r)| r.replica.is_some()) {
        return merge_replicas(reports);
    }
    let mut shards: Vec<(Shard, PathBuf, ShardReport)> = Vec::with_capacity(reports.len());
    for (path, r) in reports {
        if !(OLDEST_MERGED_VERSION..=SCHEMA_VERSION).contains(&r.version) {
            return Err(MergeError::Version {
                path,
                found: r.version,
            });
        }
        let (Some(label), Some(_)) = (r.summary.shard.clone(), &r.shard_state) else {
            return Err(MergeError::NotAShard(path));
        };
        let shard: Shard = label.parse().map_err(|_| MergeError::BadLabel {
            path: path.clone(),
            label: label.clone(),
        })?;
        shards.push((shard, path, r));
    }
    shards.sort_by_key(|(s, _, _)| s.index);
    if let Some((first, rest)) = shards.split_first() {
        for other in rest {
            if other.0.count != first.0.count {
                return Err(MergeError::MixedCounts {
                    first: first.1.clone(),
                    a: first.0.to_string(),
                    second: other.1.clone(),
                    b: other.0.to_string(),
                });
            }
            let (a, b) = (&first.2.shard_state, &other.2.shard_state);
            if let (Some(a), Some(b)) = (a, b) {
                // Empty in shards written before they said it.
                if !a.inputs.is_empty() && !b.inputs.is_empty() && a.inputs != b.inputs {
                    return Err(MergeError::Settings {
                        first: first.1.clone(),
                        second: other.1.clone(),
                        what: format!("inputs {:?} and {:?}", a.inputs, b.inputs),
                    });
                }
                if !a.range.is_empty() && !b.range.is_empty() && a.range != b.range {
                    return Err(MergeError::Settings {
                        first: first.1.clone(),
                        second: other.1.clone(),
                        what: format!("time range {} and {}", a.range, b.range),
                    });
                }
            }
            if other.2.summary.scope != first.2.summary.scope {
                return Err(MergeError::Settings {
                    first: first.1.clone(),
                    second: other.1.clone(),
                    what: format!(
                        "scope {:?} and {:?}",
                        first.2.summary.scope, other.2.summary.scope
                    ),
                });
            }
        }
    }
    for w in shards.windows(2) {
        if w[0].0.index == w[1].0.index {
            return Err(MergeError::Duplicate {
                shard: w[0].0.to_string(),
                first: w[0].1.clone(),
                second: w[1].1.clone(),
            });
        }
    }
    let count = shards.first().map_or(0, |s| s.0.count);
    let missing: Vec<String> = (0..count)
        .filter(|i| !shards.iter().any(|s| s.0.index == *i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing {
            count,
            missing: missing.join(", "),
        });
    }
    let scope = shards
        .first()
        .map(|s| s.2.summary.scope.clone())
        .unwrap_or_default();
    let mut merger = ShardMerger::new();
    let mut list_max: Option<(usize, &Path)> = None;
    for (shard, path, r) in &shards {
        let Some(file) = &r.shard_state else {
            return Err(MergeError::NotAShard(path.clone()));
        };
        let (state, mut records) = shardfile::open(path, file)?;
        if state.version != STATE_VERSION
            || state.shard != shard.to_string()
            || state.scope != scope
        {
            return Err(MergeError::State(ShardFileError::Damaged {
                path: path.with_file_name(&file.file),
                what: format!(
                    "it holds shard {} (scope {:?}, version {}), the report is shard {shard} (scope {scope:?}): it belongs to another run",
                    state.shard, state.scope, state.version
                ),
            }));
        }
        match list_max {
            Some((k, first)) if k != state.list_max => {
                return Err(MergeError::Settings {
                    first: first.to_path_buf(),
                    second: path.clone(),
                    what: format!("--list-max {k} and {}", state.list_max),
                });
            }
            None => list_max = Some((state.list_max, path.as_path())),
            _ => {}
        }
        let n = merger.shard(state);
        while let Some(rec) = records.next_record()? {
            merger
                .event(n, &rec)
                .map_err(|source| MergeError::Records {
                    path: path.clone(),
                    source,
                })?;
        }
    }
    Ok(Run::new(merger.finish().finish(), scope, None))
}

/// Merge the `/report`s of `watch` replicas: each counted what it took
/// from the queues they share, so their groups and counters add up (an
/// event delivered to two replicas, in two objects, is counted by each:
/// replicas keep no event records).
fn merge_replicas(reports: Vec<(PathBuf, ShardReport)>) -> Result<Run, MergeError> {
    let mut merger = ShardMerger::new();
    let mut first: Option<(PathBuf, String, usize)> = None;
    for (path, r) in reports {
        if r.version != SCHEMA_VERSION {
            return Err(MergeError::Version {
                path,
                found: r.version,
            });
        }
        let Some(state) = r.replica else {
            return Err(MergeError::NotAShard(path));
        };
        if state.version != STATE_VERSION || state.shard != REPLICA {
            return Err(MergeError::State(ShardFileError::Damaged {
                path,
                what: format!(
                    "its replica state is {} version {}, not {REPLICA} version {STATE_VERSION}",
                    state.shard, state.version
                ),
            }));
        }
        match &first {
            Some((p, scope, k)) if *scope != state.scope || *k != state.list_max => {
                return Err(MergeError::Settings {
                    first: p.clone(),
                    second: path,
                    what: format!(
                        "scope {scope:?}, --list-max {k} and scope {:?}, --list-max {}",
                        state.scope, state.list_max
                    ),
                });
            }
            Some(_) => {}
            None => first = Some((path, state.scope.clone(), state.list_max)),
        }
        merger.shard(*state);
    }
    let scope = first.map(|f| f.1).unwrap_or_default();
    Ok(Run::new(merger.finish().finish(), scope, None))
}
