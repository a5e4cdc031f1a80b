//! The elements of a CloudTrail `{"Records":[…]}` document, found by a
//! streaming structural scan without parsing them.

/// A streaming structural scanner for `{"Records":[…]}` archives.
///
/// Feed it consecutive buffers; it reports each complete element of the
/// top-level array as a byte range, tracking strings and escapes so that
/// braces inside strings are not counted. It never parses a record.
#[derive(Debug, Clone, Default)]
pub struct RecordsFramer {
    depth: u32,
    in_str: bool,
    esc: bool,
    /// Set once the array at depth 1 is open.
    in_array: bool,
    rec_start: Option<usize>,
}

/// Deepest nesting the framer follows before calling the input broken.
pub const MAX_DEPTH: u32 = 1024;

/// What [`RecordsFramer::feed`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameEvent {
    /// A complete record spans `start..end` of the buffer.
    Record {
        /// First byte (`{`).
        start: usize,
        /// One past the last byte (`}`).
        end: usize,
    },
    /// The structure is broken at this buffer position (too deep, or
    /// unbalanced); the framer has reset to look for the next record.
    Broken(usize),
    /// The document closed: its last `}` is at this buffer position.
    End(usize),
}

impl RecordsFramer {
    /// A framer at the start of a stream.
    pub fn new() -> RecordsFramer {
        RecordsFramer::default()
    }

    /// The start (in the current buffer) of a record still open, if any.
    pub fn open_record(&self) -> Option<usize> {
        self.rec_start
    }

    /// Move an open record's start after the caller dropped `n` bytes from
    /// the front of its buffer.
    pub fn rebase(&mut self, n: usize) {
        if let Some(s) = &mut self.rec_start {
            *s = s.saturating_sub(n);
        }
    }

    /// Drop the open record (it grew past the size cap): its bytes are
    /// skipped structurally until the record ends.
    pub fn forget_open(&mut self) {
        self.rec_start = None;
    }

    /// Start over between two records of the array: the caller found the
    /// structure broken and skips to the next record start it trusts
    /// ([`next_record_start`]).
    pub fn resync(&mut self) {
        *self = RecordsFramer {
            depth: 2,
            in_array: true,
            ..Default::default()
        };
    }

    /// Inside the document, not yet closed (a stream that ends here is cut).
    pub fn is_open(&self) -> bool {
        self.depth > 0 || self.in_str
    }

    /// Scan `buf[from..]`, calling `on` for each event. Returns the position
    /// scanning stopped at (always `buf.len()`).
    ///
    /// Whole 64-byte blocks are classified at once (as simdjson's first
    /// stage does): bit masks of quotes, backslashes and brackets, escaped
    /// characters from the backslash runs, the inside of strings as the
    /// prefix XOR of the unescaped quotes; only the brackets outside strings
    /// (a few dozen per record) are then walked one by one. The bytes after
    /// the last whole block go through the same state machine byte by byte.
    pub fn feed(&mut self, buf: &[u8], from: usize, on: &mut dyn FnMut(FrameEvent)) -> usize {
        let n = buf.len();
        let from = from.min(n);
        #[cfg(target_arch = "x86_64")]
        let i = if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            unsafe { self.blocks_avx2(buf, from, on) }
        } else {
            self.blocks(buf, from, on, Masks::of)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let i = self.blocks(buf, from, on, Masks::of);
        self.bytewise(buf, i, on);
        n
    }

    /// [`RecordsFramer::feed`] with the portable block classifier only,
    /// whatever the CPU: the same events as `feed` (the `records` fuzz
    /// target compares the two).
    #[doc(hidden)]
    pub fn feed_portable(
        &mut self,
        buf: &[u8],
        from: usize,
        on: &mut dyn FnMut(FrameEvent),
    ) -> usize {
        let from = from.min(buf.len());
        let i = self.blocks(buf, from, on, Masks::of);
        self.bytewise(buf, i, on);
        buf.len()
    }

