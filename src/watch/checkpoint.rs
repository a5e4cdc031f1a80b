//! Checkpoints: where every followed file and CloudWatch Logs log group was
//! read to, which queue objects and messages were finished, and what had
//! been counted at that point, saved together so they always agree.
//!
//! One JSON file, `<state-dir>/checkpoint.json`, replaced atomically: written
//! to a temporary file in the same directory, fsynced, renamed over the old
//! one, and the directory fsynced. A crash at any moment leaves the previous
//! or the new checkpoint, never a mix. A checkpoint that cannot be read
//! stops the start (going on without it would skip what was appended while
//! the sidecar was stopped, or count again what it had counted);
//! `--reset-state` sets it aside ([`set_aside`]) and starts over.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::tail::FilePosition;
use super::tally::SavedTally;

/// Version of the checkpoint format.
pub const VERSION: u32 = 2;

/// The checkpoint file name inside the state directory.
pub const FILE_NAME: &str = "checkpoint.json";

/// Everything saved.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Checkpoint {
    /// [`VERSION`].
    pub version: u32,
    /// Unix time of the write, in seconds.
    pub written_at: f64,
    /// Followed files and their offsets.
    pub files: Vec<FilePosition>,
    /// Followed CloudWatch Logs log groups (by name) and where their
    /// followers stand (absent in checkpoints written before `--cloudwatch`).
    #[serde(default)]
    pub cloudwatch: BTreeMap<String, crate::aws::Checkpoint>,
    /// The objects and messages of followed SQS queues already counted
    /// (absent in checkpoints written before `--sqs`).
    #[serde(default)]
    pub queues: super::queues::SavedQueues,
    /// What had been counted up to those offsets.
    pub tally: SavedTally,
}

/// A checkpoint problem, with the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading, writing, syncing or renaming failed.
    #[error("checkpoint {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The checkpoint is not valid JSON of the expected shape.
    #[error(
        "checkpoint {path} is corrupt ({source}); not starting, since going on without it would skip or count again what it recorded: restore it, or run with --reset-state to set it aside and start over (counters from 0, files from --from)"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// Written by an incompatible denytrail.
    #[error(
        "checkpoint {path} has version {found}, this denytrail reads version {VERSION}: run the denytrail that wrote it, or run with --reset-state to set it aside and start over"
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u32,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The checkpoint file of a state directory.
pub fn path_in(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Load the checkpoint of `dir`: `Ok(None)` when there is none yet; a
/// file that is not a checkpoint (empty, cut, not JSON) is
/// [`CheckpointError::Corrupt`] and stays where it is.
pub fn load(dir: &Path) -> Result<Option<Checkpoint>, CheckpointError> {
    let path = path_in(dir);
    let bytes = match read_bounded(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path)(e)),
    };
    parse(&path, &bytes).map(Some)
}

/// Read a checkpoint from its bytes (`path` names it in errors): an
/// unknown version is [`CheckpointError::Version`], anything that is not a
/// checkpoint is [`CheckpointError::Corrupt`].
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
    #[derive(Deserialize)]
    struct Versioned {
        version: u32,
    }
    if let Ok(v) = serde_json::from_slice::<Versioned>(bytes)
        && v.version != VERSION
    {
        return Err(CheckpointError::Version {
            path: path.to_path_buf(),
            found: v.version,
        });
    }
    serde_json::from_slice::<Checkpoint>(bytes).map_err(|source| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        source,
    })
}

/// Move the checkpoint of `dir` aside, to `checkpoint.json.<unix time>.old`
/// (`--reset-state`): the next start begins afresh. Returns where it went,
/// or `None` when there was none.
pub fn set_aside(dir: &Path) -> Result<Option<PathBuf>, CheckpointError> {
    let path = path_in(dir);
    if fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let moved = dir.join(format!("{FILE_NAME}.{secs}.old"));
    fs::rename(&path, &moved).map_err(io_err(&path))?;
    Ok(Some(moved))
}

/// Largest checkpoint read: far above what `--max-series` and the dedup
/// window make (tens of MB), far below what would exhaust memory.
pub const MAX_CHECKPOINT_BYTES: u64 = 1 << 30;

