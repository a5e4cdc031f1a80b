//! Decompression: the one place that opens a gzip stream.
//!
//! Gzip is detected by its magic bytes, never by the file name. Concatenated
//! gzip members (as Firehose writes them) are read as one stream. A cap on
//! the inflated size guards against decompression bombs.
//!
//! Two inflaters, chosen per input: a gzip input of at most
//! [`WHOLE_MAX_COMPRESSED`] bytes whose trailer says it inflates to at most
//! [`WHOLE_MAX_INFLATED`] (every CloudTrail archive file: a few MB) is
//! inflated in one call by libdeflate, about twice as fast as a streaming
//! inflater on CloudTrail JSON (2.0 GB/s against 1.0 GB/s for zlib-rs and
//! 1.15 GB/s for zlib-ng, one core, inflated bytes); anything larger, and
//! anything libdeflate rejects (a corrupt or truncated stream), is streamed
//! through flate2 (zlib-rs) in bounded memory, which also reports how far a
//! broken stream got.

use std::io::{self, BufRead, BufReader, Cursor, Read};

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

/// The buffer an input is first read into, to tell gzip from plain bytes.
/// Small: a buffer is handed to the reader zeroed (the readers here do not
/// take uninitialised memory), and zeroing 256 KB for each of thousands of
/// 10 KB files cost more than inflating them. Larger reads pass it by.
const SNIFF: usize = 16 * 1024;

/// Gzip inputs up to this many compressed bytes may be inflated whole.
pub const WHOLE_MAX_COMPRESSED: usize = 16 << 20;

/// Gzip inputs that inflate to more than this many bytes are streamed, so a
/// worker never holds more than this much inflated data at once.
pub const WHOLE_MAX_INFLATED: usize = 64 << 20;

/// A byte stream that is transparently inflated when it is gzip.
///
/// Reads report [`DecodeError`]s with the inflated offset reached.
///
/// ```
/// use denytrail::decode::Decoded;
/// let mut d = Decoded::new(&b"{\"Records\":[]}"[..], 1 << 20).unwrap();
/// let mut buf = [0u8; 64];
/// assert_eq!(d.read_some(&mut buf).unwrap(), 14);
/// assert!(!d.is_gzip());
/// ```
pub struct Decoded<R: Read> {
    inner: Inner<R>,
    produced: u64,
    cap: u64,
    gzip: bool,
}

/// The compressed bytes read ahead to try the whole-buffer inflater, then
/// the error that stopped the read-ahead (if one did), then the rest of the
/// reader: a failing source still yields every byte before its failure.
struct Rest<R> {
    head: Cursor<Vec<u8>>,
    err: Option<io::Error>,
    rest: BufReader<R>,
}

impl<R: Read> Read for Rest<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.head.read(buf)?;
        if n > 0 || buf.is_empty() {
            return Ok(n);
        }
        if let Some(e) = self.err.take() {
            return Err(e);
        }
        self.rest.read(buf)
    }
}

enum Inner<R: Read> {
    Plain(BufReader<R>),
    Gzip(Box<Members<Rest<R>>>),
    /// Inflated in one call; `pos` bytes of it were handed out.
    Whole {
        data: Vec<u8>,
        pos: usize,
    },
}

