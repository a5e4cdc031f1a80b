//! The denytrail command line. (Wired by the replay engine work.)
fn main() {}