/// The checkpoint's bytes: only from a regular file (not a device or FIFO
/// a symlink may point to), and at most [`MAX_CHECKPOINT_BYTES`].
fn read_bounded(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let f = fs::File::open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a regular file; remove it or point --state-dir elsewhere",
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len().min(MAX_CHECKPOINT_BYTES) as usize);
    f.take(MAX_CHECKPOINT_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_CHECKPOINT_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "larger than {MAX_CHECKPOINT_BYTES} bytes; remove it or point --state-dir elsewhere"
            ),
        ));
    }
    Ok(bytes)
}

/// Write `c` as the checkpoint of `dir`, atomically. Returns its size.
pub fn store(dir: &Path, c: &Checkpoint) -> Result<usize, CheckpointError> {
    let path = path_in(dir);
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let bytes = serde_json::to_vec(c).map_err(|e| io_err(&path)(io::Error::other(e)))?;
    let written = File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(&bytes)?;
            f.sync_all()
        })
        .map_err(io_err(&tmp))
        .and_then(|()| fs::rename(&tmp, &path).map_err(io_err(&path)));
    if let Err(e) = written {
        // A full disk or a failed rename leaves no half-written file
        // behind; the last good checkpoint stays where it was.
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    Ok(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_no_temp_file_and_the_old_checkpoint() {
        let d = tempfile::tempdir().unwrap();
        let c = Checkpoint {
            version: VERSION,
            written_at: 1.0,
            files: Vec::new(),
            cloudwatch: BTreeMap::new(),
            queues: Default::default(),
            tally: Default::default(),
        };
        store(d.path(), &c).unwrap();
        let before = fs::read(path_in(d.path())).unwrap();
        // A full disk: the temp file's writes go to /dev/full.
        let tmp = d.path().join(format!("{FILE_NAME}.tmp"));
        std::os::unix::fs::symlink("/dev/full", &tmp).unwrap();
        let e = store(
            d.path(),
            &Checkpoint {
                written_at: 2.0,
                ..c
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("No space left"), "{e}");
        assert!(fs::symlink_metadata(&tmp).is_err(), "temp file left behind");
        assert_eq!(fs::read(path_in(d.path())).unwrap(), before);
    }

    /// A checkpoint that is a symlink to a device is refused at once, not
    /// read without end.
    #[test]
    fn a_checkpoint_that_is_not_a_file_is_refused() {
        let d = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/zero", path_in(d.path())).unwrap();
        let e = load(d.path()).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        assert!(e.contains(FILE_NAME), "names the file: {e}");
    }

    #[test]
    fn store_then_load() {
        let d = tempfile::tempdir().unwrap();
        assert!(load(d.path()).unwrap().is_none());
        let c = Checkpoint {
            version: VERSION,
            written_at: 1.5,
            ..Checkpoint::default()
        };
        store(d.path(), &c).unwrap();
        store(d.path(), &c).unwrap();
        let back = load(d.path()).unwrap().unwrap();
        assert_eq!(back.written_at, 1.5);
        assert!(!d.path().join("checkpoint.json.tmp").exists());
    }

    #[test]
    fn corrupt_stops_until_set_aside() {
        let d = tempfile::tempdir().unwrap();
        for bad in [&b"{not json"[..], b""] {
            fs::write(path_in(d.path()), bad).unwrap();
            let e = load(d.path()).unwrap_err();
            assert!(matches!(e, CheckpointError::Corrupt { .. }), "{e}");
            assert!(e.to_string().contains("--reset-state"), "{e}");
            // It stays until told otherwise.
            assert!(load(d.path()).is_err());
            let moved = set_aside(d.path()).unwrap().unwrap();
            assert_eq!(fs::read(&moved).unwrap(), bad);
            assert!(load(d.path()).unwrap().is_none());
            fs::remove_file(moved).unwrap();
        }
        assert!(set_aside(d.path()).unwrap().is_none());
        fs::write(
            path_in(d.path()),
            br#"{"version":99,"written_at":0,"files":[],"tally":{}}"#,
        )
        .unwrap();
        assert!(matches!(
            load(d.path()).unwrap_err(),
            CheckpointError::Version { found: 99, .. }
        ));
    }
}
