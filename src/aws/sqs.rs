//! A live source for `watch`: an SQS queue that announces new CloudTrail
//! objects (S3 event notifications, straight or through SNS, and
//! EventBridge events), and the objects themselves, read from S3.
//!
//! A [`QueueFollower`] receives messages (long polling, ten at a time),
//! reads what each announces ([`super::notification`]), downloads every
//! announced object whole, and hands each message out as a [`Delivery`]:
//! bytes and records with their origin, nothing scanned. The consumer
//! counts them and answers each message with an [`Ack`]: delete it (after
//! its counts are checkpointed), or leave it on the queue, whose redrive
//! policy moves it to the dead-letter queue once it has been received too
//! often. Until it is answered the follower keeps every message it
//! received invisible to other consumers (`ChangeMessageVisibility`), so a
//! large object read slowly, or a count waiting for its checkpoint, is not
//! read by a second replica too. On shutdown the messages not answered are
//! made visible again at once, for another replica to take.
//!
//! Memory: at most [`MAX_IN_FLIGHT`] messages per queue are held between
//! receipt and acknowledgement (a receipt handle and two times each); the
//! objects downloaded and not yet counted hold at most [`BUFFER_BYTES`] as
//! stored (a message whose objects are larger than that takes the whole
//! budget alone), none over [`MAX_OBJECT`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageSystemAttributeName, QueueAttributeName,
};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::backoff::{Backoff, Call};
use super::error::{AwsError, Needs};
use super::metrics::{AwsMetrics, QueueSkip};
use super::notification::{self, Announced, EnvelopeError, ObjectRef, Skip};

/// Messages held per queue between receipt and acknowledgement, at most.
/// A counted message waits for the next checkpoint before it is deleted,
/// so this also bounds how many messages one checkpoint interval handles.
pub const MAX_IN_FLIGHT: usize = 400;
/// Bytes of downloaded objects (as stored) waiting to be counted, per
/// queue, at most.
pub const BUFFER_BYTES: u64 = 128 << 20;
/// The largest object read (as stored); CloudTrail writes files of a few
/// MB at most. A larger one is an input error.
pub const MAX_OBJECT: u64 = 1 << 30;
/// Messages whose objects are downloaded at once, per queue.
const DOWNLOADS: usize = 16;
/// Messages received but not yet handed to the consumer, per queue, at
/// most: enough to keep the downloads busy. Receiving far ahead of what
/// is read would hold messages invisible that another replica could read
/// now, and give the visibility extensions more to do.
const PREFETCH: usize = 4 * DOWNLOADS;
/// Messages per ReceiveMessage (the API's maximum).
const BATCH: usize = 10;
/// The policy file granting what this source needs.
const POLICY: &str = "watch-sqs.json";
/// Permits of the byte budget are KiB (a semaphore counts in `u32`).
const KIB: u64 = 1024;

/// A queue to follow, from its URL
/// (`https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    /// The URL, as given.
    pub url: String,
    /// The queue name (the URL's last segment): the `queue` label.
    pub name: String,
    /// `arn:aws:sqs:REGION:ACCOUNT:NAME`, with `*` for what the URL does
    /// not say.
    pub arn: String,
}

impl QueueSpec {
    /// Parse a queue URL.
    ///
    /// ```
    /// use denytrail::aws::sqs::QueueSpec;
    /// let q = QueueSpec::parse("https://sqs.eu-west-1.amazonaws.com/111122223333/trail-events").unwrap();
    /// assert_eq!(q.name, "trail-events");
    /// assert_eq!(q.arn, "arn:aws:sqs:eu-west-1:111122223333:trail-events");
    /// assert!(QueueSpec::parse("trail-events").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<QueueSpec, AwsError> {
        let bad = || {
            AwsError::Config(format!(
                "--sqs {url:?}: expected a queue URL, https://sqs.REGION.amazonaws.com/ACCOUNT/NAME \
                 (`aws sqs get-queue-url --queue-name NAME` prints it)"
            ))
        };
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(bad)?;
        let (host, path) = rest.split_once('/').ok_or_else(bad)?;
        let mut parts = path.trim_end_matches('/').split('/');
        let (account, name) = match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(n), None) if !a.is_empty() && !n.is_empty() => (a, n),
            _ => return Err(bad()),
        };
        let valid = name.len() <= 80
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if host.is_empty() || !valid || host.contains(['?', '#', ' ']) {
            return Err(bad());
        }
        let region = host
            .strip_prefix("sqs.")
            .and_then(|h| h.split('.').next())
            .filter(|r| !r.is_empty())
            .unwrap_or("*");
        Ok(QueueSpec {
            url: url.to_string(),
            name: name.to_string(),
            arn: format!("arn:aws:sqs:{region}:{account}:{name}"),
        })
    }
}

