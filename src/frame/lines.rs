//! Line framing for streams read a piece at a time (replayed files and
//! stdin, followed files, the sidecar's stdin): only complete,
//! newline-terminated lines leave the buffer; a partial last line waits for
//! its end; a line longer than the record cap is reported and skipped to its
//! newline without being held in memory.
//!
//! Knows nothing of files or scanning: bytes in, line batches out, with the
//! stream offset of each batch. Lines are handed out from the caller's bytes
//! in place; only the partial line at the end of a piece is copied (and,
//! once its end arrives, handed out on its own).

/// What the buffer hands out.
#[derive(Debug, PartialEq, Eq)]
pub enum Framed<'a> {
    /// Complete lines (each ends with `\n`); `base` is the stream offset of
    /// `bytes[0]`.
    Lines {
        /// Stream offset of the first byte.
        base: u64,
        /// The lines.
        bytes: &'a [u8],
    },
    /// A line longer than the cap starts at `offset`; it is skipped.
    Oversized {
        /// Stream offset where the line starts.
        offset: u64,
    },
}

/// Accumulates bytes and frames complete lines.
///
/// ```
/// use denytrail::frame::lines::{Framed, LineBuffer};
/// let mut b = LineBuffer::new(0, 1024);
/// let mut got = Vec::new();
/// b.push(b"one\ntw", &mut |f| if let Framed::Lines { bytes, .. } = f { got.push(bytes.to_vec()) });
/// b.push(b"o\n", &mut |f| if let Framed::Lines { bytes, .. } = f { got.push(bytes.to_vec()) });
/// assert_eq!(got, vec![b"one\n".to_vec(), b"two\n".to_vec()]);
/// assert_eq!(b.consumed(), 8);
/// ```
#[derive(Debug)]
pub struct LineBuffer {
    pending: Vec<u8>,
    /// Stream offset just past the last byte handed out or skipped.
    consumed: u64,
    /// Inside an oversized line: drop bytes up to the next newline.
    skipping: bool,
    max_record: usize,
}

impl LineBuffer {
    /// A buffer for a stream whose next byte is at `offset`.
    pub fn new(offset: u64, max_record: usize) -> LineBuffer {
        LineBuffer {
            pending: Vec::new(),
            consumed: offset,
            skipping: false,
            max_record: max_record.max(1),
        }
    }

    /// Stream offset up to which every byte was handed out or skipped: where
    /// reading must resume after a restart.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Stream offset of the next byte to read (past the partial line held).
    pub fn read_offset(&self) -> u64 {
        self.consumed + self.pending.len() as u64
    }

    /// Bytes of a partial line held.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Forget everything and restart at `offset` (truncated file).
    pub fn reset(&mut self, offset: u64) {
        self.pending.clear();
        self.pending.shrink_to(64 * 1024);
        self.consumed = offset;
        self.skipping = false;
    }

