//! Change notification for `--file` (inotify on Linux, through the
//! `notify` crate): which paths changed since the ingest loop last looked,
//! and a wake-up for it. A notification only says where to look; what a
//! change means (append, rotation, truncation) is still the tailer's to
//! decide, from the file itself.
//!
//! The directories watched are the fixed part of each glob (recursive when
//! the glob can match below it). A directory that cannot be watched (it
//! does not exist yet, or the inotify watch limit is reached) is tried
//! again at each sweep; until then the files are polled as without
//! notifications. Memory: at most [`MAX_PENDING`] paths wait between two
//! looks; past that, the next look is a full sweep.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use super::tail::FileSource;

/// Paths kept between two looks, at most.
pub const MAX_PENDING: usize = 4096;

/// What changed since the last [`Changes::take`].
#[derive(Debug, PartialEq, Eq)]
pub enum Changed {
    /// Nothing was notified.
    Nothing,
    /// These paths.
    Paths(HashSet<PathBuf>),
    /// Look at everything: notifications were lost (queue overflow, too
    /// many paths, a watcher error).
    All,
}

#[derive(Debug, Default)]
struct Pending {
    paths: HashSet<PathBuf>,
    all: bool,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.paths.is_empty() && !self.all
    }
}

/// Change notification for a set of [`FileSource`]s.
pub struct Changes {
    pending: Arc<Mutex<Pending>>,
    watcher: Option<RecommendedWatcher>,
    /// Directories to watch, and whether each is watched now.
    roots: BTreeMap<PathBuf, (RecursiveMode, bool)>,
}

impl std::fmt::Debug for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Changes")
            .field("roots", &self.roots)
            .field("active", &self.watcher.is_some())
            .finish()
    }
}