/// Knobs of a [`QueueFollower`].
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// The queue.
    pub spec: QueueSpec,
    /// Long-poll wait per ReceiveMessage (at most 20 s).
    pub wait: Duration,
    /// How long a received message stays invisible to other consumers;
    /// extended while it is being handled.
    pub visibility: Duration,
    /// Retry settings.
    pub backoff: Backoff,
}

impl QueueConfig {
    /// The defaults for `spec`: 20 s long polls, 60 s visibility, the
    /// default retries.
    pub fn new(spec: QueueSpec) -> QueueConfig {
        QueueConfig {
            spec,
            wait: Duration::from_secs(20),
            visibility: Duration::from_secs(60),
            backoff: Backoff::default(),
        }
    }
}

/// One thing a message announced, fetched.
#[derive(Debug)]
pub enum Item {
    /// A CloudTrail object and its bytes as stored (or why they could not
    /// be read).
    Object {
        /// What the message named.
        object: ObjectRef,
        /// The object's bytes.
        body: Result<bytes::Bytes, AwsError>,
    },
    /// A CloudTrail record (EventBridge delivered it), JSON.
    Record(String),
    /// Something not read.
    Skipped {
        /// What it named.
        what: String,
        /// Why.
        why: Skip,
    },
}

/// One received message, with everything it announced fetched. Holds its
/// share of the queue's download budget until it is dropped.
#[derive(Debug)]
pub struct Delivery {
    /// The queue's name.
    pub queue: String,
    /// The message ID.
    pub message_id: String,
    /// The handle to acknowledge it with.
    pub receipt: String,
    /// How often the queue has handed it out (this time included).
    pub receive_count: u32,
    /// What it announced, or why its body announces nothing.
    pub items: Result<Vec<Item>, EnvelopeError>,
    /// The bytes of its objects, reserved in the queue's budget.
    _budget: Option<OwnedSemaphorePermit>,
}

/// What to do with a handed-out message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// Its receipt handle.
    pub receipt: String,
    /// Delete it (counted, or nothing to count); otherwise leave it for
    /// redelivery and, at last, the dead-letter queue.
    pub delete: bool,
}

/// A message between receipt and acknowledgement.
#[derive(Debug)]
struct InFlight {
    /// When it was sent to the queue (Unix milliseconds).
    sent_ms: Option<i64>,
    /// When its visibility was last set.
    since: Instant,
    /// Counted and checkpointed: to delete (again, after a failed delete).
    delete: bool,
    /// Handed to the consumer (its objects fetched).
    handed: bool,
}

/// State shared by the receiving and the acknowledging task.
#[derive(Debug)]
struct Shared {
    sqs: aws_sdk_sqs::Client,
    s3: aws_sdk_s3::Client,
    cfg: QueueConfig,
    metrics: AwsMetrics,
    flight: Mutex<HashMap<String, InFlight>>,
    freed: Notify,
    downloads: Arc<Semaphore>,
    budget: Arc<Semaphore>,
}

/// Follows one queue: [`QueueFollower::receive`] and
/// [`QueueFollower::acknowledge`] run as two tasks over shared state.
#[derive(Debug, Clone)]
pub struct QueueFollower {
    shared: Arc<Shared>,
}

