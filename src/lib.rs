//! denytrail: find AWS AccessDenied events in CloudTrail and CloudWatch Logs,
//! group them by principal and say how to fix them.
//!
//! Data flows one way:
//! source → [`decode`] → [`frame`] → [`prefilter`] → [`classify`] →
//! [`aggregate`] → [`hints`] → sinks ([`report`], metrics).
#![deny(missing_docs)]

pub mod aggregate;
pub mod aws;
pub mod classify;
pub mod decode;
pub mod events;
pub mod frame;
pub mod generate;
pub mod hints;
pub mod input;
pub mod metrics;
pub mod prefilter;
pub mod replay;
pub mod report;
pub mod scan;
pub mod scope;
pub mod watch;
