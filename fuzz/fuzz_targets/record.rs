//! The record classifier, for both kinds of record.
#![no_main]
use denytrail::classify::{RecordKind, classify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for kind in [RecordKind::CloudTrailJson, RecordKind::Text] {
        if let Ok(o) = classify(data, kind) {
            let _ = format!("{o:?}");
        }
    }
});
