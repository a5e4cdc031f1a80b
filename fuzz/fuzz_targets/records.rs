//! The `{"Records":[…]}` framer: the AVX2 and portable block classifiers
//! agree, and every record it hands out is a `{…}` span inside the buffer,
//! in order, not overlapping.
#![no_main]
use denytrail::frame::records::{FrameEvent, RecordsFramer};
use libfuzzer_sys::fuzz_target;

fn events(data: &[u8], portable: bool) -> Vec<FrameEvent> {
    let mut f = RecordsFramer::new();
    let mut ev = Vec::new();
    if portable {
        f.feed_portable(data, 0, &mut |e| ev.push(e));
    } else {
        f.feed(data, 0, &mut |e| ev.push(e));
    }
    ev
}

fuzz_target!(|data: &[u8]| {
    let fast = events(data, false);
    assert_eq!(fast, events(data, true));
    let mut last_end = 0;
    for e in fast {
        if let FrameEvent::Record { start, end } = e {
            assert!(start >= last_end && start < end && end <= data.len());
            assert_eq!((data[start], data[end - 1]), (b'{', b'}'));
            last_end = end;
        }
    }
});
