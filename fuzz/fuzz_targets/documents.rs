//! lookup-events pages, subscription payloads and other documents: every
//! record handed out lies inside the input's offsets; damage is reported,
//! never a panic.
#![no_main]
use denytrail::frame::{Format, documents::{Unwrapped, unwrap}};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for format in [Format::LookupEvents, Format::CwSubscription, Format::Documents] {
        unwrap(data, format, &mut |u| match u {
            Unwrapped::Record { offset, .. } | Unwrapped::Error { offset, .. } => {
                assert!(offset <= data.len() as u64)
            }
            Unwrapped::Skipped => {}
        });
    }
});