fn lock(p: &Mutex<Pending>) -> std::sync::MutexGuard<'_, Pending> {
    p.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Changes {
    /// Watch the directories of `sources`; `wake` is called (from the
    /// watcher's thread) when a change arrives and none was waiting.
    /// Without a watcher (`enabled` false, or inotify unavailable) every
    /// look is [`Changed::Nothing`] and [`Changes::complete`] is false:
    /// the caller polls.
    pub fn new(
        sources: &[FileSource],
        enabled: bool,
        wake: Box<dyn Fn() + Send + Sync>,
    ) -> Result<Changes, notify::Error> {
        let pending = Arc::new(Mutex::new(Pending::default()));
        let mut roots: BTreeMap<PathBuf, (RecursiveMode, bool)> = BTreeMap::new();
        for s in sources {
            let (dir, recursive) = s.watch_root();
            let mode = if recursive {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            let e = roots.entry(dir).or_insert((mode, false));
            if recursive {
                e.0 = RecursiveMode::Recursive;
            }
        }
        let watcher = if enabled && !roots.is_empty() {
            let p = pending.clone();
            Some(notify::recommended_watcher(
                move |r: notify::Result<notify::Event>| {
                    let mut g = lock(&p);
                    let was_empty = g.is_empty();
                    match r {
                        Ok(ev) if matches!(ev.kind, EventKind::Access(_)) => return,
                        Ok(ev) if ev.need_rescan() => g.all = true,
                        Ok(ev) => {
                            g.paths.extend(ev.paths);
                            if g.paths.len() > MAX_PENDING {
                                g.paths.clear();
                                g.all = true;
                            }
                        }
                        Err(_) => g.all = true,
                    }
                    if was_empty && !g.is_empty() {
                        drop(g);
                        wake();
                    }
                },
            )?)
        } else {
            None
        };
        let mut c = Changes {
            pending,
            watcher,
            roots,
        };
        c.retry();
        Ok(c)
    }

    /// Watch the directories not watched yet (they may exist now).
    /// Returns the ones still not watched, with why.
    pub fn retry(&mut self) -> Vec<(PathBuf, notify::Error)> {
        let mut failed = Vec::new();
        let Some(w) = self.watcher.as_mut() else {
            return failed;
        };
        for (dir, (mode, watched)) in self.roots.iter_mut().filter(|(_, (_, w))| !w) {
            match w.watch(dir, *mode) {
                Ok(()) => {
                    *watched = true;
                    // What happened before the watch was missed.
                    lock(&self.pending).all = true;
                }
                Err(e) => failed.push((dir.clone(), e)),
            }
        }
        failed
    }

    /// Every directory is watched: no change goes unnotified (but on
    /// filesystems that do not notify, such as other hosts' writes to NFS).
    pub fn complete(&self) -> bool {
        self.watcher.is_some() && self.roots.values().all(|(_, w)| *w)
    }

    /// What changed since the last call.
    pub fn take(&self) -> Changed {
        let mut g = lock(&self.pending);
        let p = std::mem::take(&mut *g);
        if p.all {
            Changed::All
        } else if p.paths.is_empty() {
            Changed::Nothing
        } else {
            Changed::Paths(p.paths)
        }
    }
}

impl FileSource {
    /// The directory to watch for this source's files, and whether its
    /// matches can lie below it.
    pub fn watch_root(&self) -> (PathBuf, bool) {
        if self.is_literal() {
            let dir = self.base().parent().unwrap_or(Path::new("/"));
            return (dir.to_path_buf(), false);
        }
        (self.base().to_path_buf(), self.depth() != Some(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    fn changes(glob: &str) -> (Changes, mpsc::Receiver<()>) {
        let (tx, rx) = mpsc::sync_channel(64);
        let src = FileSource::parse(glob).unwrap();
        let c = Changes::new(
            &[src],
            true,
            Box::new(move || {
                let _ = tx.try_send(());
            }),
        )
        .unwrap();
        (c, rx)
    }

    /// Wait for wake-ups until `want` is among the changed paths.
    fn wait_for(c: &Changes, rx: &mpsc::Receiver<()>, want: &Path) -> Changed {
        let mut seen = HashSet::new();
        for _ in 0..50 {
            match c.take() {
                Changed::All => return Changed::All,
                Changed::Paths(p) => seen.extend(p),
                Changed::Nothing => {}
            }
            if seen.contains(want) {
                return Changed::Paths(seen);
            }
            let _ = rx.recv_timeout(Duration::from_millis(100));
        }
        Changed::Paths(seen)
    }

    #[test]
    fn an_append_names_its_file_and_wakes_once() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.log");
        std::fs::write(&p, "x\n").unwrap();
        let (c, rx) = changes(d.path().join("*.log").to_str().unwrap());
        assert!(c.complete());
        // The first look after the watch starts is a sweep.
        assert_eq!(c.take(), Changed::All);
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"y\n").unwrap();
        match wait_for(&c, &rx, &p) {
            Changed::Paths(seen) => assert!(seen.contains(&p), "{seen:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_missing_directory_is_watched_once_it_exists() {
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("later");
        let (mut c, rx) = changes(sub.join("*.log").to_str().unwrap());
        assert!(!c.complete());
        std::fs::create_dir(&sub).unwrap();
        assert!(c.retry().is_empty());
        assert!(c.complete());
        assert_eq!(c.take(), Changed::All);
        let p = sub.join("n.log");
        std::fs::write(&p, "z\n").unwrap();
        assert!(matches!(wait_for(&c, &rx, &p), Changed::Paths(s) if s.contains(&p)));
    }

    #[test]
    fn disabled_never_notifies() {
        let d = tempfile::tempdir().unwrap();
        let src = FileSource::parse(d.path().join("*.log").to_str().unwrap()).unwrap();
        let c = Changes::new(&[src], false, Box::new(|| {})).unwrap();
        assert!(!c.complete());
        std::fs::write(d.path().join("a.log"), "x\n").unwrap();
        assert_eq!(c.take(), Changed::Nothing);
    }

    #[test]
    fn roots_of_globs() {
        let s = FileSource::parse("/var/log/app/*.log").unwrap();
        assert_eq!(s.watch_root(), (PathBuf::from("/var/log/app"), false));
        let s = FileSource::parse("/var/log/**/x.log").unwrap();
        assert_eq!(s.watch_root(), (PathBuf::from("/var/log"), true));
        let s = FileSource::parse("/var/log/app.log").unwrap();
        assert_eq!(s.watch_root(), (PathBuf::from("/var/log"), false));
    }
}
