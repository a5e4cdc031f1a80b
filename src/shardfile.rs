//! The file a shard writes beside its JSON report for `denytrail merge`:
//! its groups and counters ([`ShardState`]) and one compact record per
//! event it counted ([`EventRecord`]), zlib-compressed.
//!
//! Layout: the magic `DTSHARD1`, then a zlib stream holding a 4-byte
//! little-endian length, the state as JSON, and the records. While a shard
//! runs, records are appended to a temporary spill file in the output's
//! directory (memory stays flat); at the end the spill is copied behind the
//! state, with group numbers turned into report positions. The report names
//! the file with its size and XXH3 checksum, so that merge notices a file
//! that does not belong to the report.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;

use crate::aggregate::shard::{EventRecord, RecordError, ShardState, ShardStateRef};
use crate::report::ShardStateFile;

/// The first bytes of a shard state file.
pub const MAGIC: &[u8; 8] = b"DTSHARD1";

/// Largest state header accepted when reading (groups are bounded, but a
/// damaged length must not make merge allocate without end).
const MAX_HEADER: u32 = 1 << 30;

/// A shard state file that cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ShardFileError {
    /// Reading or writing failed.
    #[error("shard state {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file is not a shard state file, or is damaged.
    #[error("shard state {path} is damaged or not a shard state file: {what}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ShardFileError + '_ {
    move |source| ShardFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The records of a running shard, spilled to a temporary file.
#[derive(Debug)]
pub struct Spill {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    buf: Vec<u8>,
    count: u64,
}

impl Spill {
    /// A spill beside `report` (removed when written or dropped).
    pub fn create(report: &Path) -> Result<Spill, ShardFileError> {
        let path = with_suffix(report, ".shard.spill");
        let f = File::create(&path).map_err(io_err(&path))?;
        Ok(Spill {
            path,
            out: Some(BufWriter::with_capacity(1 << 20, f)),
            buf: Vec::with_capacity(64),
            count: 0,
        })
    }

    /// Append one record.
    pub fn push(&mut self, r: &EventRecord) -> Result<(), ShardFileError> {
        self.buf.clear();
        r.encode(&mut self.buf);
        self.count += 1;
        match &mut self.out {
            Some(o) => o.write_all(&self.buf).map_err(io_err(&self.path)),
            None => Ok(()),
        }
    }

    /// Records spilled.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// No record spilled.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `report`'s path with `suffix` appended to its file name.
pub fn with_suffix(report: &Path, suffix: &str) -> PathBuf {
    let mut name = report.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    report.with_file_name(name)
}

/// Write the state file beside `report`: `state` (its `events` set from the
/// spill), then the spilled records with each group number `g` turned into
/// `position(g)`.
pub fn write(
    report: &Path,
    state: &ShardStateRef<'_>,
    mut spill: Spill,
    position: &dyn Fn(u32) -> u32,
) -> Result<ShardStateFile, ShardFileError> {
    let path = with_suffix(report, ".shard");
    let state = ShardStateRef {
        events: spill.count,
        ..state.clone()
    };
    let spill_path = spill.path.clone();
    if let Some(out) = spill.out.take() {
        out.into_inner()
            .map_err(|e| io_err(&spill_path)(e.into_error()))?;
    }
    let tmp = with_suffix(&path, ".tmp");
    let result = (|| -> Result<(), ShardFileError> {
        let f = File::create(&tmp).map_err(io_err(&tmp))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        w.write_all(MAGIC).map_err(io_err(&tmp))?;
        let mut z = ZlibEncoder::new(w, Compression::fast());
        let header = serde_json::to_vec(&state).map_err(|e| ShardFileError::Damaged {
            path: tmp.clone(),
            what: format!("cannot encode the state: {e}"),
        })?;
        z.write_all(&(header.len() as u32).to_le_bytes())
            .and_then(|()| z.write_all(&header))
            .map_err(io_err(&tmp))?;
        let mut records = Records::new(
            BufReader::new(File::open(&spill_path).map_err(io_err(&spill_path))?),
            spill_path.clone(),
        );
        let mut buf = Vec::with_capacity(64);
        while let Some(r) = records.next_record()? {
            let r = match r {
                EventRecord::Denial {
                    key,
                    group,
                    contribution,
                    account,
                    time,
                } => EventRecord::Denial {
                    key,
                    group: position(group),
                    contribution,
                    account,
                    time,
                },
                other => other,
            };
            buf.clear();
            r.encode(&mut buf);
            z.write_all(&buf).map_err(io_err(&tmp))?;
        }
        let mut w = z.finish().map_err(io_err(&tmp))?;
        w.flush().map_err(io_err(&tmp))?;
        w.get_ref().sync_all().map_err(io_err(&tmp))?;
        Ok(())
    })();
    let _ = std::fs::remove_file(&spill_path);
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
    let (bytes, xxh3) = checksum(&path)?;
    Ok(ShardStateFile {
        file: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        events: state.events,
        bytes,
        xxh3,
        inputs: Vec::new(),
        range: String::new(),
    })
}

fn checksum(path: &Path) -> Result<(u64, String), ShardFileError> {
    let mut f = File::open(path).map_err(io_err(path))?;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(io_err(path))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((n, format!("{:016x}", h.digest())))
}

/// Records read back one at a time.
pub struct Records<R: Read> {
    inner: R,
    path: PathBuf,
    buf: Vec<u8>,
    start: usize,
    index: u64,
    eof: bool,
}

impl<R: Read> Records<R> {
    fn new(inner: R, path: PathBuf) -> Records<R> {
        Records {
            inner,
            path,
            buf: Vec::with_capacity(1 << 16),
            start: 0,
            index: 0,
            eof: false,
        }
    }