impl<R: Read> Decoded<R> {
    /// Sniff `reader` and wrap it. `cap` bounds the inflated size of gzip input.
    pub fn new(reader: R, cap: u64) -> io::Result<Decoded<R>> {
        let mut br = BufReader::with_capacity(SNIFF, reader);
        let gzip = is_gzip(br.fill_buf()?);
        let inner = if gzip {
            // Read ahead up to the whole-buffer limit; a short input is
            // inflated at once, a long one streams on from what was read.
            let mut head = Vec::new();
            let err = (&mut br)
                .take(WHOLE_MAX_COMPRESSED as u64 + 1)
                .read_to_end(&mut head)
                .err();
            let whole = (err.is_none() && head.len() <= WHOLE_MAX_COMPRESSED)
                .then(|| inflate_whole(&head, cap))
                .flatten();
            match whole {
                Some(data) => Inner::Whole { data, pos: 0 },
                None => {
                    let rest = Rest {
                        head: Cursor::new(head),
                        err,
                        rest: br,
                    };
                    Inner::Gzip(Box::new(Members::new(rest)))
                }
            }
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

    /// Wrap `reader` as plain bytes, without sniffing for gzip (a part of a
    /// file already known to be plain text).
    pub fn plain(reader: R) -> Decoded<R> {
        Decoded {
            inner: Inner::Plain(BufReader::with_capacity(SNIFF, reader)),
            produced: 0,
            cap: u64::MAX,
            gzip: false,
        }
    }

    /// Everything not yet read, when the input was inflated whole: the
    /// caller scans it in place instead of copying it out chunk by chunk.
    /// The bytes count as read.
    pub fn take_whole(&mut self) -> Option<Vec<u8>> {
        match &mut self.inner {
            Inner::Whole { data, pos } => {
                let mut data = std::mem::take(data);
                data.drain(..*pos);
                *pos = 0;
                self.produced += data.len() as u64;
                Some(data)
            }
            _ => None,
        }
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
                Inner::Whole { data, pos } => {
                    let n = buf.len().min(data.len() - *pos);
                    buf[..n].copy_from_slice(&data[*pos..*pos + n]);
                    *pos += n;
                    Ok(n)
                }
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

    /// Read everything up to `limit` bytes into a vector. Damage in gzip
    /// data goes to `damaged` and reading goes on (every byte inflated
    /// before the damage is kept, and every later member); a cap or a
    /// failing source ends it with an error.
    pub fn read_to_end_capped(
        &mut self,
        out: &mut Vec<u8>,
        limit: u64,
        damaged: &mut dyn FnMut(DecodeError),
    ) -> Result<(), DecodeError> {
        let mut chunk = vec![0u8; 1 << 20];
        loop {
            let n = match self.read_some(&mut chunk) {
                Ok(n) => n,
                Err(e @ DecodeError::Gzip { .. }) => {
                    damaged(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
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

/// Gzip members read one by one, recovering from damage: a member whose
/// deflate data or checksum is broken yields every byte inflated before the
/// damage, then reading resumes at the next member's header; bytes between
/// members that are not a gzip header (junk) are skipped to the next header.
/// Each damage is one error from `read`; the read after it goes on.
struct Members<R: Read> {
    src: R,
    /// Compressed bytes read from `src`: `buf[pos..end]` not yet used.
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    /// Compressed bytes used before `buf[pos]`.
    used: u64,
    eof: bool,
    z: flate2::Decompress,
    crc: flate2::Crc,
    state: MemberState,
    /// An error to return on the next read (after the bytes before it).
    pending: Option<io::Error>,
    /// The source failed (reported once): a member it cut is not damage.
    failed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MemberState {
    /// Expecting a member header (or the end).
    Header,
    /// Inside a member's deflate data.
    Body,
    /// Skipping to the next `1f 8b 08` after damage.
    Seek,
}

impl<R: Read> Members<R> {
    fn new(src: R) -> Members<R> {
        Members {
            src,
            buf: vec![0u8; 256 * 1024].into_boxed_slice(),
            pos: 0,
            end: 0,
            used: 0,
            eof: false,
            z: flate2::Decompress::new(false),
            crc: flate2::Crc::new(),
            state: MemberState::Header,
            pending: None,
            failed: false,
        }
    }

    /// Make at least `n` unused bytes available if the source has them;
    /// returns how many are.
    fn want(&mut self, n: usize) -> io::Result<usize> {
        while self.end - self.pos < n && !self.eof {
            if self.pos > 0 {
                self.buf.copy_within(self.pos..self.end, 0);
                self.end -= self.pos;
                self.pos = 0;
            }
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // The source failed: what was read is used, then the
                    // stream ends.
                    self.eof = true;
                    self.failed = true;
                    return Err(e);
                }
            }
        }
        Ok(self.end - self.pos)
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        self.used += n as u64;
    }

    fn damaged(&mut self, what: String) -> io::Error {
        self.state = MemberState::Seek;
        if self.failed {
            // The source's failure was the error; what it cut ends here.
            return io::Error::new(io::ErrorKind::UnexpectedEof, "");
        }
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{what}; reading on at the next gzip member"),
        )
    }

    /// A member whose header is bad: step past its magic (else the search
    /// finds it again, for ever), then as [`Members::damaged`].
    fn skip_member(&mut self, what: String) -> io::Error {
        self.consume(1);
        self.damaged(what)
    }

    /// Parse one member header at `buf[pos..]`. `Ok(false)` at the end.
    fn header(&mut self) -> io::Result<bool> {
        if self.want(10)? == 0 {
            return Ok(false);
        }
        let at = self.used;
        let h = &self.buf[self.pos..self.end];
        if h.len() < 10 || h[..3] != [0x1f, 0x8b, 8] {
            let what = if h.len() < 10 && h.starts_with(&GZIP_MAGIC[..h.len().min(2)]) {
                format!("the input ends inside a gzip header at compressed offset {at}")
            } else {
                format!("bytes that are not a gzip member at compressed offset {at}")
            };
            // Step past this position so the search finds the next one.
            self.consume(1);
            return Err(self.damaged(what));
        }
        let flags = h[3];
        let mut n = 10;
        let need = |me: &mut Self, k: usize| -> io::Result<bool> { Ok(me.want(k)? >= k) };
        if flags & 4 != 0 {
            if !need(self, n + 2)? {
                return Err(
                    self.skip_member(format!("a gzip header cut short at compressed offset {at}"))
                );
            }
            let xlen = u16::from_le_bytes([self.buf[self.pos + n], self.buf[self.pos + n + 1]]);
            n += 2 + xlen as usize;
        }
        for bit in [8u8, 16] {
            if flags & bit != 0 {
                loop {
                    if !need(self, n + 1)? {
                        return Err(self.skip_member(format!(
                            "a gzip header cut short at compressed offset {at}"
                        )));
                    }
                    n += 1;
                    if self.buf[self.pos + n - 1] == 0 {
                        break;
                    }
                    if n > self.buf.len() / 2 {
                        return Err(self.skip_member(format!(
                            "an overlong gzip header field at compressed offset {at}"
                        )));
                    }
                }
            }
        }
        if flags & 2 != 0 {
            n += 2;
        }
        if !need(self, n)? {
            return Err(
                self.skip_member(format!("a gzip header cut short at compressed offset {at}"))
            );
        }
        self.consume(n);
        self.z.reset(false);
        self.crc.reset();
        self.state = MemberState::Body;
        Ok(true)
    }

    /// After the deflate data: the CRC-32 and size of the member.
    fn trailer(&mut self) -> io::Result<()> {
        let at = self.used;
        if self.want(8)? < 8 {
            let n = self.end - self.pos;
            self.consume(n);
            return Err(self.damaged(format!(
                "the input ends inside a gzip trailer at compressed offset {at}"
            )));
        }
        let t = &self.buf[self.pos..self.pos + 8];
        let crc = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
        let size = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
        self.consume(8);
        self.state = MemberState::Header;
        if crc != self.crc.sum() || size != self.crc.amount() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "a gzip member's checksum does not match its data (damaged) at compressed offset {at}; its bytes were kept, reading on"
                ),
            ));
        }
        Ok(())
    }

    /// Skip to the next `1f 8b 08`.
    fn seek(&mut self) -> io::Result<()> {
        loop {
            if self.want(3)? < 3 {
                let n = self.end - self.pos;
                self.consume(n);
                return Ok(());
            }
            let hay = &self.buf[self.pos..self.end];
            match memchr::memmem::find(hay, &[0x1f, 0x8b, 8]) {
                Some(k) => {
                    self.consume(k);
                    self.state = MemberState::Header;
                    return Ok(());
                }
                None => {
                    let n = hay.len() - 2;
                    self.consume(n);
                }
            }
        }
    }
}

impl<R: Read> Read for Members<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        let r = match self.pending.take() {
            Some(e) => Err(e),
            None => self.read_members(out),
        };
        match r {
            Err(e) if self.failed && e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            r => r,
        }
    }
}

impl<R: Read> Members<R> {
    fn read_members(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.state {
                MemberState::Seek => {
                    self.seek()?;
                    if self.state == MemberState::Seek {
                        return Ok(0);
                    }
                }
                MemberState::Header => {
                    if !self.header()? {
                        return Ok(0);
                    }
                }
                MemberState::Body => {
                    let avail = self.want(1)?;
                    let at = self.used;
                    let (in0, out0) = (self.z.total_in(), self.z.total_out());
                    let r = self.z.decompress(
                        &self.buf[self.pos..self.end],
                        out,
                        flate2::FlushDecompress::None,
                    );
                    let used = (self.z.total_in() - in0) as usize;
                    let made = (self.z.total_out() - out0) as usize;
                    self.consume(used);
                    self.crc.update(&out[..made]);
                    let err = match r {
                        Ok(flate2::Status::StreamEnd) => {
                            if let Err(e) = self.trailer() {
                                self.pending = Some(e);
                            }
                            None
                        }
                        Ok(_) if used == 0 && made == 0 => {
                            if avail == 0 || self.eof {
                                Some(self.damaged(format!(
                                    "the input ends inside a gzip member (truncated?) at compressed offset {at}"
                                )))
                            } else {
                                // More input is needed to go on.
                                self.want(avail + 1)?;
                                None
                            }
                        }
                        Ok(_) => None,
                        Err(e) => Some(self.damaged(format!(
                            "corrupt deflate data at compressed offset {}: {e}",
                            at + used as u64
                        ))),
                    };
                    if let Some(e) = err {
                        if made > 0 {
                            self.pending = Some(e);
                            return Ok(made);
                        }
                        return Err(e);
                    }
                    if made > 0 {
                        return Ok(made);
                    }
                    if let Some(e) = self.pending.take() {
                        return Err(e);
                    }
                }
            }
        }
    }
}

