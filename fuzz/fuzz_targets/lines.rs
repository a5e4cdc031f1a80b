//! The line framer: fed in arbitrary pieces, it hands out exactly what it
//! hands out when fed at once; every line but the last ends with `\n`, none
//! is longer than the cap, and the offsets add up.
#![no_main]
use denytrail::frame::lines::{Framed, LineBuffer};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, PartialEq)]
enum Got {
    Line(u64, Vec<u8>),
    Oversized(u64),
}

fn frame(data: &[u8], cap: usize, cuts: &[usize]) -> (Vec<Got>, u64) {
    let mut b = LineBuffer::new(7, cap);
    let mut got = Vec::new();
    let mut on = |f: Framed<'_>| match f {
        Framed::Lines { base, bytes } => {
            let mut at = base;
            for l in bytes.split_inclusive(|&c| c == b'\n') {
                got.push(Got::Line(at, l.to_vec()));
                at += l.len() as u64;
            }
        }
        Framed::Oversized { offset } => got.push(Got::Oversized(offset)),
    };
    let mut prev = 0;
    for &c in cuts.iter().chain(std::iter::once(&data.len())) {
        let c = c.clamp(prev, data.len());
        b.push(&data[prev..c], &mut on);
        assert!(b.consumed() <= 7 + c as u64);
        prev = c;
    }
    b.finish(&mut on);
    (got, b.consumed())
}

fuzz_target!(|input: (u8, Vec<u16>, &[u8])| {
    let (cap, cuts, data) = input;
    let cap = usize::from(cap).max(1);
    let mut cuts: Vec<usize> = cuts.into_iter().map(usize::from).collect();
    cuts.sort_unstable();
    let whole = frame(data, cap, &[]);
    assert_eq!(whole, frame(data, cap, &cuts));
    assert_eq!(whole.1, 7 + data.len() as u64);
    let n = whole.0.len();
    for (k, g) in whole.0.iter().enumerate() {
        if let Got::Line(at, l) = g {
            let at = (*at - 7) as usize;
            assert_eq!(&data[at..at + l.len()], &l[..]);
            let content = l.strip_suffix(b"\n").unwrap_or(l);
            assert!(content.len() <= cap, "a line over the cap: {}", l.len());
            assert!(k + 1 == n || l.ends_with(b"\n"), "a line without its newline");
        }
    }
});
