//! The watch checkpoint: any bytes are a checkpoint, a clear error, never a
//! panic; a checkpoint that parses restores into a tally and a tailer.
#![no_main]
use std::path::Path;
use std::sync::{Arc, LazyLock};

use denytrail::metrics::Metrics;
use denytrail::watch::checkpoint::parse;
use denytrail::watch::series::SeriesTable;
use denytrail::watch::tail::{Look, TailOptions, Tailer};
use denytrail::watch::tally::{Now, Tally};
use libfuzzer_sys::fuzz_target;

static METRICS: LazyLock<Arc<Metrics>> = LazyLock::new(|| Arc::new(Metrics::new().unwrap()));

fuzz_target!(|data: &[u8]| {
    let Ok(c) = parse(Path::new("fuzz/checkpoint.json"), data) else {
        return;
    };
    let mut tally = Tally::new(
        METRICS.clone(),
        SeriesTable::new(100, None),
        1000,
        10,
        "fuzz".to_string(),
    );
    tally.restore(c.tally, Now::system());
    let _ = tally.report().to_json();
    let mut tailer = Tailer::new(Vec::new(), TailOptions::default());
    tailer.restore(c.files);
    tailer.poll(Look::All, &mut |_| {});
});