/// The size the last gzip member's trailer gives (ISIZE: the inflated size
/// modulo 2^32).
fn trailer_size(gz: &[u8]) -> Option<usize> {
    let t: [u8; 4] = gz.get(gz.len().checked_sub(4)?..)?.try_into().ok()?;
    Some(u32::from_le_bytes(t) as usize)
}

/// Inflate every member of a complete in-memory gzip stream with libdeflate.
/// `None` when the stream is corrupt or truncated, inflates past `cap` or
/// past [`WHOLE_MAX_INFLATED`]: the caller then streams it, which reports
/// the error with the good bytes before it.
fn inflate_whole(gz: &[u8], cap: u64) -> Option<Vec<u8>> {
    let limit = WHOLE_MAX_INFLATED.min(usize::try_from(cap).unwrap_or(usize::MAX));
    let mut size = trailer_size(gz)?;
    if size > limit {
        return None;
    }
    let mut out: Vec<u8> = Vec::new();
    with_inflater(|d| {
        let mut pos = 0;
        while pos < gz.len() {
            // Room for the member: its own trailer is not known before it is
            // inflated, so start from the last one and double on demand.
            if out.capacity() - out.len() < size.max(64 << 10) {
                out.reserve(size.max(64 << 10));
            }
            match d.gzip_member(&gz[pos..], &mut out) {
                Member::Done(used) => pos += used,
                Member::NoRoom if out.capacity() < limit => {
                    size = (out.capacity() * 2).min(limit) - out.len();
                }
                Member::NoRoom | Member::Bad => return None,
            }
            if out.len() > limit {
                return None;
            }
        }
        Some(out)
    })
    .flatten()
}

