//! denytrail's integration tests: one binary that runs the real CLI and real
//! peers (Prometheus, moto) on loopback, each started and stopped by the test.

mod deploy;
mod replay;
mod util;
