//! Format detection and the line splitter: any bytes, any head length.
#![no_main]
use denytrail::frame::{self, Format, SkipReason};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let whole = frame::detect(data, true);
    let _ = frame::detect(data, false);
    if whole == Format::Skip(SkipReason::Empty) {
        // Only white space (after a byte-order mark) is "empty".
        let body = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        assert!(body.iter().all(u8::is_ascii_whitespace));
    }
    let (rec, at, _) = frame::line_record(data);
    assert!(at + rec.len() <= data.len());
    assert_eq!(&data[at..at + rec.len()], rec);
    assert!(frame::timestamp_len(data) <= data.len());
});