    /// The whole 64-byte blocks of `buf[from..]`, with AVX2 compares.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn blocks_avx2(&mut self, buf: &[u8], from: usize, on: &mut dyn FnMut(FrameEvent)) -> usize {
        self.blocks(buf, from, on, |b| {
            // SAFETY: this function only runs on CPUs with AVX2.
            unsafe { Masks::of_avx2(b) }
        })
    }

    /// The whole 64-byte blocks of `buf[from..]`; returns where the rest
    /// starts.
    #[inline(always)]
    fn blocks(
        &mut self,
        buf: &[u8],
        from: usize,
        on: &mut dyn FnMut(FrameEvent),
        masks: impl Fn(&[u8; 64]) -> Masks,
    ) -> usize {
        let mut i = from;
        while let Some(block) = buf.get(i..i + 64) {
            let block: &[u8; 64] = block.try_into().expect("64 bytes");
            self.block(block, masks(block), i, on);
            i += 64;
        }
        i
    }

    /// One 64-byte block starting at `at`, with its masks.
    #[inline(always)]
    fn block(&mut self, block: &[u8; 64], m: Masks, at: usize, on: &mut dyn FnMut(FrameEvent)) {
        // Characters escaped by a backslash (the first one may be escaped by
        // a backslash that ended the previous block).
        let mut escaped = u64::from(self.esc);
        let mut next_esc = false;
        let mut bs = m.backslash & !escaped;
        while bs != 0 {
            let b = bs.trailing_zeros();
            bs &= bs - 1;
            if b == 63 {
                next_esc = true;
            } else {
                escaped |= 1 << (b + 1);
                bs &= !(1 << (b + 1));
            }
        }
        let quotes = m.quote & !escaped;
        let mut in_str = prefix_xor(quotes);
        if self.in_str {
            in_str = !in_str;
        }
        let mut structural = m.bracket & !in_str & !escaped;
        while structural != 0 {
            let b = structural.trailing_zeros() as usize;
            structural &= structural - 1;
            self.structural(block[b], at + b, on);
        }
        self.in_str = in_str >> 63 == 1;
        self.esc = next_esc;
    }

    /// The byte-at-a-time scan of `buf[from..]`.
    fn bytewise(&mut self, buf: &[u8], from: usize, on: &mut dyn FnMut(FrameEvent)) {
        let mut i = from;
        let n = buf.len();
        while i < n {
            if self.esc {
                self.esc = false;
                i += 1;
                continue;
            }
            if self.in_str {
                // Skip to the next quote or backslash.
                match memchr::memchr2(b'"', b'\\', &buf[i..]) {
                    None => return,
                    Some(k) => {
                        i += k;
                        if buf[i] == b'\\' {
                            self.esc = true;
                        } else {
                            self.in_str = false;
                        }
                        i += 1;
                        continue;
                    }
                }
            }
            match buf[i] {
                b'"' => self.in_str = true,
                // Not valid JSON outside a string; it escapes the next byte
                // there too, so both scans read broken input alike.
                b'\\' => self.esc = true,
                c => self.structural(c, i, on),
            }
            i += 1;
        }
    }

    /// A byte outside strings: follow the nesting, report records.
    #[inline]
    fn structural(&mut self, c: u8, i: usize, on: &mut dyn FnMut(FrameEvent)) {
        match c {
            b'{' | b'[' => {
                if self.depth == 1 && c == b'[' {
                    self.in_array = true;
                }
                if self.depth == 2 && self.in_array && c == b'{' {
                    self.rec_start = Some(i);
                }
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    on(FrameEvent::Broken(i));
                    *self = RecordsFramer {
                        depth: 2,
                        in_array: true,
                        ..Default::default()
                    };
                }
            }
            b'}' | b']' => {
                if self.depth == 0 {
                    on(FrameEvent::Broken(i));
                } else {
                    self.depth -= 1;
                    if self.depth == 0 {
                        on(FrameEvent::End(i));
                    }
                    if self.depth == 2
                        && c == b'}'
                        && let Some(s) = self.rec_start.take()
                    {
                        on(FrameEvent::Record {
                            start: s,
                            end: i + 1,
                        });
                    }
                    if self.depth == 1 && c == b']' {
                        self.in_array = false;
                    }
                }
            }
            _ => {}
        }
    }
}

/// The key CloudTrail writes first in every record.
const SIGNATURE: &[u8] = b"\"eventVersion\"";

static SIGNATURE_FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(SIGNATURE));

/// Where the next record of a Records array starts at or after `from`: the
/// `{` of a `{"eventVersion"` that is not the value of a key. CloudTrail
/// writes `eventVersion` first in every record, and inside a string the
/// quotes would be escaped, so outside broken bytes this is a record start
/// and nothing else; the scanner resynchronises there after damage.
///
/// ```
/// use denytrail::frame::records::next_record_start;
/// let doc = br#"{"Records":[{"eventVersion":"1.08"},{"x":{"eventVersion":1}},{ "eventVersion":"1"}]}"#;
/// assert_eq!(next_record_start(doc, 0), Some(12));
/// assert_eq!(next_record_start(doc, 13), Some(61));
/// ```
pub fn next_record_start(buf: &[u8], from: usize) -> Option<usize> {
    next_object(buf, from, &SIGNATURE_FINDER)
}

