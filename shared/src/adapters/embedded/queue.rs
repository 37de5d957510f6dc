//! Embedded durable job queue on redb with SQS semantics: a received job is invisible for the
//! visibility timeout; `nack` makes it visible at once; a job already delivered
//! `max_receives` times is moved to the dead-letter queue on its next receive. Its writes go
//! through the embedded store's group commit (one fsync shared with concurrent store writes).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::{engine::general_purpose::STANDARD, Engine};
use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::EmbeddedStore;
use crate::ports::clock::Clock;
use crate::ports::queue::*;
use crate::ports::StoreError;

const QUEUES: TableDefinition<&str, u32> = TableDefinition::new("queues");
/// Jobs out of receives moved to the dead-letter queue by one receive at most (the rest on
/// the next ones), so a receive's time under the writer stays bounded.
const MAX_DEAD_LETTERED_PER_RECEIVE: usize = 100;

#[derive(Serialize, Deserialize)]
struct Msg {
    body: String,
    visible_at_ms: i64,
    receive_count: u32,
    receipt: Option<String>,
}

pub struct EmbeddedQueue {
    writer: EmbeddedStore,
    clock: Arc<dyn Clock>,
    visibility: Duration,
}

fn be(e: impl std::fmt::Display) -> QueueError {
    QueueError::Backend(anyhow::anyhow!("redb: {e}"))
}

/// A queue outcome inside a store write: backend failures abort the group commit (and are
/// retried alone); the queue's own outcomes (no such queue, stale receipt) are decided
/// before anything is written and come back as the inner result.
fn in_store<T>(r: Result<T, QueueError>) -> Result<Result<T, QueueError>, StoreError> {
    match r {
        Err(QueueError::Backend(e)) => Err(StoreError::Backend(e)),
        other => Ok(other),
    }
}

fn main_table(q: &QueueName) -> String {
    format!("queue:{}", q.as_str())
}
fn dead_table(q: &QueueName) -> String {
    format!("queue:{}:dlq", q.as_str())
}
fn def(name: &str) -> TableDefinition<'_, &'static str, &'static [u8]> {
    TableDefinition::new(name)
}

impl EmbeddedQueue {
    /// Add jobs visible from `visible_at_ms` (0: at once) in one transaction; their ids.
    async fn insert(&self, queue: &QueueName, bodies: &[&[u8]], visible_at_ms: i64) -> Result<Vec<String>, QueueError> {
        let mut rows = Vec::with_capacity(bodies.len());
        for body in bodies {
            let msg = Msg { body: STANDARD.encode(body), visible_at_ms, receive_count: 0, receipt: None };
            rows.push((uuid::Uuid::now_v7().simple().to_string(), serde_json::to_vec(&msg).map_err(be)?));
        }
        let ids = rows.iter().map(|(id, _)| id.clone()).collect();
        let q = queue.clone();
        self.write(move |txn| {
            let queues = txn.open_table(QUEUES).map_err(be)?;
            if queues.get(q.as_str()).map_err(be)?.is_none() {
                return Err(QueueError::NoSuchQueue);
            }
            let mut t = txn.open_table(def(&main_table(&q))).map_err(be)?;
            for (id, bytes) in &rows {
                t.insert(id.as_str(), bytes.as_slice()).map_err(be)?;
            }
            Ok(())
        })
        .await?;
        Ok(ids)
    }

    pub fn new(writer: EmbeddedStore, clock: Arc<dyn Clock>, visibility: Duration) -> Self {
        EmbeddedQueue { writer, clock, visibility }
    }

    /// `f` in the store's next group commit.
    async fn write<T: Send + 'static>(
        &self,
        mut f: impl FnMut(&WriteTransaction) -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, QueueError> {
        match self.writer.write_with(move |txn| in_store(f(txn))).await {
            Ok(outcome) => outcome,
            Err(e) => Err(QueueError::Backend(e.into())),
        }
    }

    fn now_ms(&self) -> i64 {
        (self.clock.now().unix_timestamp_nanos() / 1_000_000) as i64
    }

