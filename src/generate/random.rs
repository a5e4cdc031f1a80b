//! The generator's source of randomness: ChaCha8 seeded from a `u64`, with
//! the few draws the generator needs written out here (not taken from
//! `rand`'s distributions) so that a seed gives the same corpus whatever
//! version of `rand` is in the lock file.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Expand a `u64` into a 32-byte ChaCha seed with SplitMix64. `stream`
/// separates independent sequences drawn from one user seed.
fn seed_bytes(seed: u64, stream: u64) -> [u8; 32] {
    let mut state = seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F);
    let mut out = [0u8; 32];
    for chunk in out.chunks_exact_mut(8) {
        chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
    }
    out
}

/// One SplitMix64 step: a fast, well-mixed hash for deriving values from
/// indices (principal `i` of seed `s`) without a stateful generator.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uppercase base-32 alphabet of IAM unique IDs and access key IDs.
const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Alphanumerics (file-name suffixes, S3 request IDs).
const ALNUM: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// URL-safe base64 (encoded authorization failure messages).
const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const HEX: &[u8; 16] = b"0123456789abcdef";

/// A deterministic random source.
#[derive(Debug, Clone)]
pub(crate) struct Rand {
    rng: ChaCha8Rng,
}

impl Rand {
    /// The generator for `seed`, sequence `stream`.
    pub(crate) fn new(seed: u64, stream: u64) -> Rand {
        Rand {
            rng: ChaCha8Rng::from_seed(seed_bytes(seed, stream)),
        }
    }

    /// A uniform `u64`.
    #[inline]
    pub(crate) fn u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// A value in `0..n` (0 when `n == 0`), by multiply-shift.
    #[inline]
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.u64()) * u128::from(n)) >> 64) as u64
    }

    /// A value in `lo..=hi`.
    #[inline]
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo).saturating_add(1))
    }

    /// A uniform float in `[0, 1)`.
    #[inline]
    pub(crate) fn unit(&mut self) -> f64 {
        (self.u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`.
    #[inline]
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// One element of a non-empty slice.
    #[inline]
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let i = self.below(items.len() as u64) as usize;
        &items[i.min(items.len().saturating_sub(1))]
    }

    /// An index drawn with the given weights (the last index if all are 0).
    pub(crate) fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut x = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if x < u64::from(w) {
                return i;
            }
            x -= u64::from(w);
        }
        weights.len().saturating_sub(1)
    }

    fn push_from(&mut self, out: &mut String, alphabet: &[u8], n: usize) {
        for _ in 0..n {
            let i = self.below(alphabet.len() as u64) as usize;
            out.push(char::from(alphabet[i]));
        }
    }

    /// `n` lowercase hex digits.
    pub(crate) fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n);
        self.push_from(&mut s, HEX, n);
        s
    }

    /// `n` characters of IAM base-32.
    pub(crate) fn b32(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n);
        self.push_from(&mut s, B32, n);
        s
    }

    /// `n` alphanumerics.
    pub(crate) fn alnum(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n);
        self.push_from(&mut s, ALNUM, n);
        s
    }

    /// `n` characters of URL-safe base64.
    pub(crate) fn b64url(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n);
        self.push_from(&mut s, B64URL, n);
        s
    }

    /// `n` decimal digits (the first one not 0).
    pub(crate) fn digits(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n);
        for i in 0..n {
            let d = if i == 0 {
                1 + self.below(9)
            } else {
                self.below(10)
            };
            s.push(char::from(b'0' + d as u8));
        }
        s
    }

    /// A version-4 UUID string (`xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`).
    pub(crate) fn uuid(&mut self) -> String {
        let a = self.u64();
        let b = self.u64();
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&a.to_le_bytes());
        bytes[8..].copy_from_slice(&b.to_le_bytes());
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let mut s = String::with_capacity(36);
        for (i, byte) in bytes.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                s.push('-');
            }
            s.push(char::from(HEX[usize::from(byte >> 4)]));
            s.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_draws_and_streams_differ() {
        let mut a = Rand::new(7, 0);
        let mut b = Rand::new(7, 0);
        let mut c = Rand::new(7, 1);
        let xa: Vec<u64> = (0..8).map(|_| a.u64()).collect();
        let xb: Vec<u64> = (0..8).map(|_| b.u64()).collect();
        let xc: Vec<u64> = (0..8).map(|_| c.u64()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
    }

    #[test]
    fn draws_stay_in_range() {
        let mut r = Rand::new(1, 0);
        for _ in 0..1000 {
            assert!(r.below(7) < 7);
            let x = r.range(3, 5);
            assert!((3..=5).contains(&x));
            assert!(r.unit() < 1.0);
        }
        assert_eq!(r.below(0), 0);
        assert_eq!(r.weighted(&[0, 0, 5]), 2);
        let u = r.uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
