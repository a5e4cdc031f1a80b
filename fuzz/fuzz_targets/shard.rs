//! A shard report read back by `merge`: any bytes are a report, a clear
//! error, never a panic.
#![no_main]
use std::path::PathBuf;

use denytrail::merge::ShardReport;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(r) = serde_json::from_slice::<ShardReport>(data) else {
        return;
    };
    if let Ok(run) = denytrail::merge::merge(vec![(PathBuf::from("fuzz/s0.json"), r)]) {
        let _ = run.write_json(&mut Vec::new());
        let _ = run.to_table(5);
        let _ = run.to_markdown(5);
    }
});
