//! File following, like `tail -F`: the tailer owns file identity,
//! rotation and offsets; nothing else does (mtail's tailer).
//!
//! Each [`Tailer::poll`]:
//! 1. expands the `--file` globs and opens files it does not follow yet
//!    (a file is known by its identity: device, inode and a fingerprint of
//!    its first line, so a rename inside the globs is followed, not re-read);
//! 2. reads what was appended to every followed file and hands the bytes
//!    out ([`TailEvent::Bytes`]) with the file's serial number and offset.
//!    Framing them into lines is the caller's (a partial last line waits
//!    there); the caller says how far it consumed each file
//!    ([`Tailer::positions`] takes it) for the checkpoint.
//!
//! [`Look::Paths`] narrows a poll to the paths a change notification named
//! (the globs are walked again only when one of them is a file not
//! followed yet); [`Look::All`] looks at everything, for polling without
//! notifications and for the periodic sweep that catches what they miss.
//!
//! Descriptors: at most [`TailOptions::max_open`] files are open at once.
//! Past that, the least recently active file is closed and followed by its
//! path: a `stat` that shows the same device, inode, size and times says
//! nothing changed (no open, no read); any change opens it again, checks
//! that the descriptor is the same file, and reads on from its offset. A
//! file whose open fails (no descriptors left, permissions) keeps its
//! offset and is tried again at the next poll: a failed open is never
//! taken for a rotation, and never makes a file read again from 0.
//!
//! Rotation:
//! - **rename / create** (logrotate `create`): the path now names another
//!   file, or none. The old file is read to its end through the descriptor
//!   still open, then closed; the new file at the path is read from its
//!   start.
//! - **truncate** (logrotate `copytruncate`): the file is shorter than the
//!   offset, or its first line changed: reading restarts at 0.
//! - **gzip**: a file whose content starts with the gzip magic is never
//!   followed (`app.log.1.gz` is a rotated copy already read as `app.log`).
//!
//! Where reading starts for a file seen for the first time: the checkpoint
//! offset when the checkpoint knows the file's identity; else `--from` for
//! files present at the first poll of a run without a checkpoint; else 0
//! (the file appeared later, or while denytrail was stopped).
//!
//! Synchronous, no metrics, no logs: what happens is reported through
//! [`TailEvent`]s and the caller counts and logs it.

use std::collections::HashSet;
use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};
use serde::{Deserialize, Serialize};

use crate::events::RotationKind;

/// Longest prefix of a file hashed as its fingerprint (up to the first
/// newline).
pub const FINGERPRINT_MAX: usize = 1024;

/// Bytes read per `read` call.
const READ_CHUNK: usize = 1 << 20;

/// A `--file` argument: `[NAME=]GLOB`.
#[derive(Debug, Clone)]
pub struct FileSource {
    /// The `source` label (NAME, or the glob as written).
    pub name: String,
    /// The glob as written.
    pub pattern: String,
    matcher: GlobMatcher,
    /// Directory walked to find matches.
    base: PathBuf,
    /// How deep below `base` matches can be (`None`: any depth, for `**`).
    depth: Option<usize>,
    /// The pattern has no glob characters: it names one file.
    literal: bool,
}

/// A `--file` value that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The glob does not compile.
    #[error("--file {spec:?}: invalid glob: {source}")]
    Glob {
        /// The argument.
        spec: String,
        /// Why.
        source: globset::Error,
    },
    /// Empty name or glob.
    #[error("--file {spec:?}: expected [NAME=]GLOB")]
    Empty {
        /// The argument.
        spec: String,
    },
    /// A relative glob and no current directory to anchor it.
    #[error("--file {spec:?}: cannot resolve the current directory: {source}")]
    Cwd {
        /// The argument.
        spec: String,
        /// Why.
        source: io::Error,
    },
}

fn has_glob_meta(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

impl FileSource {
    /// Parse `[NAME=]GLOB`. A relative glob is anchored at the current
    /// directory.
    ///
    /// ```
    /// use denytrail::watch::tail::FileSource;
    /// let s = FileSource::parse("app=/var/log/app/*.log").unwrap();
    /// assert_eq!((s.name.as_str(), s.pattern.as_str()), ("app", "/var/log/app/*.log"));
    /// assert!(s.matches(std::path::Path::new("/var/log/app/x.log")));
    /// assert!(!s.matches(std::path::Path::new("/var/log/app/x.log.1.gz")));
    /// ```
    pub fn parse(spec: &str) -> Result<FileSource, SourceError> {
        let (name, pattern) = match spec.split_once('=') {
            Some((n, p)) if !n.is_empty() && !n.contains('/') && !has_glob_meta(n) => (n, p),
            _ => (spec, spec),
        };
        if pattern.is_empty() {
            return Err(SourceError::Empty {
                spec: spec.to_string(),
            });
        }
        let mut full = PathBuf::from(pattern);
        if full.is_relative() {
            let cwd = std::env::current_dir().map_err(|source| SourceError::Cwd {
                spec: spec.to_string(),
                source,
            })?;
            full = cwd.join(full);
        }
        let full_str = full.to_string_lossy().into_owned();
        let matcher = GlobBuilder::new(&full_str)
            .literal_separator(true)
            .build()
            .map_err(|source| SourceError::Glob {
                spec: spec.to_string(),
                source,
            })?
            .compile_matcher();
        let mut base = PathBuf::new();
        let mut rest = 0usize;
        let mut any_depth = false;
        let mut in_glob = false;
        for c in full.components() {
            let s = c.as_os_str().to_string_lossy();
            if !in_glob && !has_glob_meta(&s) {
                base.push(c.as_os_str());
                continue;
            }
            in_glob = true;
            if matches!(c, Component::Normal(_)) {
                rest += 1;
                any_depth |= s.contains("**");
            }
        }
        Ok(FileSource {
            name: name.to_string(),
            pattern: pattern.to_string(),
            matcher,
            base,
            depth: (!any_depth).then_some(rest),
            literal: !in_glob,
        })
    }

    /// The directory the glob is walked from (the file, for a literal).
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// How deep below [`FileSource::base`] matches lie (`None`: any depth).
    pub fn depth(&self) -> Option<usize> {
        self.depth
    }

    /// The pattern names one file.
    pub fn is_literal(&self) -> bool {
        self.literal
    }

    /// Does `path` match the glob?
    pub fn matches(&self, path: &Path) -> bool {
        self.matcher.is_match(path)
    }

    /// The regular files that match now, sorted.
    pub fn expand(&self) -> Vec<PathBuf> {
        if self.literal {
            return if self.base.is_file() {
                vec![self.base.clone()]
            } else {
                Vec::new()
            };
        }
        let mut w = walkdir::WalkDir::new(&self.base)
            .follow_links(true)
            .min_depth(1);
        if let Some(d) = self.depth {
            w = w.max_depth(d);
        }
        let mut out: Vec<PathBuf> = w
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file() && self.matches(e.path()))
            .map(walkdir::DirEntry::into_path)
            .collect();
        out.sort();
        out
    }
}

