//! The whole scan, as replay runs it on one file: decode, detect, frame,
//! prefilter, classify. Every error names an offset inside the stream.
#![no_main]
use std::io::Cursor;
use std::sync::LazyLock;

use denytrail::scan::{ScanEvent, Scanner};
use denytrail::scope::Scope;
use libfuzzer_sys::fuzz_target;

static SCANNER: LazyLock<Scanner> = LazyLock::new(|| {
    Scanner::builder()
        .scope(Scope::parse("all").unwrap())
        .max_record(1 << 16)
        .max_inflated(1 << 22)
        .chunk(1 << 12)
        .build()
        .unwrap()
});

fuzz_target!(|data: &[u8]| {
    let limit = (data.len() as u64).max(1 << 22);
    SCANNER.scan_stream(Cursor::new(data), "fuzz", &mut |e| {
        if let ScanEvent::Error(e) = e {
            assert!(e.offset <= limit, "{e:?}");
        }
    });
});
