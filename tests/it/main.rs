//! denytrail's integration tests: one binary that runs the real CLI and real
//! peers (Prometheus, moto) on loopback, each started and stopped by the test.

mod aws;
mod browser;
mod deploy;
mod faultproxy;
mod formats;
mod image;
mod live_queries;
mod messages;
mod moto;
mod page;
mod prom;
mod recovery;
mod replay;
mod util;
mod watch;
mod watch_cloudwatch;
mod watch_http;
mod watch_sqs;