/// A message as received, before its objects are fetched.
struct Received {
    message_id: String,
    receipt: String,
    receive_count: u32,
    body: String,
}

impl QueueFollower {
    /// A follower of `cfg.spec`.
    pub fn new(
        sqs: aws_sdk_sqs::Client,
        s3: aws_sdk_s3::Client,
        cfg: QueueConfig,
        metrics: AwsMetrics,
    ) -> QueueFollower {
        metrics.sqs_queue(&cfg.spec.name);
        QueueFollower {
            shared: Arc::new(Shared {
                sqs,
                s3,
                cfg,
                metrics,
                flight: Mutex::new(HashMap::new()),
                freed: Notify::new(),
                downloads: Arc::new(Semaphore::new(DOWNLOADS)),
                budget: Arc::new(Semaphore::new((BUFFER_BYTES / KIB) as usize)),
            }),
        }
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.shared.cfg.spec.name
    }

    /// Look at the queue once (`GetQueueAttributes`): that it exists and
    /// can be read, and whether it has a redrive policy. A queue without
    /// one keeps a message that cannot be counted until its retention
    /// period ends: said once, as a warning.
    pub async fn check(&self) -> Result<(), AwsError> {
        let s = &self.shared;
        let out = s
            .call("GetQueueAttributes", "sqs:GetQueueAttributes")
            .run(|| {
                s.sqs
                    .get_queue_attributes()
                    .queue_url(&s.cfg.spec.url)
                    .attribute_names(QueueAttributeName::RedrivePolicy)
                    .attribute_names(QueueAttributeName::VisibilityTimeout)
                    .send()
            })
            .await?;
        let attrs = out.attributes.unwrap_or_default();
        if !attrs.contains_key(&QueueAttributeName::RedrivePolicy) {
            tracing::warn!(
                queue = %s.cfg.spec.name,
                "queue {} has no redrive policy: a message whose object cannot be read stays \
                 on the queue, received again and again, until its retention period ends; give \
                 it a dead-letter queue (RedrivePolicy maxReceiveCount)",
                s.cfg.spec.name
            );
        }
        Ok(())
    }

