//! The ingest side of `watch --sqs`: counts what each queue message
//! delivered ([`crate::aws::Delivery`]) through the same scanner and tally
//! as files, remembers which objects and messages are finished (a window
//! saved in the checkpoint), and answers each message: a counted one is
//! deleted only after a checkpoint holding its counts was written; one
//! that failed is left on the queue at once.
//!
//! Exactly once, per replica: an object counted and checkpointed whose
//! message was not deleted yet (a crash, a failed delete) comes back, is
//! recognised by its bucket, key, ETag and sequencer (or the message by its
//! ID) and is deleted without being counted again. A damaged object is
//! counted once (what could be read, and its errors), and its message is
//! left on the queue each time it comes back, until the queue's redrive
//! policy moves it to the dead-letter queue.
//!
//! Synchronous: called by the ingest loop, which owns it.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use super::tally::{MessagesFrom, Now, Tally};
use crate::aws::metrics::QueueSkip;
use crate::aws::sqs::{message_key, object_key};
use crate::aws::{Ack, AwsMetrics, Delivery, Item};
use crate::input::{InputError, InputErrorKind};
use crate::scan::Scanner;
use crate::source::SourceKind;

/// Finished objects and messages remembered (each a hash and an outcome,
/// saved in the checkpoint). A message comes back after its visibility
/// timeout, a crash or a failed delete; this covers far more messages than
/// one replica holds in flight ([`crate::aws::sqs::MAX_IN_FLIGHT`]).
pub const FINISHED_WINDOW: usize = 20_000;

/// Counted messages waiting for a checkpoint before they are deleted: past
/// this many the ingest loop checkpoints early, so that catching up is not
/// held to one checkpoint interval's worth of messages.
pub const EARLY_CHECKPOINT: usize = crate::aws::sqs::MAX_IN_FLIGHT / 2;

/// How a finished object or message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finished {
    /// Counted whole: delete its message.
    Counted,
    /// Counted as far as it could be read, its damage counted as input
    /// errors: leave its message for the dead-letter queue.
    Damaged,
}

/// The queues' part of the checkpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SavedQueues {
    /// Finished objects and messages (hashes), oldest first.
    pub finished: Vec<(u64, Finished)>,
}

/// The last [`FINISHED_WINDOW`] finished objects and messages.
#[derive(Debug, Default)]
struct Window {
    order: VecDeque<u64>,
    outcome: HashMap<u64, Finished>,
}

impl Window {
    fn get(&self, key: u64) -> Option<Finished> {
        self.outcome.get(&key).copied()
    }

    fn insert(&mut self, key: u64, f: Finished) {
        if self.outcome.insert(key, f).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > FINISHED_WINDOW {
            if let Some(old) = self.order.pop_front() {
                self.outcome.remove(&old);
            }
        }
    }
}

/// What the ingest loop keeps for the queues it follows.
#[derive(Debug)]
pub struct Queues {
    metrics: AwsMetrics,
    /// Per queue name, where its answers go.
    ackers: HashMap<String, UnboundedSender<Ack>>,
    finished: Window,
    /// Counted messages: deleted after the next checkpoint.
    pending: Vec<(String, Ack)>,
    /// Bytes of records read per queue by this process (error offsets).
    offsets: HashMap<String, u64>,
    generation: u64,
}

impl Queues {
    /// Queues answered through `ackers` (one per queue name).
    pub fn new(metrics: AwsMetrics, ackers: HashMap<String, UnboundedSender<Ack>>) -> Queues {
        Queues {
            metrics,
            ackers,
            finished: Window::default(),
            pending: Vec::new(),
            offsets: HashMap::new(),
            generation: 0,
        }
    }

    /// Changes whenever the finished window changes.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Counted messages waiting for a checkpoint.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// What the checkpoint saves.
    pub fn save(&self) -> SavedQueues {
        SavedQueues {
            finished: self
                .finished
                .order
                .iter()
                .filter_map(|k| Some((*k, self.finished.get(*k)?)))
                .collect(),
        }
    }

    /// Take back what a checkpoint saved.
    pub fn restore(&mut self, s: SavedQueues) {
        for (k, f) in s.finished {
            self.finished.insert(k, f);
        }
    }