/// A file's identity: where it lives on disk and what its first line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileId {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Bytes hashed into `fp` (the first line, at most [`FINGERPRINT_MAX`]).
    pub fp_len: u32,
    /// FNV-1a hash of the first `fp_len` bytes.
    pub fp: u64,
}

/// FNV-1a, 64 bits: stable across versions and platforms (it is persisted).
///
/// ```
/// assert_eq!(denytrail::watch::tail::fnv1a(b""), 0xcbf29ce484222325);
/// ```
pub fn fnv1a(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h ^= u64::from(x);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Fingerprint of a file's first line (or of all its bytes when shorter
/// and without a newline yet).
fn fingerprint(f: &File) -> io::Result<(u32, u64)> {
    let mut buf = [0u8; FINGERPRINT_MAX];
    let mut n = 0;
    while n < buf.len() {
        let k = f.read_at(&mut buf[n..], n as u64)?;
        if k == 0 {
            break;
        }
        n += k;
    }
    let len = memchr::memchr(b'\n', &buf[..n]).map_or(n, |i| i + 1);
    Ok((len as u32, fnv1a(&buf[..len])))
}

/// Does the file still start with the bytes fingerprinted as `id`?
fn same_start(f: &File, id: &FileId) -> io::Result<bool> {
    if id.fp_len == 0 {
        return Ok(true);
    }
    let mut buf = vec![0u8; id.fp_len as usize];
    let mut n = 0;
    while n < buf.len() {
        let k = f.read_at(&mut buf[n..], n as u64)?;
        if k == 0 {
            return Ok(false);
        }
        n += k;
    }
    Ok(fnv1a(&buf) == id.fp)
}

fn is_gzip(f: &File) -> io::Result<bool> {
    let mut m = [0u8; 2];
    let n = f.read_at(&mut m, 0)?;
    Ok(n == 2 && m == [0x1f, 0x8b])
}

/// Where one followed file is, as saved in the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePosition {
    /// The path it was last seen at.
    pub path: PathBuf,
    /// Its identity.
    pub id: FileId,
    /// Bytes consumed: every complete line before this offset was counted.
    pub offset: u64,
    /// The file's serial number in this process (not saved).
    #[serde(skip)]
    pub serial: u64,
}

/// Where to start in files present at the first poll when there is no
/// checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StartAt {
    /// Read them whole.
    Start,
    /// Only what is appended from now on.
    End,
}

/// What a poll saw.
#[derive(Debug)]
pub enum TailEvent<'a> {
    /// Bytes read from a file.
    Bytes {
        /// The file's serial number (from [`TailEvent::Opened`]).
        serial: u64,
        /// The configured source's name.
        source: &'a str,
        /// The file's path, as text (the origin of errors).
        origin: &'a str,
        /// File offset of `bytes[0]`.
        base: u64,
        /// The bytes.
        bytes: &'a [u8],
    },
    /// A file is now followed.
    Opened {
        /// Its serial number in this process.
        serial: u64,
        /// Its path.
        path: &'a Path,
        /// Where reading starts.
        offset: u64,
        /// Why there.
        from: &'static str,
    },
    /// A followed file was rotated: after a truncation, reading restarts
    /// at 0 (the caller drops its partial line).
    Rotated {
        /// The file's serial number.
        serial: u64,
        /// The followed path.
        path: &'a Path,
        /// How.
        kind: RotationKind,
    },
    /// A followed file was read to its end and closed.
    Closed {
        /// Its serial number.
        serial: u64,
        /// Its last path.
        path: &'a Path,
        /// Bytes read.
        offset: u64,
    },
    /// A matching file is not followed (gzip content).
    Ignored {
        /// Its path.
        path: &'a Path,
        /// Why.
        why: &'static str,
    },
    /// The process ran out of file descriptors opening a file: from now
    /// on at most `max_open` followed files are open at once (the file is
    /// tried again at the next poll, at its offset).
    Crowded {
        /// The file whose open failed.
        path: &'a Path,
        /// The new bound.
        max_open: usize,
    },
    /// A matching file cannot be opened or read.
    Unreadable {
        /// Its path.
        path: &'a Path,
        /// Why.
        error: io::Error,
    },
}

