//! Local inputs: files (whole or a byte range), directories walked in
//! sorted order, and standard input.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Opened, Source, SourceKind};
use crate::input::{InputError, InputErrorKind};

/// A file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// Where to open it.
    pub path: PathBuf,
    /// The stable sharding key: the path relative to the directory argument
    /// it was found under, or the argument itself.
    pub key: String,
}

impl LocalFile {
    fn unreadable(&self, offset: u64, what: &str, e: &io::Error) -> InputError {
        InputError {
            origin: self.origin(),
            offset,
            kind: InputErrorKind::Unreadable,
            detail: format!("cannot {what}: {e} (check the path and its permissions)"),
        }
    }
}

impl Source for LocalFile {
    fn origin(&self) -> String {
        self.path.display().to_string()
    }

    fn key(&self) -> String {
        self.key.clone()
    }

    fn kind(&self) -> SourceKind {
        SourceKind::File
    }

    fn size(&self) -> Option<u64> {
        std::fs::metadata(&self.path).ok().map(|m| m.len())
    }

    fn open(&self) -> Result<Opened<'_>, InputError> {
        let f = File::open(&self.path).map_err(|e| self.unreadable(0, "open", &e))?;
        Ok(Opened::Bytes(Box::new(f)))
    }

    fn open_part(&self, start: u64, end: u64) -> Result<Opened<'_>, InputError> {
        let mut f = File::open(&self.path).map_err(|e| self.unreadable(start, "open", &e))?;
        f.seek(SeekFrom::Start(start))
            .map_err(|e| self.unreadable(start, "seek", &e))?;
        Ok(Opened::LinesPart {
            reader: Box::new(f.take(end.saturating_sub(start))),
            base: start,
        })
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Option<io::Result<usize>> {
        Some(File::open(&self.path).and_then(|f| f.read_at(buf, offset)))
    }
}

/// Standard input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stdin;

impl Source for Stdin {
    fn origin(&self) -> String {
        "-".to_string()
    }

    fn key(&self) -> String {
        "-".to_string()
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Stdin
    }

    fn open(&self) -> Result<Opened<'_>, InputError> {
        Ok(Opened::Bytes(Box::new(io::stdin().lock())))
    }
}

/// Expand command-line arguments into sources: files as given, directories
/// walked recursively in sorted order, `-` for stdin. Paths that cannot be
/// read become errors; the rest go on.
///
/// ```
/// let (sources, errors) = denytrail::source::local::expand(&["-".to_string()]);
/// assert_eq!((sources.len(), errors.len()), (1, 0));
/// assert_eq!(sources[0].origin(), "-");
/// ```
pub fn expand(args: &[String]) -> super::Expanded {
    let mut sources: Vec<Arc<dyn Source>> = Vec::new();
    let mut errors = Vec::new();
    for a in args {
        if a == "-" {
            sources.push(Arc::new(Stdin));
            continue;
        }
        let p = Path::new(a);
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => {
                for entry in walkdir::WalkDir::new(p)
                    .sort_by_file_name()
                    .follow_links(true)
                {
                    match entry {
                        Ok(e) if e.file_type().is_file() => {
                            let key = e
                                .path()
                                .strip_prefix(p)
                                .unwrap_or(e.path())
                                .to_string_lossy()
                                .into_owned();
                            sources.push(Arc::new(LocalFile {
                                path: e.path().to_path_buf(),
                                key,
                            }));
                        }
                        Ok(_) => {}
                        Err(e) => errors.push(InputError {
                            origin: e
                                .path()
                                .map_or_else(|| a.clone(), |p| p.display().to_string()),
                            offset: 0,
                            kind: InputErrorKind::Unreadable,
                            detail: format!("cannot walk: {e}"),
                        }),
                    }
                }
            }
            Ok(_) => sources.push(Arc::new(LocalFile {
                path: p.to_path_buf(),
                key: a.clone(),
            })),
            Err(e) => errors.push(InputError {
                origin: a.clone(),
                offset: 0,
                kind: InputErrorKind::Unreadable,
                detail: format!("cannot open: {e} (check the path and its permissions)"),
            }),
        }
    }
    (sources, errors)
}
