//! The AWS error message parser and the text-line classifier.
#![no_main]
use denytrail::classify::message::{classify_text_line, leading_timestamp, parse_message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let p = parse_message(s);
        let _ = format!("{p:?}");
        let _ = leading_timestamp(s);
    }
    let _ = classify_text_line(data);
});