/// One followed file.
#[derive(Debug)]
struct Followed {
    path: PathBuf,
    origin: String,
    source: usize,
    /// `None` while closed to stay under [`TailOptions::max_open`].
    file: Option<File>,
    id: FileId,
    serial: u64,
    /// Offset of the next byte to read.
    read: u64,
    /// What `stat` said when the file was last read to its end: the same
    /// again means nothing changed.
    seen: Option<Stat>,
    /// Poll number of its last read that returned bytes.
    active: u64,
    /// Look at it at the next poll, whatever a notification says: its read
    /// budget ran out, or it moved and is being read to its end.
    again: bool,
    /// When it was last seen moved with nothing new to read.
    idle_moved: Option<std::time::Instant>,
}

/// The parts of `stat` that change when a file is written, truncated or
/// replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stat {
    fn of(m: &Metadata) -> Stat {
        Stat {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// Which files a poll looks at.
#[derive(Debug, Clone, Copy)]
pub enum Look<'a> {
    /// Every followed file, and the globs again.
    All,
    /// The followed files at these paths (a change notification named
    /// them), and those still being read; the globs again only when one of
    /// the paths matches them and is not followed yet.
    Paths(&'a HashSet<PathBuf>),
}

/// Knobs of a [`Tailer`].
#[derive(Debug, Clone, Copy)]
pub struct TailOptions {
    /// Where to start in files present at the first poll without checkpoint.
    pub from: StartAt,
    /// Bytes read from one file in one poll, at most (fairness between
    /// files, and checkpoints during a long catch-up).
    pub read_budget: u64,
    /// Files open at once, at most (at least 1).
    pub max_open: usize,
    /// How long a file moved away from its path is still read through its
    /// descriptor once nothing new arrives (the writer may not have
    /// reopened yet; a notification may arrive between the rename and the
    /// writer's last lines).
    pub rotate_wait: std::time::Duration,
}

/// Default of [`TailOptions::rotate_wait`].
pub const DEFAULT_ROTATE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Default of [`TailOptions::max_open`]: under the usual limit of 1,024
/// descriptors with room for the HTTP server's 256 connections.
pub const DEFAULT_MAX_OPEN: usize = 512;

impl Default for TailOptions {
    fn default() -> Self {
        TailOptions {
            from: StartAt::End,
            read_budget: 16 << 20,
            max_open: DEFAULT_MAX_OPEN,
            rotate_wait: DEFAULT_ROTATE_WAIT,
        }
    }
}

/// Follows the files matching a set of globs.
#[derive(Debug)]
pub struct Tailer {
    sources: Vec<FileSource>,
    opts: TailOptions,
    followed: Vec<Followed>,
    /// Positions from the checkpoint not matched to a file yet.
    saved: Vec<FilePosition>,
    /// A checkpoint was loaded: files it does not know are read from 0.
    restored: bool,
    /// The first poll is done.
    started: bool,
    /// Files (device, inode) present at the first poll and not opened yet:
    /// `--from` applies to them whenever their open succeeds.
    at_start: HashSet<(u64, u64)>,
    /// Descriptors open now.
    open: usize,
    /// The bound on `open` learned from running out of descriptors.
    crowded: Option<usize>,
    /// A new file could not be opened for want of a descriptor: walk the
    /// globs again at the next poll, whatever it looks at.
    rewalk: bool,
    /// This poll walked the globs: a file missing from its path is not
    /// just renamed inside them (a notification may name only the old
    /// path).
    walked: bool,
    /// Polls so far.
    polls: u64,
    /// Paths reported as ignored or unreadable (reported once).
    reported: HashSet<PathBuf>,
    /// Bumped on every change of position (for "is a checkpoint due").
    generation: u64,
    next_serial: u64,
    buf: Vec<u8>,
}

impl Tailer {
    /// A tailer for these sources; nothing is opened before the first poll.
    pub fn new(sources: Vec<FileSource>, opts: TailOptions) -> Tailer {
        Tailer {
            sources,
            opts,
            followed: Vec::new(),
            saved: Vec::new(),
            restored: false,
            started: false,
            at_start: HashSet::new(),
            open: 0,
            crowded: None,
            rewalk: false,
            walked: false,
            polls: 0,
            reported: HashSet::new(),
            generation: 0,
            next_serial: 0,
            buf: Vec::new(),
        }
    }

    /// Resume from checkpointed positions (call before the first poll).
    pub fn restore(&mut self, positions: Vec<FilePosition>) {
        self.saved = positions;
        self.restored = true;
    }

    /// The positions to checkpoint: one per followed file, at the offset
    /// `consumed` says the caller consumed it to (by serial number; the
    /// read offset when it says nothing).
    pub fn positions(&self, consumed: &dyn Fn(u64) -> Option<u64>) -> Vec<FilePosition> {
        self.followed
            .iter()
            .map(|f| FilePosition {
                path: f.path.clone(),
                id: f.id,
                offset: consumed(f.serial).unwrap_or(f.read).min(f.read),
                serial: f.serial,
            })
            .collect()
    }

    /// Changes whenever a position changes.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Files followed now.
    pub fn followed(&self) -> usize {
        self.followed.len()
    }

    /// Files open now (at most [`TailOptions::max_open`]).
    pub fn open_files(&self) -> usize {
        self.open
    }

    /// Does a change at `path` concern the followed files?
    pub fn watches(&self, path: &Path) -> bool {
        self.sources.iter().any(|s| s.matches(path))
    }

    /// Discover files, read what was appended, hand out the bytes.
    /// Returns `true` when a file has more to read than this poll's budget
    /// allowed (poll again without waiting).
    pub fn poll(&mut self, look: Look<'_>, out: &mut dyn FnMut(TailEvent<'_>)) -> bool {
        self.polls += 1;
        let walk = std::mem::take(&mut self.rewalk)
            || match look {
                Look::All => true,
                Look::Paths(paths) => {
                    !self.started || {
                        let followed: HashSet<&Path> =
                            self.followed.iter().map(|f| f.path.as_path()).collect();
                        paths
                            .iter()
                            .any(|p| !followed.contains(p.as_path()) && self.watches(p))
                    }
                }
            };
        if walk {
            self.discover(out);
        }
        self.walked = walk;
        self.started = true;
        let mut more = false;
        let mut i = 0;
        while i < self.followed.len() {
            if let Look::Paths(paths) = look {
                let f = &self.followed[i];
                if !f.again && !paths.contains(&f.path) {
                    i += 1;
                    continue;
                }
            }
            match self.read_one(i, out) {
                Step::Keep { more: m } => {
                    more |= m;
                    i += 1;
                }
                Step::Close => {
                    let f = self.followed.swap_remove(i);
                    self.open -= usize::from(f.file.is_some());
                    self.generation += 1;
                    out(TailEvent::Closed {
                        serial: f.serial,
                        path: &f.path,
                        offset: f.read,
                    });
                    // The path may already name its successor.
                    more = true;
                }
            }
        }
        more
    }

    fn discover(&mut self, out: &mut dyn FnMut(TailEvent<'_>)) {
        // Files (device, inode) at a matching path now.
        let mut present = HashSet::new();
        for si in 0..self.sources.len() {
            for path in self.sources[si].expand() {
                let meta = match std::fs::metadata(&path) {
                    Ok(m) => m,
                    Err(_) => continue, // gone between the walk and now
                };
                let (dev, ino) = (meta.dev(), meta.ino());
                present.insert((dev, ino));
                if !self.started {
                    self.at_start.insert((dev, ino));
                }
                if let Some(k) = self
                    .followed
                    .iter()
                    .position(|f| f.id.dev == dev && f.id.ino == ino)
                {
                    let f = &mut self.followed[k];
                    if f.path != path && !names(&f.path, dev, ino) {
                        // Renamed, and still inside the globs: same file.
                        f.path = path;
                        f.origin = f.path.to_string_lossy().into_owned();
                        self.generation += 1;
                    }
                    continue;
                }
                self.open(si, path, out);
            }
        }
        // Checkpointed files no longer at a matching path are gone; those
        // still there but not opened yet (the open failed) keep their offset.
        self.saved
            .retain(|p| present.contains(&(p.id.dev, p.id.ino)));
        self.at_start.retain(|k| present.contains(k));
    }

    /// Close the least recently active open file (but `keep`) while
    /// `max_open` are open. A file being read to its end after a move is
    /// closed last: its path no longer reaches it.
    fn make_room(&mut self, keep: Option<usize>) {
        let max = self.crowded.unwrap_or(usize::MAX).min(self.opts.max_open);
        while self.open >= max.max(1) {
            let victim = self
                .followed
                .iter()
                .enumerate()
                .filter(|(j, f)| f.file.is_some() && Some(*j) != keep)
                .min_by_key(|(_, f)| (f.again, f.active))
                .map(|(j, _)| j);
            let Some(j) = victim else { return };
            self.followed[j].file = None;
            self.open -= 1;
        }
    }

    fn open(&mut self, source: usize, path: PathBuf, out: &mut dyn FnMut(TailEvent<'_>)) {
        self.make_room(None);
        let opened = File::open(&path).and_then(|f| {
            let m = f.metadata()?;
            let gz = is_gzip(&f)?;
            let (fp_len, fp) = fingerprint(&f)?;
            Ok((f, m, gz, fp_len, fp))
        });
        let (file, meta, gz, fp_len, fp) = match opened {
            Ok(x) => x,
            Err(error) => {
                if self.out_of_descriptors(&error, &path, out) {
                    self.rewalk = true; // followed once a descriptor is free
                    return;
                }
                if error.kind() != io::ErrorKind::NotFound && self.reported.insert(path.clone()) {
                    out(TailEvent::Unreadable { path: &path, error });
                }
                return;
            }
        };
        if gz {
            if self.reported.insert(path.clone()) {
                out(TailEvent::Ignored {
                    path: &path,
                    why: "gzip content (a rotated, compressed copy)",
                });
            }
            return;
        }
        self.reported.remove(&path);
        let id = FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            fp_len,
            fp,
        };
        let size = meta.len();
        let saved = self.saved.iter().position(|p| {
            p.id.dev == id.dev && p.id.ino == id.ino && same_start(&file, &p.id).unwrap_or(false)
        });
        let (offset, from) = if let Some(k) = saved {
            let p = self.saved.swap_remove(k);
            if p.offset <= size {
                (p.offset, "checkpoint")
            } else {
                out(TailEvent::Rotated {
                    serial: self.next_serial,
                    path: &path,
                    kind: RotationKind::Truncate,
                });
                (0, "start (truncated while stopped)")
            }
        } else if !self.restored && self.at_start.remove(&(id.dev, id.ino)) {
            match self.opts.from {
                StartAt::Start => (0, "start"),
                StartAt::End => (end_of_last_line(&file, size), "end"),
            }
        } else {
            (0, "start (new file)")
        };
        let origin = path.to_string_lossy().into_owned();
        self.generation += 1;
        let serial = self.next_serial;
        self.next_serial += 1;
        out(TailEvent::Opened {
            serial,
            path: &path,
            offset,
            from,
        });
        self.open += 1;
        self.followed.push(Followed {
            path,
            origin,
            source,
            file: Some(file),
            id,
            serial,
            read: offset,
            seen: None,
            active: self.polls,
            again: false,
            idle_moved: None,
        });
    }

    /// Is `error` the process running out of descriptors? Then hold a
    /// quarter fewer files open than now (room for the HTTP server and the
    /// checkpoint), and say so once per new bound.
    fn out_of_descriptors(
        &mut self,
        error: &io::Error,
        path: &Path,
        out: &mut dyn FnMut(TailEvent<'_>),
    ) -> bool {
        // EMFILE (this process) and ENFILE (the system).
        if !matches!(error.raw_os_error(), Some(23 | 24)) {
            return false;
        }
        let max = (self.open - self.open / 4).max(1);
        if self.crowded.is_none_or(|c| max < c) {
            self.crowded = Some(max);
            out(TailEvent::Crowded {
                path,
                max_open: max,
            });
        }
        self.make_room(None);
        true
    }

    /// Make sure followed file `i` is open, when it has to be: returns
    /// `None` when there is nothing to read (its stat did not change),
    /// `Some(Step::Close)` when it is gone, and opens it again when it
    /// changed while closed.
    fn ensure_open(&mut self, i: usize, out: &mut dyn FnMut(TailEvent<'_>)) -> Option<Step> {
        let f = &self.followed[i];
        let at_path = std::fs::metadata(&f.path);
        let here = match &at_path {
            Ok(m) => m.dev() == f.id.dev && m.ino() == f.id.ino,
            // Unreadable metadata is not proof that the file moved.
            Err(e) => e.kind() != io::ErrorKind::NotFound,
        };
        let unchanged = matches!(&at_path, Ok(m) if f.seen == Some(Stat::of(m)));
        if f.file.is_some() {
            return (!here || f.again || !unchanged).then_some(Step::Keep { more: false });
        }
        if !here {
            if !self.walked {
                // Renamed inside the globs, perhaps: walk them first.
                self.rewalk = true;
                return None;
            }
            // Closed while idle, and its path now names another file or
            // none: it left the globs with nothing unread when last seen.
            if at_path.is_ok() {
                out(TailEvent::Rotated {
                    serial: f.serial,
                    path: &f.path,
                    kind: RotationKind::Rename,
                });
            }
            return Some(Step::Close);
        }
        if unchanged || at_path.is_err() {
            return None;
        }
        self.make_room(Some(i));
        let f = &mut self.followed[i];
        let opened = File::open(&f.path).and_then(|file| {
            let m = file.metadata()?;
            Ok((file, m))
        });
        match opened {
            Ok((file, m)) if m.dev() == f.id.dev && m.ino() == f.id.ino => {
                self.reported.remove(&f.path);
                f.file = Some(file);
                self.open += 1;
                Some(Step::Keep { more: false })
            }
            // Replaced between the stat and the open: the next poll sees
            // the new file at the path and closes this one.
            Ok(_) => None,
            Err(error) => {
                // No descriptor left, or no permission: the offset stays,
                // and the next poll tries again.
                let path = f.path.clone();
                if self.out_of_descriptors(&error, &path, out) {
                    return None;
                }
                let f = &self.followed[i];
                if self.reported.insert(f.path.clone()) {
                    out(TailEvent::Unreadable {
                        path: &f.path,
                        error,
                    });
                }
                None
            }
        }
    }

    fn read_one(&mut self, i: usize, out: &mut dyn FnMut(TailEvent<'_>)) -> Step {
        match self.ensure_open(i, out) {
            None => return Step::Keep { more: false },
            Some(Step::Close) => return Step::Close,
            Some(Step::Keep { .. }) => {}
        }
        let polls = self.polls;
        let f = &mut self.followed[i];
        let source = self.sources[f.source].name.as_str();
        let Some(file) = f.file.as_mut() else {
            return Step::Keep { more: false };
        };
        f.seen = None;
        let size = match file.metadata() {
            Ok(m) => m.len(),
            Err(error) => {
                out(TailEvent::Unreadable {
                    path: &f.path,
                    error,
                });
                return Step::Close;
            }
        };
        // Truncated in place, or rewritten from the start.
        let rewritten = f.id.fp_len > 0 && !same_start(file, &f.id).unwrap_or(true);
        if size < f.read || rewritten {
            f.read = 0;
            out(TailEvent::Rotated {
                serial: f.serial,
                path: &f.path,
                kind: RotationKind::Truncate,
            });
            if let Ok((fp_len, fp)) = fingerprint(file) {
                f.id.fp_len = fp_len;
                f.id.fp = fp;
            }
            self.generation += 1;
        } else if (f.id.fp_len as usize) < FINGERPRINT_MAX
            && size > u64::from(f.id.fp_len)
            && !ends_line(file, f.id.fp_len)
        {
            // The first line was still being written: fingerprint it again.
            if let Ok((fp_len, fp)) = fingerprint(file) {
                f.id.fp_len = fp_len;
                f.id.fp = fp;
            }
        }
        // Moved away or deleted: read to the end through the open
        // descriptor, then close.
        let moved = !names(&f.path, f.id.dev, f.id.ino);
        let start = f.read;
        if start == 0 && size >= 2 && is_gzip(file).unwrap_or(false) {
            out(TailEvent::Ignored {
                path: &f.path,
                why: "gzip content (a rotated, compressed copy)",
            });
            return Step::Close;
        }
        if file.seek(SeekFrom::Start(start)).is_err() {
            return Step::Close;
        }
        let mut budget = self.opts.read_budget;
        self.buf.resize(READ_CHUNK, 0);
        let mut read_any = false;
        loop {
            if budget == 0 {
                if read_any {
                    self.generation += 1;
                    f.active = polls;
                }
                f.again = true;
                return Step::Keep { more: true };
            }
            let want = (budget as usize).min(READ_CHUNK);
            let n = match file.read(&mut self.buf[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    out(TailEvent::Unreadable {
                        path: &f.path,
                        error,
                    });
                    break;
                }
            };
            read_any = true;
            budget -= n as u64;
            out(TailEvent::Bytes {
                serial: f.serial,
                source,
                origin: &f.origin,
                base: f.read,
                bytes: &self.buf[..n],
            });
            f.read += n as u64;
        }
        if read_any {
            self.generation += 1;
            f.active = polls;
            f.idle_moved = None;
        }
        // Closed once nothing new came for `rotate_wait` after the move, so
        // a writer that has not reopened yet still gets its lines in; and
        // only after a walk of the globs has not found it under another
        // name.
        if moved && !read_any && !self.walked {
            f.again = true;
            self.rewalk = true;
            return Step::Keep { more: true };
        }
        if moved && !read_any {
            let since = *f.idle_moved.get_or_insert_with(std::time::Instant::now);
            if since.elapsed() < self.opts.rotate_wait {
                f.again = true;
                return Step::Keep { more: false };
            }
            if f.path.exists() {
                out(TailEvent::Rotated {
                    serial: f.serial,
                    path: &f.path,
                    kind: RotationKind::Rename,
                });
            }
            return Step::Close;
        }
        // Read to its end: while its stat stays the same, there is nothing
        // new (a stat taken after a later append shows a longer file).
        f.again = moved;
        f.seen = match file.metadata() {
            Ok(m) if m.len() == f.read => Some(Stat::of(&m)),
            _ => None,
        };
        Step::Keep { more: false }
    }
}

enum Step {
    Keep { more: bool },
    Close,
}

/// Does the fingerprinted prefix of length `len` end with a newline?
fn ends_line(f: &File, len: u32) -> bool {
    let mut b = [0u8; 1];
    len > 0 && matches!(f.read_at(&mut b, u64::from(len) - 1), Ok(1)) && b[0] == b'\n'
}

/// Does `path` name the file (dev, ino) now?
fn names(path: &Path, dev: u64, ino: u64) -> bool {
    match std::fs::metadata(path) {
        Ok(m) => m.dev() == dev && m.ino() == ino,
        // Unreadable metadata is not proof that the file moved.
        Err(e) => e.kind() != io::ErrorKind::NotFound,
    }
}

/// The offset just past the last newline at or before `size` (so `--from
/// end` never starts inside a line); `size` when the last 64 KiB hold none.
fn end_of_last_line(f: &File, size: u64) -> u64 {
    let span = size.min(64 * 1024);
    let mut buf = vec![0u8; span as usize];
    match f.read_exact_at(&mut buf, size - span) {
        Ok(()) => memchr::memrchr(b'\n', &buf).map_or(size, |i| size - span + i as u64 + 1),
        Err(_) => size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[derive(Debug, Default)]
    struct Seen {
        framers: std::collections::HashMap<u64, crate::frame::lines::LineBuffer>,
        lines: Vec<String>,
        rotations: Vec<RotationKind>,
        opened: Vec<(PathBuf, u64, &'static str)>,
        closed: usize,
        ignored: usize,
    }

    impl Seen {
        fn consumed(&self, serial: u64) -> Option<u64> {
            self.framers.get(&serial).map(|f| f.consumed())
        }
    }

    fn poll(t: &mut Tailer, s: &mut Seen) {
        use crate::frame::lines::{Framed, LineBuffer};
        while t.poll(Look::All, &mut |e| match e {
            TailEvent::Bytes { serial, bytes, .. } => {
                let lines = &mut s.lines;
                if let Some(f) = s.framers.get_mut(&serial) {
                    f.push(bytes, &mut |fr| {
                        if let Framed::Lines { bytes, .. } = fr {
                            for l in String::from_utf8_lossy(bytes).lines() {
                                lines.push(l.to_string());
                            }
                        }
                    });
                }
            }
            TailEvent::Rotated { serial, kind, .. } => {
                if kind == RotationKind::Truncate
                    && let Some(f) = s.framers.get_mut(&serial)
                {
                    f.reset(0);
                }
                s.rotations.push(kind)
            }
            TailEvent::Opened {
                serial,
                path,
                offset,
                from,
            } => {
                s.framers.insert(serial, LineBuffer::new(offset, 1 << 20));
                s.opened.push((path.to_path_buf(), offset, from))
            }
            TailEvent::Closed { serial, .. } => {
                s.framers.remove(&serial);
                s.closed += 1
            }
            TailEvent::Ignored { .. } => s.ignored += 1,
            TailEvent::Unreadable { .. } | TailEvent::Crowded { .. } => {}
        }) {}
    }

    fn append(p: &Path, s: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap();
        f.write_all(s.as_bytes()).unwrap();
    }

    fn tailer(dir: &Path, glob: &str, from: StartAt) -> Tailer {
        let src = FileSource::parse(dir.join(glob).to_str().unwrap()).unwrap();
        Tailer::new(
            vec![src],
            TailOptions {
                from,
                rotate_wait: std::time::Duration::ZERO,
                ..TailOptions::default()
            },
        )
    }

    #[test]
    fn follows_appends_and_waits_for_complete_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.log");
        append(&p, "old\n");
        let mut t = tailer(d.path(), "*.log", StartAt::End);
        let mut s = Seen::default();
        poll(&mut t, &mut s);
        assert!(s.lines.is_empty());
        append(&p, "one\ntw");
        poll(&mut t, &mut s);
        assert_eq!(s.lines, ["one"]);
        append(&p, "o\n");
        poll(&mut t, &mut s);
        assert_eq!(s.lines, ["one", "two"]);
        assert_eq!(t.positions(&|n| s.consumed(n))[0].offset, 12);
    }

    #[test]
    fn from_start_reads_existing_content_and_new_files() {
        let d = tempfile::tempdir().unwrap();
        append(&d.path().join("a.log"), "a1\n");
        let mut t = tailer(d.path(), "*.log", StartAt::Start);
        let mut s = Seen::default();
        poll(&mut t, &mut s);
        append(&d.path().join("b.log"), "b1\n");
        poll(&mut t, &mut s);
        assert_eq!(s.lines, ["a1", "b1"]);
        assert_eq!(t.followed(), 2);
    }

    #[test]
    fn rename_rotation_finishes_the_old_file_then_reads_the_new() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("app.log");
        append(&p, "1\n");
        let mut t = tailer(d.path(), "app.log", StartAt::Start);
        let mut s = Seen::default();
        poll(&mut t, &mut s);
        append(&p, "2\n");
        std::fs::rename(&p, d.path().join("app.log.1")).unwrap();
        // The writer still holds the old file for a moment.
        append(&d.path().join("app.log.1"), "3\n");
        append(&p, "4\n");
        poll(&mut t, &mut s);
        assert_eq!(s.lines, ["1", "2", "3", "4"]);
        // Closed one poll after its last line.
        poll(&mut t, &mut s);
        assert_eq!(s.rotations, [RotationKind::Rename]);
        assert_eq!(s.closed, 1);
        assert_eq!(t.followed(), 1);
        // The old file compressed next to it is not read again.
        std::fs::write(d.path().join("app.log.1.gz"), [0x1f, 0x8b, 8, 0]).unwrap();
        poll(&mut t, &mut s);
        assert_eq!(s.lines.len(), 4);
    }

    #[test]
    fn rename_inside_the_globs_is_the_same_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("app.log");
        append(&p, "1\n");
        let mut t = tailer(d.path(), "app.log*", StartAt::Start);
        let mut s = Seen::default();
        poll(&mut t, &mut s);
        std::fs::rename(&p, d.path().join("app.log.1")).unwrap();
        append(&d.path().join("app.log.1"), "2\n");
        append(&p, "3\n");
        poll(&mut t, &mut s);
        let mut l = s.lines.clone();
        l.sort();
        assert_eq!(l, ["1", "2", "3"]);
        std::fs::write(d.path().join("app.log.2.gz"), [0x1f, 0x8b, 8, 0, 0]).unwrap();
        poll(&mut t, &mut s);
        assert_eq!(s.lines.len(), 3);
        assert_eq!(s.ignored, 1);
    }

    #[test]
    fn copytruncate_restarts_at_zero() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("app.log");
        append(&p, "first line is long\nsecond\n");
        let mut t = tailer(d.path(), "app.log", StartAt::Start);
        let mut s = Seen::default();
        poll(&mut t, &mut s);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(0)
            .unwrap();
        append(&p, "x\n");
        poll(&mut t, &mut s);
        assert_eq!(s.lines, ["first line is long", "second", "x"]);
        assert_eq!(s.rotations, [RotationKind::Truncate]);
        // Truncated and refilled past the old offset before a poll: the
        // first line changed, so it is still seen as a truncation.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(0)
            .unwrap();
        append(&p, "a different first line\nmore\n");
        poll(&mut t, &mut s);
        assert_eq!(s.lines[3..], ["a different first line", "more"]);
    }

    #[test]
    fn restore_resumes_at_the_checkpoint_and_reads_unknown_files_whole() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("app.log");
        append(&p, "1\n2\n");
        let mut t = tailer(d.path(), "*.log", StartAt::Start);
        let mut s = Seen::default();
        poll(&mut t, &mut s);
        let saved = t.positions(&|n| s.consumed(n));
        drop(t);
        append(&p, "3\n");
        append(&d.path().join("new.log"), "n\n");
        let mut t = tailer(d.path(), "*.log", StartAt::End);
        t.restore(saved);
        let mut s = Seen::default();
        poll(&mut t, &mut s);
        let mut l = s.lines.clone();
        l.sort();
        assert_eq!(l, ["3", "n"]);
    }

    #[test]
    fn from_end_does_not_start_inside_a_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("app.log");
        append(&p, "done\npart");
        let mut t = tailer(d.path(), "*.log", StartAt::End);
        let mut s = Seen::default();
        poll(&mut t, &mut s);
        append(&p, "ial\n");
        poll(&mut t, &mut s);
        assert_eq!(s.lines, ["partial"]);
    }

    #[test]
    fn hundreds_of_files_under_a_bound_of_eight_open() {
        let d = tempfile::tempdir().unwrap();
        let n = 300;
        let f = |k: usize| d.path().join(format!("f{k:03}.log"));
        for k in 0..n {
            append(&f(k), &format!("a{k}\n"));
        }
        let src = FileSource::parse(d.path().join("f*.log*").to_str().unwrap()).unwrap();
        let mut t = Tailer::new(
            vec![src],
            TailOptions {
                from: StartAt::Start,
                max_open: 8,
                rotate_wait: std::time::Duration::ZERO,
                ..TailOptions::default()
            },
        );
        let mut s = Seen::default();
        poll(&mut t, &mut s);
        assert_eq!((t.followed(), t.open_files()), (n, 8));
        assert_eq!(s.lines.len(), n);
        for k in 0..n {
            append(&f(k), &format!("b{k}\n"));
        }
        poll(&mut t, &mut s);
        assert_eq!(s.lines.len(), 2 * n);
        assert!(t.open_files() <= 8);
        // Nothing changed: nothing is read, nothing is opened.
        let before = s.lines.len();
        poll(&mut t, &mut s);
        assert_eq!(s.lines.len(), before);
        // A closed file renamed inside the globs is the same file.
        std::fs::rename(f(0), d.path().join("f000.log.1")).unwrap();
        append(&d.path().join("f000.log.1"), "c0\n");
        poll(&mut t, &mut s);
        assert_eq!(s.lines.last().map(String::as_str), Some("c0"));
        // A closed file moved out of the globs, a new one at its path: the
        // old one is closed, the new one read from its start.
        std::fs::rename(f(1), d.path().join("elsewhere")).unwrap();
        append(&f(1), "d1\n");
        poll(&mut t, &mut s);
        poll(&mut t, &mut s);
        assert_eq!(s.lines.last().map(String::as_str), Some("d1"));
        assert_eq!(s.rotations, [RotationKind::Rename]);
        assert_eq!(t.followed(), n);
        let mut all = s.lines.clone();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 2 * n + 2, "a line was read twice");
        assert!(t.open_files() <= 8);
    }

    #[test]
    fn notified_paths_narrow_the_poll() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a.log"), d.path().join("b.log"));
        append(&a, "a1\n");
        append(&b, "b1\n");
        let mut t = tailer(d.path(), "*.log", StartAt::Start);
        let mut s = Seen::default();
        poll(&mut t, &mut s);
        append(&a, "a2\n");
        append(&b, "b2\n");
        let only_a: HashSet<PathBuf> = [a.clone()].into();
        t.poll(Look::Paths(&only_a), &mut |_| {});
        // b's change waits for a notification or a sweep.
        poll(&mut t, &mut s);
        assert_eq!(s.lines, ["a1", "b1", "b2"]);
        // A notified path that is a new matching file walks the globs.
        let c = d.path().join("c.log");
        append(&c, "c1\n");
        let only_c: HashSet<PathBuf> = [c].into();
        let mut opened = 0;
        t.poll(Look::Paths(&only_c), &mut |e| {
            opened += usize::from(matches!(e, TailEvent::Opened { .. }))
        });
        assert_eq!((opened, t.followed()), (1, 3));
    }

    #[test]
    fn a_rename_notified_by_its_old_path_alone_is_not_a_new_file() {
        let d = tempfile::tempdir().unwrap();
        let (a, a1) = (d.path().join("a.log"), d.path().join("a.log.1"));
        append(&a, "1\n2\n");
        let mut t = tailer(d.path(), "a.log*", StartAt::Start);
        let mut s = Seen::default();
        poll(&mut t, &mut s);
        std::fs::rename(&a, &a1).unwrap();
        // The notification of the old name arrives alone.
        let old: HashSet<PathBuf> = [a.clone()].into();
        let paths = |t: &mut Tailer, s: &mut Seen, p: &HashSet<PathBuf>| {
            let mut more = true;
            while more {
                more = t.poll(Look::Paths(p), &mut |e| {
                    if let TailEvent::Bytes { bytes, .. } = e {
                        s.lines
                            .extend(String::from_utf8_lossy(bytes).lines().map(String::from));
                    }
                });
            }
        };
        paths(&mut t, &mut s, &old);
        append(&a1, "3\n");
        paths(&mut t, &mut s, &[a1.clone()].into());
        assert_eq!(s.lines, ["1", "2", "3"]);
        assert_eq!(t.followed(), 1);
    }

    /// Seen in CI with notifications: the poll a rename wakes runs before
    /// the writer's last lines to the old file; they are still read.
    #[test]
    fn lines_written_just_after_a_rename_are_read() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("app.log");
        append(&p, "1\n");
        let src = FileSource::parse(d.path().join("app.log").to_str().unwrap()).unwrap();
        let mut t = Tailer::new(
            vec![src],
            TailOptions {
                from: StartAt::Start,
                ..TailOptions::default()
            },
        );
        let mut s = Seen::default();
        poll(&mut t, &mut s);
        let away = d.path().join("archived");
        std::fs::rename(&p, &away).unwrap();
        poll(&mut t, &mut s);
        append(&away, "2\n");
        append(&p, "3\n");
        poll(&mut t, &mut s);
        let mut l = s.lines.clone();
        l.sort();
        assert_eq!(l, ["1", "2", "3"]);
        assert_eq!(s.closed, 0, "closed before rotate_wait");
    }

    #[test]
    fn source_names_and_globs() {
        let s = FileSource::parse("/a/**/x-*.log").unwrap();
        assert_eq!(s.name, "/a/**/x-*.log");
        assert!(s.matches(Path::new("/a/b/c/x-1.log")));
        assert!(FileSource::parse("n=").is_err());
        assert!(FileSource::parse("/a/[").is_err());
    }
}