thread_local! {
    /// One decompressor per thread, reused for every file: allocating one
    /// (and zeroing its ~30 KB) per small file was a few percent of a
    /// replay of thousands of them.
    static INFLATER: std::cell::RefCell<Option<Inflater>> = const { std::cell::RefCell::new(None) };
}

/// Run `f` with this thread's decompressor (`None`: out of memory).
fn with_inflater<T>(f: impl FnOnce(&mut Inflater) -> T) -> Option<T> {
    INFLATER.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            *c = Inflater::new();
        }
        c.as_mut().map(f)
    })
}

/// What inflating one gzip member did.
enum Member {
    /// Inflated, using this many input bytes.
    Done(usize),
    /// The output buffer's spare room is too small.
    NoRoom,
    /// Corrupt, truncated, or not gzip.
    Bad,
}

/// A libdeflate decompressor (owned, freed on drop).
struct Inflater(std::ptr::NonNull<libdeflate_sys::libdeflate_decompressor>);

impl Inflater {
    fn new() -> Option<Inflater> {
        // SAFETY: no preconditions; a null return means out of memory.
        let p = unsafe { libdeflate_sys::libdeflate_alloc_decompressor() };
        std::ptr::NonNull::new(p).map(Inflater)
    }

    /// Inflate the first gzip member of `gz` into the spare capacity of
    /// `out`, appending to it.
    fn gzip_member(&mut self, gz: &[u8], out: &mut Vec<u8>) -> Member {
        let spare = out.spare_capacity_mut();
        let (mut used, mut made) = (0usize, 0usize);
        // SAFETY: `gz` is valid for reads of `gz.len()` bytes and `spare`
        // for writes of `spare.len()` bytes; libdeflate writes at most that
        // many bytes and reports how many in `made`, and how much input it
        // used in `used`. The decompressor is owned and not shared.
        let r = unsafe {
            libdeflate_sys::libdeflate_gzip_decompress_ex(
                self.0.as_ptr(),
                gz.as_ptr().cast(),
                gz.len(),
                spare.as_mut_ptr().cast(),
                spare.len(),
                &mut used,
                &mut made,
            )
        };
        match r {
            libdeflate_sys::libdeflate_result_LIBDEFLATE_SUCCESS if made <= spare.len() => {
                // SAFETY: libdeflate initialized `made` bytes of the spare
                // capacity, which is within it.
                unsafe { out.set_len(out.len() + made) };
                Member::Done(used.max(1))
            }
            libdeflate_sys::libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE => Member::NoRoom,
            _ => Member::Bad,
        }
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: allocated by libdeflate_alloc_decompressor, freed once.
        unsafe { libdeflate_sys::libdeflate_free_decompressor(self.0.as_ptr()) }
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
    let mut first = None;
    d.read_to_end_capped(&mut out, cap, &mut |e| {
        first.get_or_insert(e);
    })?;
    first.map_or(Ok(out), Err)
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
        let mut errs = Vec::new();
        d.read_to_end_capped(&mut out, 1 << 30, &mut |e| errs.push(e))
            .unwrap();
        assert!(matches!(errs[..], [DecodeError::Gzip { .. }]), "{errs:?}");
        assert!(!out.is_empty());
        assert_eq!(&data[..out.len()], &out[..]);
    }

