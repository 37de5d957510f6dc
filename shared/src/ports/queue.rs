//! Job queue port (SQS semantics): at-least-once delivery with a visibility timeout; a job
//! that fails (`nack`, or never acknowledged) is delivered again, and after `max_receives`
//! deliveries it is moved to the queue's dead-letter queue instead.

use async_trait::async_trait;

/// A queue's logical name, `[a-z0-9-]{1,40}`; the adapters map it to a real queue.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QueueName(String);

impl QueueName {
    pub fn parse(s: &str) -> Result<Self, QueueError> {
        if !s.is_empty()
            && s.len() <= 40
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            Ok(QueueName(s.to_owned()))
        } else {
            Err(QueueError::InvalidName)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The longest delay a job can be enqueued with (SQS's limit).
pub const MAX_DELAY_SECS: u32 = 900;

/// One delivery of a job.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub message_id: String,
    pub body: Vec<u8>,
    /// Identifies this delivery for `ack`/`nack`.
    pub receipt: String,
    /// How many times the job has been delivered, this one included.
    pub receive_count: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("invalid queue name")]
    InvalidName,
    #[error("a delay must be at most {MAX_DELAY_SECS} seconds")]
    InvalidDelay,
    #[error("no such queue")]
    NoSuchQueue,
    #[error("the receipt is not valid any more")]
    StaleReceipt,
    #[error("queue backend failure")]
    Backend(#[source] anyhow::Error),
    /// Throttled or briefly unavailable; nothing was done, and a retry may succeed.
    #[error("queue temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
}

#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Create the queue and its dead-letter queue (idempotent).
    async fn ensure_queue(&self, queue: &QueueName, max_receives: u32) -> Result<(), QueueError>;
    async fn enqueue(&self, queue: &QueueName, body: &[u8]) -> Result<String, QueueError> {
        self.enqueue_delayed(queue, body, 0).await
    }
    /// Enqueue a job that becomes visible only after `delay_secs` (0..=900, as SQS allows).
    async fn enqueue_delayed(&self, queue: &QueueName, body: &[u8], delay_secs: u32) -> Result<String, QueueError>;
    /// Enqueue many jobs with as few backend calls as the backend allows (SQS: SendMessageBatch,
    /// ten a call; embedded: one transaction). On an error some of the jobs may be queued, so
    /// callers fan out jobs that are harmless to deliver twice.
    async fn enqueue_batch(&self, queue: &QueueName, bodies: &[Vec<u8>]) -> Result<(), QueueError> {
        for body in bodies {
            self.enqueue(queue, body).await?;
        }
        Ok(())
    }
    /// Up to `max` (1..=10) visible jobs; each becomes invisible for the visibility timeout.
    async fn receive(&self, queue: &QueueName, max: u32) -> Result<Vec<Delivery>, QueueError>;
    /// The job is done: delete it.
    async fn ack(&self, queue: &QueueName, receipt: &str) -> Result<(), QueueError>;
    /// The job failed: make it visible again at once for a retry.
    async fn nack(&self, queue: &QueueName, receipt: &str) -> Result<(), QueueError>;
    /// Receive from the dead-letter queue (to inspect or redrive).
    async fn receive_dead(&self, queue: &QueueName, max: u32) -> Result<Vec<Delivery>, QueueError>;
}