    /// Count what `d` delivered into `tally` and answer its message: a
    /// message to delete waits for [`Queues::checkpointed`].
    pub fn deliver(&mut self, d: Delivery, tally: &mut Tally, scanner: &Scanner, now: Now) {
        let queue = d.queue.as_str();
        let whole = message_key(queue, &d.message_id);
        let mut leave = false;
        let mut reason = String::new();
        match (&d.items, self.finished.get(whole)) {
            (_, Some(f)) => {
                // The whole message was handled before (a crash or a failed
                // delete after its checkpoint).
                self.metrics.sqs_skipped(queue, QueueSkip::AlreadyCounted);
                leave = f == Finished::Damaged;
                reason = "its objects were damaged (counted once)".into();
            }
            (Err(e), None) => {
                tally.error(InputError {
                    origin: format!("sqs://{queue}/{}", d.message_id),
                    offset: 0,
                    kind: InputErrorKind::InvalidJson,
                    detail: format!("message body: {e}"),
                });
                self.finished.insert(whole, Finished::Damaged);
                leave = true;
                reason = e.to_string();
            }
            (Ok(items), None) => {
                let mut damaged = false;
                for item in items {
                    match self.item(queue, item, tally, scanner, now) {
                        ItemEnd::Counted => {}
                        ItemEnd::Damaged(why) => {
                            damaged = true;
                            leave = true;
                            reason = why;
                        }
                        ItemEnd::Unreadable(why) => {
                            leave = true;
                            reason = why;
                        }
                    }
                }
                // An unreadable object is tried again when the message
                // comes back: the message is not finished.
                if !leave || damaged {
                    let f = if damaged {
                        Finished::Damaged
                    } else {
                        Finished::Counted
                    };
                    self.finished.insert(whole, f);
                }
            }
        }
        self.generation += 1;
        let ack = Ack {
            receipt: d.receipt.clone(),
            delete: !leave,
        };
        if leave {
            self.metrics.sqs_failed(queue);
            tracing::warn!(
                queue,
                message_id = %d.message_id,
                receive_count = d.receive_count,
                "message {} of queue {queue} left on the queue (received {} times): {reason}; \
                 it comes back after its visibility timeout, and goes to the dead-letter queue \
                 past the queue's maxReceiveCount",
                d.message_id,
                d.receive_count
            );
            self.send(queue, ack);
        } else {
            self.pending.push((queue.to_string(), ack));
        }
    }

    /// A checkpoint holding everything counted so far was written (or
    /// there are no checkpoints): delete the counted messages.
    pub fn checkpointed(&mut self) {
        for (queue, ack) in std::mem::take(&mut self.pending) {
            self.send(&queue, ack);
        }
    }

    fn send(&self, queue: &str, ack: Ack) {
        if let Some(tx) = self.ackers.get(queue) {
            // Closed: shutting down; the message comes back to the queue.
            let _ = tx.send(ack);
        }
    }

    fn item(
        &mut self,
        queue: &str,
        item: &Item,
        tally: &mut Tally,
        scanner: &Scanner,
        now: Now,
    ) -> ItemEnd {
        match item {
            Item::Skipped { .. } => ItemEnd::Counted,
            Item::Record(json) => {
                let origin = format!("sqs://{queue}");
                let offset = self.offsets.entry(queue.to_string()).or_insert(0);
                tally.scan_messages(
                    scanner,
                    MessagesFrom {
                        kind: SourceKind::Sqs,
                        source: queue,
                        origin: &origin,
                        base: *offset,
                    },
                    [json.as_bytes()],
                    now,
                );
                *offset += json.len() as u64 + 1;
                ItemEnd::Counted
            }
            Item::Object { object, body } => {
                let key = object_key(object);
                let origin = format!("s3://{}/{}", object.bucket, object.key);
                if let Some(f) = self.finished.get(key) {
                    self.metrics.sqs_skipped(queue, QueueSkip::AlreadyCounted);
                    return match f {
                        Finished::Counted => ItemEnd::Counted,
                        Finished::Damaged => {
                            ItemEnd::Damaged(format!("{origin} is damaged (counted once)"))
                        }
                    };
                }
                let bytes = match body {
                    Ok(b) => b,
                    Err(e) => {
                        tally.error(InputError {
                            origin: origin.clone(),
                            offset: 0,
                            kind: InputErrorKind::Unreadable,
                            detail: format!("announced on queue {queue}, cannot be read: {e}"),
                        });
                        return ItemEnd::Unreadable(format!("{origin} cannot be read: {e}"));
                    }
                };
                let damaged = tally.scan_object(
                    scanner,
                    MessagesFrom {
                        kind: SourceKind::S3,
                        source: queue,
                        origin: &origin,
                        base: 0,
                    },
                    bytes,
                    now,
                );
                if damaged {
                    self.finished.insert(key, Finished::Damaged);
                    ItemEnd::Damaged(format!(
                        "{origin} is damaged (what could be read is counted, the damage is in \
                         denytrail_input_errors_total)"
                    ))
                } else {
                    self.finished.insert(key, Finished::Counted);
                    ItemEnd::Counted
                }
            }
        }
    }
}

/// How one announced item ended.
enum ItemEnd {
    Counted,
    Damaged(String),
    Unreadable(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_forgets_the_oldest_and_keeps_outcomes() {
        let mut w = Window::default();
        for k in 0..(FINISHED_WINDOW as u64 + 10) {
            w.insert(k, Finished::Counted);
        }
        w.insert(5_000, Finished::Damaged);
        assert_eq!(w.order.len(), FINISHED_WINDOW);
        assert_eq!(w.get(3), None);
        assert_eq!(w.get(10), Some(Finished::Counted));
        assert_eq!(w.get(5_000), Some(Finished::Damaged));
        let mut q = Queues::new(AwsMetrics::detached(), HashMap::new());
        q.finished = w;
        let saved: SavedQueues =
            serde_json::from_str(&serde_json::to_string(&q.save()).unwrap()).unwrap();
        let mut back = Queues::new(AwsMetrics::detached(), HashMap::new());
        back.restore(saved);
        assert_eq!(back.finished.order, q.finished.order);
        assert_eq!(back.finished.get(5_000), Some(Finished::Damaged));
    }
}
