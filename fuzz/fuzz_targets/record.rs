//! The record classifier, for both kinds of record; and the fast field
//! pass against serde_json alone, which must classify every input alike.
#![no_main]
use denytrail::classify::record::{classify_json, classify_json_serde};
use denytrail::classify::{RecordKind, classify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for kind in [RecordKind::CloudTrailJson, RecordKind::Text] {
        if let Ok(o) = classify(data, kind) {
            let _ = format!("{o:?}");
        }
    }
    assert_eq!(classify_json(data), classify_json_serde(data));
});
