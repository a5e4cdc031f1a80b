//! Queue message envelopes (S3, SNS, EventBridge, CloudTrail SNS): any body
//! is a list of announcements or a clear error, never a panic; every object
//! announced is a CloudTrail log file.
#![no_main]
use denytrail::aws::notification::{Announced, announced, cloudtrail_key};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &str| {
    if let Ok(all) = announced(body) {
        for a in all {
            if let Announced::Object(o) = a {
                assert!(cloudtrail_key(&o.key).is_ok(), "{o:?}");
            }
        }
    }
});