/// Where the next object whose first key is the one `key` finds starts, at
/// or after `from`: a `{`, white space, then the key, where the `{` is not
/// a key's value. The resynchronisation point after damage, for records
/// ([`next_record_start`]) and for whole documents.
pub fn next_object(buf: &[u8], from: usize, key: &memchr::memmem::Finder<'_>) -> Option<usize> {
    let mut at = from;
    while at < buf.len() {
        let k = at + key.find(&buf[at..])?;
        at = k + 1;
        let before = &buf[..k];
        let Some(brace) = before.iter().rposition(|c| !c.is_ascii_whitespace()) else {
            continue;
        };
        if before[brace] != b'{' || brace < from {
            continue;
        }
        let key_value = before[..brace]
            .iter()
            .rposition(|c| !c.is_ascii_whitespace())
            .is_some_and(|p| before[p] == b':');
        if !key_value {
            return Some(brace);
        }
    }
    None
}

/// Bit `k` of each mask is set when byte `k` of a 64-byte block is that
/// character.
#[derive(Debug, PartialEq, Eq)]
struct Masks {
    quote: u64,
    backslash: u64,
    /// `{`, `[`, `}` or `]`.
    bracket: u64,
}

impl Masks {
    /// AVX2: two 32-byte compares per character.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn of_avx2(block: &[u8; 64]) -> Masks {
        use std::arch::x86_64::{
            __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_or_si256,
            _mm256_set1_epi8,
        };
        let quote = _mm256_set1_epi8(b'"' as i8);
        let backslash = _mm256_set1_epi8(b'\\' as i8);
        let open = _mm256_set1_epi8(b'{' as i8);
        let close = _mm256_set1_epi8(b'}' as i8);
        let fold = _mm256_set1_epi8(0x20);
        let mut m = Masks {
            quote: 0,
            backslash: 0,
            bracket: 0,
        };
        for k in 0..2 {
            // SAFETY: reads 32 bytes at offset 0 or 32 of the 64-byte block.
            let v = unsafe { _mm256_loadu_si256(block.as_ptr().add(32 * k).cast::<__m256i>()) };
            let mask = |x| u64::from(_mm256_movemask_epi8(x) as u32) << (32 * k);
            m.quote |= mask(_mm256_cmpeq_epi8(v, quote));
            m.backslash |= mask(_mm256_cmpeq_epi8(v, backslash));
            // `{`/`[` and `}`/`]` differ only in bit 0x20.
            let f = _mm256_or_si256(v, fold);
            m.bracket |= mask(_mm256_or_si256(
                _mm256_cmpeq_epi8(f, open),
                _mm256_cmpeq_epi8(f, close),
            ));
        }
        m
    }

    /// SSE2 (in every x86-64 CPU): four 16-byte compares per character.
    #[cfg(target_arch = "x86_64")]
    #[inline]
    fn of(block: &[u8; 64]) -> Masks {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of the x86-64 baseline; each load reads 16
        // bytes inside `block` (offsets 0, 16, 32, 48 of 64), unaligned
        // loads allowed.
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let backslash = _mm_set1_epi8(b'\\' as i8);
            let open = _mm_set1_epi8(b'{' as i8);
            let close = _mm_set1_epi8(b'}' as i8);
            let fold = _mm_set1_epi8(0x20);
            let mut m = Masks {
                quote: 0,
                backslash: 0,
                bracket: 0,
            };
            for k in 0..4 {
                let v = _mm_loadu_si128(block.as_ptr().add(16 * k).cast::<__m128i>());
                let mask = |x| u64::from(_mm_movemask_epi8(x) as u16) << (16 * k);
                m.quote |= mask(_mm_cmpeq_epi8(v, quote));
                m.backslash |= mask(_mm_cmpeq_epi8(v, backslash));
                // `{`/`[` and `}`/`]` differ only in bit 0x20.
                let f = _mm_or_si128(v, fold);
                m.bracket |= mask(_mm_or_si128(
                    _mm_cmpeq_epi8(f, open),
                    _mm_cmpeq_epi8(f, close),
                ));
            }
            m
        }
    }

    /// Portable (other architectures): the byte-at-a-time masks.
    #[cfg(not(target_arch = "x86_64"))]
    #[inline]
    fn of(block: &[u8; 64]) -> Masks {
        Masks::of_portable(block)
    }

    /// One byte at a time: the reference the SIMD versions are tested
    /// against.
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    fn of_portable(block: &[u8; 64]) -> Masks {
        let mut m = Masks {
            quote: 0,
            backslash: 0,
            bracket: 0,
        };
        for (k, &c) in block.iter().enumerate() {
            m.quote |= u64::from(c == b'"') << k;
            m.backslash |= u64::from(c == b'\\') << k;
            // `{`/`[` and `}`/`]` differ only in bit 0x20.
            let folded = c | 0x20;
            m.bracket |= u64::from(folded == b'{' || folded == b'}') << k;
        }
        m
    }
}

