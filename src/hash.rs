//! The hashes denytrail persists or compares across processes, written
//! once. Both are fixed algorithms, so their values never change with the
//! Rust version, the platform or the run:
//! - [`fnv1a`]: shard assignment of input keys (`--shard I/N`, promised
//!   stable) and the fingerprint of a followed file's first line (saved in
//!   checkpoints);
//! - [`stable`]: XXH3-64, fast on short strings, for what is hashed per
//!   denial: the dedup key of an event (`eventID` / `sharedEventID`) and the
//!   values of a group's bounded lists.

/// FNV-1a, 64 bits.
///
/// ```
/// assert_eq!(denytrail::hash::fnv1a(b""), 0xcbf29ce484222325);
/// ```
pub fn fnv1a(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h ^= u64::from(x);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// XXH3, 64 bits, seed 0.
///
/// ```
/// // The value fixed by the XXH3 specification for the empty input.
/// assert_eq!(denytrail::hash::stable(b""), 0x2d06800538d394c2);
/// ```
#[inline]
pub fn stable(b: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(b)
}
