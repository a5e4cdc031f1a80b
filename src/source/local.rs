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
    /// Its size when it was listed (`None`: ask the filesystem).
    pub size: Option<u64>,
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
        // Listed once, asked by the progress total and by the planner:
        // one stat per file, not one per question.
        self.size
            .or_else(|| std::fs::metadata(&self.path).ok().map(|m| m.len()))
    }

    fn open(&self) -> Result<Opened<'_>, InputError> {
        let f = File::open(&self.path).map_err(|e| self.unreadable(0, "open", &e))?;
        // A file that grows while it is read is read on; one that shrinks
        // is an error, not a silent short read.
        let len = f.metadata().map_or(0, |m| m.len());
        Ok(Opened::Bytes(Box::new(Exact::new(f, len))))
    }

    fn open_part(&self, start: u64, end: u64) -> Result<Opened<'_>, InputError> {
        let mut f = File::open(&self.path).map_err(|e| self.unreadable(start, "open", &e))?;
        f.seek(SeekFrom::Start(start))
            .map_err(|e| self.unreadable(start, "seek", &e))?;
        let len = end.saturating_sub(start);
        Ok(Opened::LinesPart {
            reader: Box::new(Exact::new(f.take(len), len)),
            base: start,
        })
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Option<io::Result<usize>> {
        Some(File::open(&self.path).and_then(|f| f.read_at(buf, offset)))
    }
}

/// A reader that owes at least `len` bytes: ending before them (the file
/// was truncated by another process while it was read) is an error that
/// says so, where a plain read would end early and lose the rest silently.
struct Exact<R> {
    inner: R,
    len: u64,
    read: u64,
}

impl<R> Exact<R> {
    fn new(inner: R, len: u64) -> Exact<R> {
        Exact {
            inner,
            len,
            read: 0,
        }
    }
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() && self.read < self.len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the file shrank while it was read: it ended after {} of the {} bytes it had (truncated or rewritten by another process?)",
                    self.read, self.len
                ),
            ));
        }
        self.read += n as u64;
        Ok(n)
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
                                size: e.metadata().ok().map(|m| m.len()),
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
            Ok(m) => sources.push(Arc::new(LocalFile {
                path: p.to_path_buf(),
                key: a.clone(),
                size: Some(m.len()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn source(dir: &tempfile::TempDir, data: &[u8]) -> LocalFile {
        let path = dir.path().join("f.jsonl");
        std::fs::write(&path, data).unwrap();
        LocalFile {
            key: "f.jsonl".into(),
            path,
            size: None,
        }
    }

    fn read_all(o: Opened<'_>) -> io::Result<Vec<u8>> {
        let mut r = match o {
            Opened::Bytes(r) | Opened::LinesPart { reader: r, .. } => r,
            Opened::Messages(_) => unreachable!(),
        };
        let mut out = Vec::new();
        r.read_to_end(&mut out).map(|_| out)
    }

    /// A file truncated between open and read is an error, whole or in
    /// part; one that grows is read on.
    #[test]
    fn a_file_that_shrinks_while_read_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let data = vec![b'x'; 10_000];
        let f = source(&dir, &data);
        for part in [None, Some((2_000, 9_000))] {
            let opened = match part {
                None => f.open(),
                Some((a, b)) => f.open_part(a, b),
            }
            .unwrap();
            File::options()
                .write(true)
                .open(&f.path)
                .unwrap()
                .set_len(5_000)
                .unwrap();
            let e = read_all(opened).unwrap_err();
            assert!(e.to_string().contains("shrank"), "{e}");
            std::fs::write(&f.path, &data).unwrap();
        }
        let opened = f.open().unwrap();
        std::fs::write(&f.path, vec![b'y'; 12_000]).unwrap();
        assert_eq!(read_all(opened).unwrap().len(), 12_000);
    }
}