/// Bit `k` of the result is the XOR of bits `0..=k` of `x`: set from an
/// opening quote up to (not including) its closing quote.
#[inline]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(chunks: &[&[u8]]) -> Vec<String> {
        // Feed chunk by chunk, carrying the open record like the scanner does.
        let mut f = RecordsFramer::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut out = Vec::new();
        for c in chunks {
            let from = buf.len();
            buf.extend_from_slice(c);
            let mut evs = Vec::new();
            f.feed(&buf, from, &mut |e| evs.push(e));
            for e in evs {
                if let FrameEvent::Record { start, end } = e {
                    out.push(String::from_utf8_lossy(&buf[start..end]).into_owned());
                }
            }
            let keep = f.open_record().unwrap_or(buf.len());
            buf.drain(..keep);
            f.rebase(keep);
        }
        out
    }

    #[test]
    fn frames_records_across_chunks_and_ignores_braces_in_strings() {
        let doc: &[u8] = br#"{"Records":[{"a":"}{\"x","b":{"c":[1,{}]}},{"d":"\\"}]}"#;
        let want = vec![
            r#"{"a":"}{\"x","b":{"c":[1,{}]}}"#.to_string(),
            r#"{"d":"\\"}"#.to_string(),
        ];
        assert_eq!(frames(&[doc]), want);
        for cut in 1..doc.len() {
            assert_eq!(frames(&[&doc[..cut], &doc[cut..]]), want, "cut at {cut}");
        }
    }

    /// Block-at-a-time framing finds exactly what the byte-at-a-time state
    /// machine finds, wherever blocks and chunks cut strings, escapes and
    /// backslash runs.
    #[test]
    fn block_and_bytewise_framing_agree() {
        use proptest::prelude::*;
        let piece = prop_oneof![
            Just("{".to_string()),
            Just("}".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just(",".to_string()),
            Just("\"".to_string()),
            Just("\\".to_string()),
            Just("\\\\".to_string()),
            Just("\\\"".to_string()),
            Just("\"a{\\\"}\"".to_string()),
            "[a-z:0-9 ]{0,70}",
        ];
        let doc = proptest::collection::vec(piece, 0..120).prop_map(|v| {
            let mut d = String::from("{\"Records\":[");
            for p in v {
                d.push_str(&p);
            }
            d.into_bytes()
        });
        let mut runner = proptest::test_runner::TestRunner::default();
        runner
            .run(&(doc, 0usize..400, 0usize..400), |(doc, c1, c2)| {
                let mut want = Vec::new();
                let mut f = RecordsFramer::new();
                f.bytewise(&doc, 0, &mut |e| want.push(e));
                // The same bytes fed in up to three chunks, blockwise.
                let (a, b) = (c1.min(doc.len()), c2.min(doc.len()));
                let (a, b) = (a.min(b), a.max(b));
                let mut got = Vec::new();
                let mut g = RecordsFramer::new();
                for (from, to) in [(0, a), (a, b), (b, doc.len())] {
                    g.feed(&doc[..to], from, &mut |e| got.push(e));
                }
                prop_assert_eq!(&got, &want);
                prop_assert_eq!((g.in_str, g.esc, g.depth), (f.in_str, f.esc, f.depth));
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn simd_masks_match_the_portable_ones() {
        let alphabet = b"{}[]\"\\a:,{\x7b\x5b\x5d\x7d\xfb\xdb\xdd\xfd\x22\x02";
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            let mut block = [0u8; 64];
            for b in &mut block {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = alphabet[(x % alphabet.len() as u64) as usize];
            }
            let want = Masks::of_portable(&block);
            assert_eq!(Masks::of(&block), want);
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 checked just above.
                assert_eq!(unsafe { Masks::of_avx2(&block) }, want);
            }
        }
    }

    #[test]
    fn pretty_printed_records() {
        let doc = b"{\n  \"Records\": [\n    {\"a\": 1},\n    {\"b\": 2}\n  ]\n}\n";
        assert_eq!(frames(&[doc]), vec!["{\"a\": 1}", "{\"b\": 2}"]);
    }
}
