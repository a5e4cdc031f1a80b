//! `--stdin`: a blocking thread reads standard input (or any reader, in
//! tests) and feeds the bytes into a bounded channel; a full channel blocks
//! the reader (backpressure). The ingest loop frames them into lines (at the
//! end of input the last line counts even without its newline); the server
//! keeps running.
//!
//! The thread is not joined at shutdown: a blocking read on stdin cannot be
//! interrupted, and nothing it holds needs flushing.

use std::io::{self, Read};
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;

/// What reaches the ingest loop from outside the file tailer (stdin, the
/// CloudWatch followers and the queue followers).
#[derive(Debug)]
pub enum Feed {
    /// Bytes read from stdin.
    Bytes {
        /// Stream offset of `bytes[0]`.
        base: u64,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// A read error on stdin (reading stops).
    Failed {
        /// Stream offset where it happened.
        offset: u64,
        /// Why.
        error: io::Error,
    },
    /// End of input.
    End,
    /// New events (or only a new position) of a followed CloudWatch Logs
    /// log group, forwarded from its follower task.
    CloudWatch(crate::aws::FollowBatch),
    /// A queue message and what it announced, fetched, forwarded from its
    /// queue follower.
    Queue(Box<crate::aws::Delivery>),
    /// Nothing: wakes the loop (shutdown).
    Wake,
}

const CHUNK: usize = 256 * 1024;

/// Start the reader thread.
pub fn spawn<R: Read + Send + 'static>(
    mut reader: R,
    tx: SyncSender<Feed>,
    dispatch: tracing::Dispatch,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("denytrail-stdin".into())
        .spawn(move || {
            let _log = tracing::dispatcher::set_default(&dispatch);
            let mut buf = vec![0u8; CHUNK];
            let mut offset = 0u64;
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        let bytes = buf[..n].to_vec();
                        if tx
                            .send(Feed::Bytes {
                                base: offset,
                                bytes,
                            })
                            .is_err()
                        {
                            return;
                        }
                        offset += n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(error) => {
                        let _ = tx.send(Feed::Failed { offset, error });
                        return;
                    }
                }
            }
            let _ = tx.send(Feed::End);
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeds_bytes_then_end() {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let data: Vec<u8> = (0..100_000)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .chain(*b"last")
            .collect();
        let h = spawn(
            std::io::Cursor::new(data.clone()),
            tx,
            tracing::Dispatch::none(),
        )
        .unwrap();
        let mut got = Vec::new();
        loop {
            match rx.recv().unwrap() {
                Feed::Bytes { base, bytes } => {
                    assert_eq!(base as usize, got.len());
                    got.extend_from_slice(&bytes);
                }
                Feed::End => break,
                other => panic!("{other:?}"),
            }
        }
        h.join().unwrap();
        assert_eq!(got, data);
    }
}