    /// The next record; `None` at the end.
    pub fn next_record(&mut self) -> Result<Option<EventRecord>, ShardFileError> {
        loop {
            let damaged = |e: RecordError| ShardFileError::Damaged {
                path: self.path.clone(),
                what: e.to_string(),
            };
            match EventRecord::decode(&self.buf[self.start..], self.index).map_err(damaged)? {
                Some((r, n)) => {
                    self.start += n;
                    self.index += 1;
                    return Ok(Some(r));
                }
                None if self.eof => {
                    if self.start < self.buf.len() {
                        return Err(ShardFileError::Damaged {
                            path: self.path.clone(),
                            what: format!("it ends inside event record {}", self.index),
                        });
                    }
                    return Ok(None);
                }
                None => {
                    self.buf.drain(..self.start);
                    self.start = 0;
                    let old = self.buf.len();
                    self.buf.resize(old + (1 << 16), 0);
                    let n = self
                        .inner
                        .read(&mut self.buf[old..])
                        .map_err(io_err(&self.path))?;
                    self.buf.truncate(old + n);
                    self.eof = n == 0;
                }
            }
        }
    }
}

/// The records of a state file being read.
pub type StateRecords = Records<ZlibDecoder<BufReader<File>>>;

/// Open the state file `s` names, beside `report`: check it is the one the
/// report names (size and checksum), read the state, and return it with a
/// reader of its records.
pub fn open(
    report: &Path,
    s: &ShardStateFile,
) -> Result<(ShardState, StateRecords), ShardFileError> {
    if s.file.contains('/') || s.file.is_empty() {
        return Err(ShardFileError::Damaged {
            path: report.to_path_buf(),
            what: format!(
                "the report names a state file {:?} outside its directory",
                s.file
            ),
        });
    }
    let path = report.with_file_name(&s.file);
    let (bytes, xxh3) = checksum(&path)?;
    if bytes != s.bytes || xxh3 != s.xxh3 {
        return Err(ShardFileError::Damaged {
            path,
            what: format!(
                "it is {bytes} bytes with checksum {xxh3}, the report expects {} bytes with checksum {}: it was not written with this report",
                s.bytes, s.xxh3
            ),
        });
    }
    let mut f = BufReader::new(File::open(&path).map_err(io_err(&path))?);
    let mut magic = [0u8; 8];
    f.read_exact(&mut magic).map_err(io_err(&path))?;
    if &magic != MAGIC {
        return Err(ShardFileError::Damaged {
            path,
            what: "wrong magic bytes".into(),
        });
    }
    let mut z = ZlibDecoder::new(f);
    let mut len = [0u8; 4];
    z.read_exact(&mut len).map_err(io_err(&path))?;
    let len = u32::from_le_bytes(len);
    if len > MAX_HEADER {
        return Err(ShardFileError::Damaged {
            path,
            what: format!("state of {len} bytes"),
        });
    }
    let mut header = vec![0u8; len as usize];
    z.read_exact(&mut header).map_err(io_err(&path))?;
    let state: ShardState =
        serde_json::from_slice(&header).map_err(|e| ShardFileError::Damaged {
            path: path.clone(),
            what: format!("the state is not valid: {e}"),
        })?;
    Ok((state, Records::new(z, path)))
}