    /// Receive until `shutdown`, handing deliveries to `out`. Failures are
    /// logged (with the permission to grant when denied) and receiving
    /// goes on after a pause: the queue keeps the messages.
    pub async fn receive(self, shutdown: CancellationToken, out: mpsc::Sender<Delivery>) {
        let s = &self.shared;
        let mut failures = 0u32;
        let mut fetching = tokio::task::JoinSet::new();
        while !shutdown.is_cancelled() {
            while fetching.try_join_next().is_some() {}
            // Hold at most MAX_IN_FLIGHT messages, PREFETCH of them not
            // handed out yet.
            loop {
                let freed = s.freed.notified();
                let room = {
                    let flight = s.lock();
                    let waiting = flight.values().filter(|m| !m.handed).count();
                    flight.len() + BATCH <= MAX_IN_FLIGHT && waiting + BATCH <= PREFETCH
                };
                if room {
                    break;
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = freed => {}
                }
            }
            let got = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = s.receive_batch() => r,
            };
            let received = match got {
                Ok(m) => {
                    failures = 0;
                    m
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let pause = s
                        .cfg
                        .backoff
                        .delay(failures.min(8), u64::MAX)
                        .max(s.cfg.backoff.base);
                    tracing::error!(queue = %s.cfg.spec.name, "{e}; receiving again in {pause:?}");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(pause) => {}
                    }
                    continue;
                }
            };
            s.set_lag();
            for m in received {
                let (me, out) = (self.clone(), out.clone());
                fetching.spawn(async move {
                    let d = me.shared.clone().fetch(m).await;
                    let receipt = d.receipt.clone();
                    // The consumer is gone: shutting down.
                    let _ = out.send(d).await;
                    if let Some(m) = me.shared.lock().get_mut(&receipt) {
                        m.handed = true;
                    }
                    me.shared.freed.notify_waiters();
                });
            }
        }
    }

    /// Answer handed-out messages as `acks` says, and keep the others
    /// invisible, until `acks` closes (the consumer is gone). Then, within
    /// `last`, the messages still to delete are deleted and the others made
    /// visible again for other consumers.
    pub async fn acknowledge(self, mut acks: mpsc::UnboundedReceiver<Ack>, last: Duration) {
        let s = &self.shared;
        let every = (s.cfg.visibility / 3).max(Duration::from_millis(200));
        let ticker = || {
            let mut t = tokio::time::interval((every / 2).max(Duration::from_millis(100)));
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        };
        let answering = async {
            let mut retry = ticker();
            loop {
                tokio::select! {
                    a = acks.recv() => {
                        let Some(first) = a else { break };
                        let mut batch = vec![first];
                        while let Ok(a) = acks.try_recv() {
                            batch.push(a);
                        }
                        s.answer(batch).await;
                    }
                    _ = retry.tick() => {
                        s.delete_pending().await;
                        s.set_lag();
                    }
                }
            }
        };
        // Visibility is kept on its own schedule, beside the deletes: a
        // slow or stalled DeleteMessageBatch must never hold it up, or a
        // message counted here would become visible and be counted by
        // another replica too.
        let extending = async {
            let mut tick = ticker();
            loop {
                tick.tick().await;
                s.extend(every).await;
                s.set_lag();
            }
        };
        tokio::select! {
            _ = answering => {}
            _ = extending => {}
        }
        let end = async {
            s.delete_pending().await;
            s.release_all().await;
        };
        if tokio::time::timeout(last, end).await.is_err() {
            tracing::warn!(
                queue = %s.cfg.spec.name,
                "stopped before every message held was answered: those come back to the \
                 queue after their visibility timeout"
            );
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, InFlight>> {
        self.flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn call(&self, operation: &'static str, permission: &'static str) -> Call<'_> {
        Call {
            operation,
            target: &self.cfg.spec.url,
            needs: Needs {
                permission,
                resource: self.cfg.spec.arn.clone(),
                policy: POLICY,
            },
            limiter: None,
            backoff: self.cfg.backoff,
            metrics: &self.metrics,
        }
    }

    /// Receive up to ten messages and hold them in flight.
    async fn receive_batch(&self) -> Result<Vec<Received>, AwsError> {
        let out = self
            .call("ReceiveMessage", "sqs:ReceiveMessage")
            .run(|| {
                self.sqs
                    .receive_message()
                    .queue_url(&self.cfg.spec.url)
                    .max_number_of_messages(BATCH as i32)
                    .wait_time_seconds(secs(self.cfg.wait).min(20))
                    .visibility_timeout(secs(self.cfg.visibility))
                    .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
                    .message_system_attribute_names(
                        MessageSystemAttributeName::ApproximateReceiveCount,
                    )
                    .send()
            })
            .await?;
        let messages = out.messages.unwrap_or_default();
        self.metrics
            .sqs_received(&self.cfg.spec.name, messages.len() as u64);
        let mut flight = self.lock();
        let mut received = Vec::with_capacity(messages.len());
        for m in messages {
            let attr = |a: MessageSystemAttributeName| {
                m.attributes.as_ref().and_then(|x| x.get(&a)).cloned()
            };
            let sent_ms =
                attr(MessageSystemAttributeName::SentTimestamp).and_then(|s| s.parse::<i64>().ok());
            let receive_count = attr(MessageSystemAttributeName::ApproximateReceiveCount)
                .and_then(|s| s.parse::<u32>().ok())
                .unwrap_or(1);
            let Some(receipt) = m.receipt_handle else {
                continue;
            };
            flight.insert(
                receipt.clone(),
                InFlight {
                    sent_ms,
                    since: Instant::now(),
                    delete: false,
                    handed: false,
                },
            );
            received.push(Received {
                message_id: m.message_id.unwrap_or_default(),
                receipt,
                receive_count,
                body: m.body.unwrap_or_default(),
            });
        }
        Ok(received)
    }

    /// Read what a message announces and download its objects: every
    /// object's headers first, then the bytes of all of them reserved in
    /// the budget at once (so two messages never wait on each other's
    /// share), then their bodies.
    async fn fetch(self: Arc<Self>, m: Received) -> Delivery {
        let mut d = Delivery {
            queue: self.cfg.spec.name.clone(),
            message_id: m.message_id,
            receipt: m.receipt,
            receive_count: m.receive_count,
            items: Err(EnvelopeError::Unknown),
            _budget: None,
        };
        let announced = match notification::announced(&m.body) {
            Ok(a) => a,
            Err(e) => {
                d.items = Err(e);
                return d;
            }
        };
        let _slot = self.downloads.clone().acquire_owned().await.ok();
        let mut opened = Vec::with_capacity(announced.len());
        for a in &announced {
            if let Announced::Object(o) = a {
                opened.push(self.open(o).await);
            }
        }
        let need: u64 = opened
            .iter()
            .filter_map(|g| g.as_ref().ok())
            .map(|g| g.content_length.unwrap_or(0).max(0) as u64)
            .sum();
        let permits = need.div_ceil(KIB).min(BUFFER_BYTES / KIB) as u32;
        d._budget = self.budget.clone().acquire_many_owned(permits).await.ok();
        let mut opened = opened.into_iter();
        let mut items = Vec::with_capacity(announced.len());
        for a in announced {
            items.push(match a {
                Announced::Object(object) => {
                    let first = opened.next().unwrap_or_else(|| {
                        Err(AwsError::Config("internal: object not opened".into()))
                    });
                    let body = self.download(&object, first).await;
                    Item::Object { object, body }
                }
                Announced::Record(r) => Item::Record(r),
                Announced::Skipped { what, why } => {
                    self.metrics
                        .sqs_skipped(&self.cfg.spec.name, QueueSkip::Announced(why));
                    Item::Skipped { what, why }
                }
            });
        }
        d.items = Ok(items);
        d
    }

    fn get_call<'a>(&'a self, o: &ObjectRef, target: &'a str) -> Call<'a> {
        Call {
            operation: "GetObject",
            target,
            needs: Needs {
                permission: "s3:GetObject",
                resource: format!("arn:aws:s3:::{}/{}", o.bucket, o.key),
                policy: POLICY,
            },
            limiter: None,
            backoff: self.cfg.backoff,
            metrics: &self.metrics,
        }
    }

    /// GetObject, retried; the body is not read yet.
    async fn open(
        &self,
        o: &ObjectRef,
    ) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, AwsError> {
        let target = super::s3::s3_target(&o.bucket, &o.key);
        let got = self
            .get_call(o, &target)
            .run(|| self.s3.get_object().bucket(&o.bucket).key(&o.key).send())
            .await?;
        let size = got.content_length.unwrap_or(0).max(0) as u64;
        if size > MAX_OBJECT {
            return Err(AwsError::Api {
                operation: "GetObject",
                target,
                code: "TooLarge".into(),
                message: format!(
                    "the object holds {size} bytes, over the {MAX_OBJECT}-byte limit of one object"
                ),
            });
        }
        Ok(got)
    }

    /// Read an opened object's body; a body cut off on the way is asked
    /// for again, as many times as a failed call is retried.
    async fn download(
        &self,
        o: &ObjectRef,
        first: Result<aws_sdk_s3::operation::get_object::GetObjectOutput, AwsError>,
    ) -> Result<bytes::Bytes, AwsError> {
        let mut got = first?;
        let mut attempt = 1u32;
        loop {
            match got.body.collect().await {
                Ok(body) => {
                    let bytes = body.into_bytes();
                    self.metrics
                        .sqs_object_read(&self.cfg.spec.name, bytes.len() as u64);
                    return Ok(bytes);
                }
                Err(e) if attempt < self.cfg.backoff.max_attempts.max(1) => {
                    let pause = self
                        .cfg
                        .backoff
                        .delay(attempt - 1, super::backoff::jitter_random());
                    tracing::warn!(
                        queue = %self.cfg.spec.name,
                        "reading s3://{}/{} was cut off ({e}); reading it again in {pause:?}",
                        o.bucket,
                        o.key
                    );
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                    got = self.open(o).await?;
                }
                Err(e) => {
                    return Err(AwsError::Exhausted {
                        operation: "GetObject",
                        target: super::s3::s3_target(&o.bucket, &o.key),
                        attempts: attempt,
                        last: format!("reading the body failed: {e}"),
                    });
                }
            }
        }
    }

    /// Delete or release the acknowledged messages.
    async fn answer(&self, acks: Vec<Ack>) {
        {
            let mut flight = self.lock();
            for a in acks {
                if a.delete {
                    if let Some(m) = flight.get_mut(&a.receipt) {
                        m.delete = true;
                    }
                } else {
                    // Left to become visible again when its visibility
                    // runs out: the queue's own backoff.
                    flight.remove(&a.receipt);
                }
            }
        }
        self.freed.notify_waiters();
        self.delete_pending().await;
        self.set_lag();
    }

    /// Delete every message marked for deletion; one that fails stays
    /// marked (and invisible) and is tried again at the next tick.
    async fn delete_pending(&self) {
        let due: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, m)| m.delete)
            .map(|(r, _)| r.clone())
            .collect();
        for chunk in due.chunks(BATCH) {
            let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .build()
                        .ok()
                })
                .collect();
            let r = self
                .call("DeleteMessageBatch", "sqs:DeleteMessage")
                .run(|| {
                    self.sqs
                        .delete_message_batch()
                        .queue_url(&self.cfg.spec.url)
                        .set_entries(Some(entries.clone()))
                        .send()
                })
                .await;
            let out = match r {
                Ok(out) => out,
                Err(e) => {
                    tracing::warn!(
                        queue = %self.cfg.spec.name,
                        "{e}; the counted messages stay invisible and are deleted at the next try"
                    );
                    continue;
                }
            };
            let mut flight = self.lock();
            for ok in &out.successful {
                if let Some(r) = ok.id.parse::<usize>().ok().and_then(|i| chunk.get(i)) {
                    flight.remove(r);
                }
            }
            for f in &out.failed {
                tracing::warn!(
                    queue = %self.cfg.spec.name,
                    code = %f.code,
                    "cannot delete a counted message ({}); trying again",
                    f.message.as_deref().unwrap_or("no message")
                );
                if !f.sender_fault {
                    continue;
                }
                // A receipt the queue no longer knows (the message went
                // back to the queue): nothing left to delete with it.
                if let Some(r) = f.id.parse::<usize>().ok().and_then(|i| chunk.get(i)) {
                    flight.remove(r);
                }
            }
            drop(flight);
            self.metrics
                .sqs_deleted(&self.cfg.spec.name, out.successful.len() as u64);
            self.freed.notify_waiters();
        }
    }

    /// Extend the visibility of every message held for longer than `every`.
    async fn extend(&self, every: Duration) {
        let due: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, m)| m.since.elapsed() >= every)
            .map(|(r, _)| r.clone())
            .collect();
        self.change_visibility(&due, self.cfg.visibility).await;
    }

    /// Make every message still held visible again (shutting down).
    async fn release_all(&self) {
        let held: Vec<String> = self.lock().drain().map(|(r, _)| r).collect();
        self.change_visibility(&held, Duration::ZERO).await;
        self.set_lag();
    }

    async fn change_visibility(&self, receipts: &[String], to: Duration) {
        for chunk in receipts.chunks(BATCH) {
            let entries: Vec<ChangeMessageVisibilityBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .visibility_timeout(secs(to))
                        .build()
                        .ok()
                })
                .collect();
            let r = self
                .call("ChangeMessageVisibility", "sqs:ChangeMessageVisibility")
                .run(|| {
                    self.sqs
                        .change_message_visibility_batch()
                        .queue_url(&self.cfg.spec.url)
                        .set_entries(Some(entries.clone()))
                        .send()
                })
                .await;
            match r {
                Ok(out) => {
                    let mut flight = self.lock();
                    for ok in &out.successful {
                        if let Some(m) = ok
                            .id
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| chunk.get(i))
                            .and_then(|r| flight.get_mut(r))
                        {
                            m.since = Instant::now();
                        }
                    }
                    for f in &out.failed {
                        // One deleted meanwhile needs no visibility.
                        let held =
                            f.id.parse::<usize>()
                                .ok()
                                .and_then(|i| chunk.get(i))
                                .is_some_and(|r| flight.contains_key(r));
                        if held {
                            tracing::warn!(
                                queue = %self.cfg.spec.name,
                                code = %f.code,
                                "cannot change the visibility of a message being handled ({}): \
                                 another consumer may receive it too",
                                f.message.as_deref().unwrap_or("no message")
                            );
                        }
                    }
                }
                Err(e) => tracing::warn!(queue = %self.cfg.spec.name, "{e}"),
            }
        }
    }

    /// The lag gauge: age of the oldest message held.
    fn set_lag(&self) {
        let now = chrono::Utc::now().timestamp_millis();
        let oldest = self
            .lock()
            .values()
            .filter_map(|m| m.sent_ms)
            .min()
            .map_or(0.0, |sent| (now - sent).max(0) as f64 / 1000.0);
        self.metrics.sqs_lag(&self.cfg.spec.name, oldest);
    }
}