    #[test]
    fn whole_and_streamed_inflate_agree() {
        let data: Vec<u8> = (0..300_000u32)
            .flat_map(|i| format!("{{\"n\":{i}}}\n").into_bytes())
            .collect();
        let one = gz(&data);
        let mut d = Decoded::new(&one[..], 1 << 30).unwrap();
        assert!(matches!(d.inner, Inner::Whole { .. }));
        let mut out = Vec::new();
        d.read_to_end_capped(&mut out, 1 << 30, &mut |e| panic!("{e}"))
            .unwrap();
        assert_eq!(out, data);
        // Many members, the last one small: the buffer grows as needed.
        let mut many = Vec::new();
        for c in data.chunks(100_000) {
            many.extend(gz(c));
        }
        many.extend(gz(b"end"));
        let mut d = Decoded::new(&many[..], 1 << 30).unwrap();
        assert!(matches!(d.inner, Inner::Whole { .. }));
        let whole = d.take_whole().unwrap();
        assert_eq!(&whole[..data.len()], &data[..]);
        assert_eq!(&whole[data.len()..], b"end");
        assert_eq!(d.offset(), whole.len() as u64);
        // Trailing junk after a member: streamed, and reported.
        let mut junk = one.clone();
        junk.extend_from_slice(b"garbage");
        let mut d = Decoded::new(&junk[..], 1 << 30).unwrap();
        assert!(matches!(d.inner, Inner::Gzip(_)));
        let mut out = Vec::new();
        let mut errs = 0;
        d.read_to_end_capped(&mut out, 1 << 30, &mut |_| errs += 1)
            .unwrap();
        assert_eq!(errs, 1);
        assert_eq!(out, data);
    }

    #[test]
    fn large_inputs_stream_past_the_read_ahead() {
        // Incompressible enough to exceed the whole-buffer read-ahead.
        let mut x: u64 = 1;
        let data: Vec<u8> = (0..(WHOLE_MAX_COMPRESSED + (1 << 20)))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let z = gz(&data);
        assert!(z.len() > WHOLE_MAX_COMPRESSED);
        let mut d = Decoded::new(&z[..], 1 << 40).unwrap();
        assert!(matches!(d.inner, Inner::Gzip(_)));
        let mut out = Vec::new();
        d.read_to_end_capped(&mut out, 1 << 40, &mut |e| panic!("{e}"))
            .unwrap();
        assert!(out == data);
    }