    /// Add bytes; hand out every complete line.
    pub fn push(&mut self, data: &[u8], out: &mut dyn FnMut(Framed<'_>)) {
        let mut data = data;
        if self.skipping {
            match memchr::memchr(b'\n', data) {
                Some(i) => {
                    self.consumed += i as u64 + 1;
                    self.skipping = false;
                    data = &data[i + 1..];
                }
                None => {
                    self.consumed += data.len() as u64;
                    return;
                }
            }
        }
        if !self.pending.is_empty() {
            // Complete the held line on its own, then frame the rest in place.
            let Some(nl) = memchr::memchr(b'\n', data) else {
                self.hold(data, out);
                return;
            };
            if self.pending.len() + nl > self.max_record {
                // The held line grew past the cap: it ends here, skipped.
                out(Framed::Oversized {
                    offset: self.consumed,
                });
                self.consumed += (self.pending.len() + nl + 1) as u64;
                self.pending.clear();
            } else {
                self.pending.extend_from_slice(&data[..=nl]);
                out(Framed::Lines {
                    base: self.consumed,
                    bytes: &self.pending,
                });
                self.consumed += self.pending.len() as u64;
                self.pending.clear();
            }
            data = &data[nl + 1..];
        }
        let Some(last_nl) = memchr::memrchr(b'\n', data) else {
            self.hold(data, out);
            return;
        };
        let (lines, rest) = data.split_at(last_nl + 1);
        if lines.len() <= self.max_record {
            // No line in it can be over the cap.
            out(Framed::Lines {
                base: self.consumed,
                bytes: lines,
            });
            self.consumed += lines.len() as u64;
        } else {
            self.lines_capped(lines, out);
        }
        self.hold(rest, out);
    }

    /// Hand out whole lines (`lines` ends with `\n`), each one over the cap
    /// as [`Framed::Oversized`]: the same as when it arrives in pieces.
    fn lines_capped(&mut self, lines: &[u8], out: &mut dyn FnMut(Framed<'_>)) {
        let mut run = 0; // start of the lines not handed out yet
        let mut at = 0;
        for nl in memchr::memchr_iter(b'\n', lines) {
            if nl - at > self.max_record {
                if run < at {
                    out(Framed::Lines {
                        base: self.consumed,
                        bytes: &lines[run..at],
                    });
                    self.consumed += (at - run) as u64;
                }
                out(Framed::Oversized {
                    offset: self.consumed,
                });
                self.consumed += (nl + 1 - at) as u64;
                run = nl + 1;
            }
            at = nl + 1;
        }
        if run < lines.len() {
            out(Framed::Lines {
                base: self.consumed,
                bytes: &lines[run..],
            });
            self.consumed += (lines.len() - run) as u64;
        }
    }

    /// The longest line kept.
    pub fn max_record(&self) -> usize {
        self.max_record
    }

    /// End of stream: the last line counts even without its newline.
    pub fn finish(&mut self, out: &mut dyn FnMut(Framed<'_>)) {
        if !self.pending.is_empty() && !self.skipping {
            out(Framed::Lines {
                base: self.consumed,
                bytes: &self.pending,
            });
            self.consumed += self.pending.len() as u64;
            self.pending.clear();
        }
    }

    fn hold(&mut self, rest: &[u8], out: &mut dyn FnMut(Framed<'_>)) {
        if self.pending.len() + rest.len() > self.max_record {
            out(Framed::Oversized {
                offset: self.consumed,
            });
            self.consumed += (self.pending.len() + rest.len()) as u64;
            self.pending.clear();
            self.skipping = true;
        } else {
            self.pending.extend_from_slice(rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(b: &mut LineBuffer, pieces: &[&[u8]]) -> Vec<(String, u64)> {
        let mut got = Vec::new();
        for p in pieces {
            b.push(p, &mut |f| match f {
                Framed::Lines { base, bytes } => {
                    got.push((String::from_utf8_lossy(bytes).into_owned(), base))
                }
                Framed::Oversized { offset } => got.push(("!".to_string(), offset)),
            });
        }
        got
    }

    /// Pieces pushed; lines expected (text, base); consumed; pending.
    type Case<'a> = (&'a [&'a [u8]], &'a [(&'a str, u64)], u64, usize);

    #[test]
    fn frames_complete_lines_only() {
        let cases: &[Case] = &[
            (&[b"a\n"], &[("a\n", 0)], 2, 0),
            (&[b"a"], &[], 0, 1),
            (&[b"a", b"b\nc"], &[("ab\n", 0)], 3, 1),
            (&[b"a\nb\n", b"c\n"], &[("a\nb\n", 0), ("c\n", 4)], 6, 0),
            (&[b"x", b"", b"y\n"], &[("xy\n", 0)], 3, 0),
        ];
        for (pieces, want, consumed, pending) in cases {
            let mut b = LineBuffer::new(0, 100);
            let got = frame(&mut b, pieces);
            let want: Vec<(String, u64)> = want.iter().map(|(s, o)| (s.to_string(), *o)).collect();
            assert_eq!(got, want, "{pieces:?}");
            assert_eq!(b.consumed(), *consumed);
            assert_eq!(b.pending_len(), *pending);
            assert_eq!(b.read_offset(), consumed + *pending as u64);
        }
    }

    #[test]
    fn skips_oversized_lines_to_their_end() {
        let mut b = LineBuffer::new(10, 4);
        let got = frame(&mut b, &[b"ok\n123", b"4567", b"89\nfine\n"]);
        assert_eq!(
            got,
            vec![
                ("ok\n".to_string(), 10),
                ("!".to_string(), 13),
                ("fine\n".to_string(), 23)
            ]
        );
        assert_eq!(b.consumed(), 28);
    }

    /// Found by the `lines` fuzz target: a line over the cap that arrived
    /// inside one piece was handed out, and skipped when it arrived split.
    #[test]
    fn a_line_over_the_cap_is_skipped_however_it_arrives() {
        let data: &[u8] = b"ok\n123456789\nfine\n";
        let want = vec![
            ("ok\n".to_string(), 10),
            ("!".to_string(), 13),
            ("fine\n".to_string(), 23),
        ];
        for cut in 0..=data.len() {
            let mut b = LineBuffer::new(10, 4);
            let (x, y) = data.split_at(cut);
            let mut got = frame(&mut b, &[x, y]);
            // Runs of lines handed out at once: compare line by line.
            got = got
                .into_iter()
                .flat_map(|(t, o)| {
                    let mut at = o;
                    t.split_inclusive('\n')
                        .map(|l| {
                            let r = (l.to_string(), at);
                            at += l.len() as u64;
                            r
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            assert_eq!(got, want, "cut at {cut}");
            assert_eq!(b.consumed(), 28);
        }
    }

    #[test]
    fn finish_hands_out_the_last_line() {
        let mut b = LineBuffer::new(0, 100);
        frame(&mut b, &[b"a\nlast"]);
        let mut last = Vec::new();
        b.finish(&mut |f| {
            if let Framed::Lines { bytes, base } = f {
                last.push((bytes.to_vec(), base))
            }
        });
        assert_eq!(last, vec![(b"last".to_vec(), 2)]);
        assert_eq!(b.consumed(), 6);
    }
}