    async fn take(&self, queue: &QueueName, max: u32, dead: bool) -> Result<Vec<Delivery>, QueueError> {
        if !(1..=10).contains(&max) {
            return Err(QueueError::Backend(anyhow::anyhow!("max must be 1..=10")));
        }
        let q = queue.clone();
        let (now, vis) = (self.now_ms(), self.visibility.as_millis() as i64);
        self.write(move |txn| {
            let limit = {
                let queues = txn.open_table(QUEUES).map_err(be)?;
                let limit = queues.get(q.as_str()).map_err(be)?.map(|g| g.value());
                limit.ok_or(QueueError::NoSuchQueue)?
            };
            let mut out = Vec::new();
            {
                let src_name = if dead { dead_table(&q) } else { main_table(&q) };
                let mut src = txn.open_table(def(&src_name)).map_err(be)?;
                let mut rows_to_dlq = Vec::new();
                // The first `max` visible jobs that still have receives left, oldest first (ids
                // are time-ordered), and the spent ones met on the way (to dead-letter, up to a
                // bound per receive): the scan stops there rather than decoding the whole
                // backlog under the writer.
                let mut rows: Vec<(String, Msg)> = Vec::new();
                let (mut taken, mut spent) = (0u32, 0usize);
                for r in src.iter().map_err(be)? {
                    let (k, v) = r.map_err(be)?;
                    let m: Msg = serde_json::from_slice(v.value()).map_err(be)?;
                    if m.visible_at_ms > now {
                        continue;
                    }
                    if !dead && m.receive_count >= limit {
                        spent += 1;
                        rows.push((k.value().to_owned(), m));
                        if spent == MAX_DEAD_LETTERED_PER_RECEIVE {
                            break;
                        }
                        continue;
                    }
                    taken += 1;
                    rows.push((k.value().to_owned(), m));
                    if taken == max {
                        break;
                    }
                }
                for (id, mut m) in rows {
                    if !dead && m.receive_count >= limit {
                        src.remove(id.as_str()).map_err(be)?;
                        rows_to_dlq
                            .push((id, Msg { body: m.body, visible_at_ms: now, receive_count: 0, receipt: None }));
                        continue;
                    }
                    m.receive_count += 1;
                    m.visible_at_ms = now + vis;
                    let receipt = format!("{id}.{}", uuid::Uuid::new_v4().simple());
                    m.receipt = Some(receipt.clone());
                    src.insert(id.as_str(), serde_json::to_vec(&m).map_err(be)?.as_slice()).map_err(be)?;
                    let body = STANDARD.decode(&m.body).map_err(be)?;
                    out.push(Delivery { message_id: id, body, receipt, receive_count: m.receive_count });
                }
                drop(src);
                if !rows_to_dlq.is_empty() {
                    let mut dlq = txn.open_table(def(&dead_table(&q))).map_err(be)?;
                    for (id, m) in rows_to_dlq {
                        dlq.insert(id.as_str(), serde_json::to_vec(&m).map_err(be)?.as_slice()).map_err(be)?;
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    /// Apply `f` to the message a receipt names, if the receipt is still current.
    async fn with_receipt(
        &self,
        queue: &QueueName,
        receipt: &str,
        f: impl Fn(&mut redb::Table<&'static str, &'static [u8]>, &str, Msg, i64) -> Result<(), QueueError> + Send + 'static,
    ) -> Result<(), QueueError> {
        let id = receipt.split('.').next().unwrap_or_default().to_owned();
        let (q, receipt, now) = (queue.clone(), receipt.to_owned(), self.now_ms());
        self.write(move |txn| {
            let queues = txn.open_table(QUEUES).map_err(be)?;
            if queues.get(q.as_str()).map_err(be)?.is_none() {
                return Err(QueueError::NoSuchQueue);
            }
            for name in [main_table(&q), dead_table(&q)] {
                let mut t = txn.open_table(def(&name)).map_err(be)?;
                let found = t.get(id.as_str()).map_err(be)?.map(|g| g.value().to_vec());
                if let Some(bytes) = found {
                    let m: Msg = serde_json::from_slice(&bytes).map_err(be)?;
                    if m.receipt.as_deref() != Some(receipt.as_str()) {
                        return Err(QueueError::StaleReceipt);
                    }
                    f(&mut t, &id, m, now)?;
                    break;
                }
            }
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl JobQueue for EmbeddedQueue {
    async fn ensure_queue(&self, queue: &QueueName, max_receives: u32) -> Result<(), QueueError> {
        let q = queue.clone();
        self.write(move |txn| {
            let mut queues = txn.open_table(QUEUES).map_err(be)?;
            queues.insert(q.as_str(), max_receives.max(1)).map_err(be)?;
            txn.open_table(def(&main_table(&q))).map_err(be)?;
            txn.open_table(def(&dead_table(&q))).map_err(be)?;
            Ok(())
        })
        .await
    }

    async fn enqueue_delayed(&self, queue: &QueueName, body: &[u8], delay_secs: u32) -> Result<String, QueueError> {
        if delay_secs > MAX_DELAY_SECS {
            return Err(QueueError::InvalidDelay);
        }
        let visible_at_ms = if delay_secs == 0 { 0 } else { self.now_ms() + i64::from(delay_secs) * 1000 };
        let mut ids = self.insert(queue, &[body], visible_at_ms).await?;
        Ok(ids.pop().unwrap_or_default())
    }

    async fn enqueue_batch(&self, queue: &QueueName, bodies: &[Vec<u8>]) -> Result<(), QueueError> {
        let bodies: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
        self.insert(queue, &bodies, 0).await.map(|_| ())
    }

    async fn receive(&self, queue: &QueueName, max: u32) -> Result<Vec<Delivery>, QueueError> {
        self.take(queue, max, false).await
    }

    async fn ack(&self, queue: &QueueName, receipt: &str) -> Result<(), QueueError> {
        self.with_receipt(queue, receipt, |t, id, _, _| t.remove(id).map(|_| ()).map_err(be)).await
    }

    async fn nack(&self, queue: &QueueName, receipt: &str) -> Result<(), QueueError> {
        self.with_receipt(queue, receipt, |t, id, mut m, now| {
            m.visible_at_ms = now;
            t.insert(id, serde_json::to_vec(&m).map_err(be)?.as_slice()).map(|_| ()).map_err(be)
        })
        .await
    }

    async fn receive_dead(&self, queue: &QueueName, max: u32) -> Result<Vec<Delivery>, QueueError> {
        self.take(queue, max, true).await
    }
}