    /// A source that fails after `ok` bytes.
    struct FailAfter<'a> {
        data: &'a [u8],
        ok: usize,
    }

    impl Read for FailAfter<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.ok == 0 {
                return Err(io::Error::new(io::ErrorKind::ConnectionReset, "cut"));
            }
            let n = buf.len().min(self.ok).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            self.ok -= n;
            Ok(n)
        }
    }

    #[test]
    fn a_source_failing_during_the_read_ahead_keeps_the_bytes_before() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("{{\"n\":{i}}}\n").into_bytes())
            .collect();
        let z = gz(&data);
        let src = FailAfter {
            data: &z,
            ok: z.len() / 2,
        };
        let mut d = Decoded::new(src, 1 << 30).unwrap();
        let mut out = Vec::new();
        let mut errs = Vec::new();
        d.read_to_end_capped(&mut out, 1 << 30, &mut |e| errs.push(e))
            .unwrap();
        assert!(matches!(errs[..], [DecodeError::Gzip { .. }]), "{errs:?}");
        assert!(out.len() > data.len() / 4, "{}", out.len());
        assert_eq!(&data[..out.len()], &out[..]);
    }

    fn read_all(z: &[u8]) -> (Vec<u8>, Vec<DecodeError>) {
        let mut d = Decoded::new(z, 1 << 30).unwrap();
        let (mut out, mut errs) = (Vec::new(), Vec::new());
        d.read_to_end_capped(&mut out, 1 << 30, &mut |e| errs.push(e))
            .unwrap();
        (out, errs)
    }

    /// Damage loses what cannot be inflated and nothing more: every byte
    /// before it, and every later member.
    #[test]
    fn damage_keeps_the_bytes_before_and_the_members_after() {
        let part = |i: u32| -> Vec<u8> {
            (0..5_000u32)
                .flat_map(|n| format!("{{\"member\":{i},\"n\":{n}}}\n").into_bytes())
                .collect()
        };
        let parts: Vec<Vec<u8>> = (0..6).map(part).collect();
        let members: Vec<Vec<u8>> = parts.iter().map(|p| gz(p)).collect();
        // Member 2 of 6 damaged in its deflate data.
        let mut z = Vec::new();
        for (i, m) in members.iter().enumerate() {
            let mut m = m.clone();
            if i == 1 {
                let k = m.len() / 2;
                m[k] ^= 0x55;
            }
            z.extend(m);
        }
        let (out, errs) = read_all(&z);
        assert!(!errs.is_empty());
        let before = parts[0].len();
        assert_eq!(&out[..before], &parts[0][..]);
        let tail: Vec<u8> = parts[2..].concat();
        assert!(out.ends_with(&tail), "every member after the damaged one");
        // Junk between two members: both kept, one error.
        let mut z = members[0].clone();
        z.extend_from_slice(b"junk junk junk");
        z.extend(&members[1]);
        let (out, errs) = read_all(&z);
        assert_eq!(out, [&parts[0][..], &parts[1][..]].concat());
        assert_eq!(errs.len(), 1, "{errs:?}");
        // One member with a flipped bit: what was inflated before it stays.
        let mut one = gz(&parts[0]);
        let k = one.len() * 3 / 4;
        one[k] ^= 0x10;
        let (out, errs) = read_all(&one);
        assert!(!errs.is_empty());
        assert!(out.len() > parts[0].len() / 2, "{}", out.len());
        let good = out
            .iter()
            .zip(&parts[0])
            .take_while(|(a, b)| a == b)
            .count();
        assert!(good > parts[0].len() / 2, "{good}");
        // A header cut short at the end.
        let mut z = members[0].clone();
        z.extend_from_slice(&[0x1f, 0x8b, 8]);
        let (out, errs) = read_all(&z);
        assert_eq!(out, parts[0]);
        assert_eq!(errs.len(), 1, "{errs:?}");
    }

    /// Found by the `gzip` fuzz target: a member header whose extra field
    /// runs past the end made the search find the same member again, for
    /// ever.
    #[test]
    fn a_bad_member_header_is_stepped_over() {
        let mut z = vec![0x1f, 0x8b, 8, 0xff];
        z.extend([0xff; 62]);
        z.extend(gz(b"after\n"));
        let (out, errs) = read_all(&z);
        assert_eq!(out, b"after\n");
        assert!(!errs.is_empty());
        // The input the fuzzer found ends.
        let mut z = vec![0x1f, 0x8b, 8];
        z.extend([0xff; 63]);
        z.extend([0, 0, 0, 0, 0, 0, 0xff, 0xab, 0x56, 0x0a]);
        assert!(inflate_all(&z, 1 << 20).is_err());
    }

    #[test]
    fn bomb_is_capped() {
        let z = gz(&vec![b'a'; 5 << 20]);
        let err = inflate_all(&z, 1 << 20).unwrap_err();
        assert!(matches!(err, DecodeError::TooLarge { .. }), "{err}");
    }
}