fn secs(d: Duration) -> i32 {
    d.as_secs().clamp(0, i32::MAX as u64) as i32
}

/// The key an object is remembered by once counted: bucket, key, ETag and
/// sequencer (a new version of a key is a new object).
pub fn object_key(o: &ObjectRef) -> u64 {
    let mut s = String::with_capacity(o.bucket.len() + o.key.len() + 64);
    for part in [
        "object",
        o.bucket.as_str(),
        o.key.as_str(),
        o.etag.as_deref().unwrap_or(""),
        o.sequencer.as_deref().unwrap_or(""),
    ] {
        s.push_str(part);
        s.push('\0');
    }
    crate::hash::stable(s.as_bytes())
}

/// The key a whole message is remembered by once handled: its queue and
/// message ID (a message received again keeps its ID).
pub fn message_key(queue: &str, message_id: &str) -> u64 {
    let s = format!("message\0{queue}\0{message_id}\0");
    crate::hash::stable(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls_parse() {
        let q = QueueSpec::parse("http://127.0.0.1:5000/123456789012/ct-events/").unwrap();
        assert_eq!(q.name, "ct-events");
        assert_eq!(q.arn, "arn:aws:sqs:*:123456789012:ct-events");
        for bad in [
            "ct-events",
            "https://sqs.us-east-1.amazonaws.com/ct-events",
            "https://sqs.us-east-1.amazonaws.com/1/a/b",
            "https://sqs.us-east-1.amazonaws.com/1/bad name",
            "https:///1/q",
            "ftp://x/1/q",
        ] {
            assert!(QueueSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_new_version_of_a_key_is_a_new_object() {
        let o = ObjectRef {
            bucket: "b".into(),
            key: "AWSLogs/1/CloudTrail/x.json.gz".into(),
            size: Some(3),
            etag: Some("e1".into()),
            sequencer: Some("0A".into()),
        };
        let again = ObjectRef {
            size: None,
            ..o.clone()
        };
        let newer = ObjectRef {
            etag: Some("e2".into()),
            sequencer: Some("0B".into()),
            ..o.clone()
        };
        assert_eq!(object_key(&o), object_key(&again));
        assert_ne!(object_key(&o), object_key(&newer));
        // Parts cannot run into each other.
        let shifted = ObjectRef {
            bucket: "bA".into(),
            key: "WSLogs/1/CloudTrail/x.json.gz".into(),
            ..o.clone()
        };
        assert_ne!(object_key(&o), object_key(&shifted));
        assert_ne!(message_key("q", "m1"), message_key("q", "m2"));
        assert_ne!(message_key("q", "m1"), message_key("r", "m1"));
    }
}
