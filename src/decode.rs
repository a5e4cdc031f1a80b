//! Decompression: the one place that opens a gzip stream.
//!
//! Gzip is detected by its magic bytes, never by the file name. Concatenated
//! gzip members (as Firehose writes them) are read as one stream. A cap on
//! the inflated size guards against decompression bombs.

use std::io::{self, BufRead, BufReader, Read};

use flate2::bufread::MultiGzDecoder;

/// The two magic bytes that start every gzip member.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Default cap on the inflated size of one gzip input (64 GiB).
pub const DEFAULT_MAX_INFLATED: u64 = 64 << 30;

/// Does this buffer start like a gzip stream?
///
/// ```
/// assert!(denytrail::decode::is_gzip(&[0x1f, 0x8b, 8, 0]));
/// assert!(!denytrail::decode::is_gzip(b"{\"Records\":[]}"));
/// ```
pub fn is_gzip(head: &[u8]) -> bool {
    head.starts_with(&GZIP_MAGIC)
}

/// What went wrong while decoding.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The gzip stream is corrupt or ends early.
    #[error("corrupt or truncated gzip stream after {inflated} inflated bytes: {source}")]
    Gzip {
        /// Bytes inflated before the error.
        inflated: u64,
        /// The underlying error.
        source: io::Error,
    },
    /// The stream inflates past the cap.
    #[error(
        "gzip stream inflates past the cap of {cap} bytes (raise --max-inflated if this is expected)"
    )]
    TooLarge {
        /// The cap in bytes.
        cap: u64,
    },
    /// Reading the underlying source failed.
    #[error("read failed after {offset} bytes: {source}")]
    Read {
        /// Bytes read before the error.
        offset: u64,
        /// The underlying error.
        source: io::Error,
    },
}

/// A byte stream that is transparently inflated when it is gzip.
///
/// Reads report [`DecodeError`]s with the inflated offset reached.
pub struct Decoded<R: Read> {
    inner: Inner<R>,
    produced: u64,
    cap: u64,
    gzip: bool,
}

enum Inner<R: Read> {
    Plain(BufReader<R>),
    Gzip(Box<MultiGzDecoder<BufReader<R>>>),
}

impl<R: Read> Decoded<R> {
    /// Sniff `reader` and wrap it. `cap` bounds the inflated size of gzip input.
    pub fn new(reader: R, cap: u64) -> io::Result<Decoded<R>> {
        let mut br = BufReader::with_capacity(256 * 1024, reader);
        let gzip = is_gzip(br.fill_buf()?);
        let inner = if gzip {
            Inner::Gzip(Box::new(MultiGzDecoder::new(br)))
        } else {
            Inner::Plain(br)
        };
        Ok(Decoded {
            inner,
            produced: 0,
            cap,
            gzip,
        })
    }

    /// Was the input gzip?
    pub fn is_gzip(&self) -> bool {
        self.gzip
    }

    /// Bytes produced so far (inflated offset).
    pub fn offset(&self) -> u64 {
        self.produced
    }

    /// Fill as much of `buf` as possible; returns 0 only at the end.
    pub fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, DecodeError> {
        let n = loop {
            let r = match &mut self.inner {
                Inner::Plain(r) => r.read(buf),
                Inner::Gzip(r) => r.read(buf),
            };
            match r {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if self.gzip => {
                    return Err(DecodeError::Gzip {
                        inflated: self.produced,
                        source: e,
                    });
                }
                Err(e) => {
                    return Err(DecodeError::Read {
                        offset: self.produced,
                        source: e,
                    });
                }
            }
        };
        self.produced += n as u64;
        if self.gzip && self.produced > self.cap {
            return Err(DecodeError::TooLarge { cap: self.cap });
        }
        Ok(n)
    }

    /// Read everything up to `limit` bytes into a vector.
    pub fn read_to_end_capped(&mut self, out: &mut Vec<u8>, limit: u64) -> Result<(), DecodeError> {
        let mut chunk = vec![0u8; 1 << 20];
        loop {
            let n = self.read_some(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            if out.len() as u64 + n as u64 > limit {
                return Err(DecodeError::TooLarge { cap: limit });
            }
            out.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Inflate a whole in-memory buffer (gzip or not), capped.
pub fn inflate_all(bytes: &[u8], cap: u64) -> Result<Vec<u8>, DecodeError> {
    if !is_gzip(bytes) {
        return Ok(bytes.to_vec());
    }
    let mut d = Decoded::new(bytes, cap).map_err(|e| DecodeError::Read {
        offset: 0,
        source: e,
    })?;
    let mut out = Vec::with_capacity(bytes.len() * 8);
    d.read_to_end_capped(&mut out, cap)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn plain_passes_through() {
        assert_eq!(inflate_all(b"abc", 10).unwrap(), b"abc");
    }

    #[test]
    fn concatenated_members_are_one_stream() {
        let mut both = gz(b"hello ");
        both.extend(gz(b"world"));
        assert_eq!(inflate_all(&both, 1 << 20).unwrap(), b"hello world");
    }

    #[test]
    fn truncated_gzip_is_an_error_after_good_bytes() {
        let data: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let z = gz(&data);
        let cut = &z[..z.len() / 2];
        let mut d = Decoded::new(cut, 1 << 30).unwrap();
        let mut out = Vec::new();
        let err = d.read_to_end_capped(&mut out, 1 << 30).unwrap_err();
        assert!(matches!(err, DecodeError::Gzip { .. }), "{err}");
        assert!(!out.is_empty());
        assert_eq!(&data[..out.len()], &out[..]);
    }

    #[test]
    fn bomb_is_capped() {
        let z = gz(&vec![b'a'; 5 << 20]);
        let err = inflate_all(&z, 1 << 20).unwrap_err();
        assert!(matches!(err, DecodeError::TooLarge { .. }), "{err}");
    }
}
