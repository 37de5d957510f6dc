//! SQS job queue. Queue `name` is `<prefix>-<name>` with dead-letter queue
//! `<prefix>-<name>-dlq` wired by a redrive policy, so SQS itself moves a job that failed
//! `max_receives` times. Bodies are base64 (SQS bodies are text). Queue URLs are resolved
//! once and cached.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use aws_sdk_sqs::Client;
use base64::{engine::general_purpose::STANDARD, Engine};

use super::describe;
use crate::ports::queue::*;

pub struct SqsQueue {
    client: super::Lazy<Client>,
    prefix: String,
    visibility: Duration,
    urls: Mutex<HashMap<String, String>>,
}

fn be<E: std::error::Error + Send + Sync + 'static>(e: E) -> QueueError {
    QueueError::Backend(describe(e))
}

impl SqsQueue {
    pub fn new(client: super::Lazy<Client>, prefix: String, visibility: Duration) -> Self {
        SqsQueue { client, prefix, visibility, urls: Mutex::new(HashMap::new()) }
    }

    fn name(&self, q: &QueueName, dead: bool) -> String {
        format!("{}-{}{}", self.prefix, q.as_str(), if dead { "-dlq" } else { "" })
    }

    async fn url(&self, q: &QueueName, dead: bool) -> Result<String, QueueError> {
        let name = self.name(q, dead);
        if let Some(u) = self.urls.lock().ok().and_then(|m| m.get(&name).cloned()) {
            return Ok(u);
        }
        let out = self.client.get_queue_url().queue_name(&name).send().await.map_err(|e| {
            match e.as_service_error().and_then(|s| s.code()) {
                Some("AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist") => QueueError::NoSuchQueue,
                _ => be(e),
            }
        })?;
        let url = out.queue_url.ok_or(QueueError::NoSuchQueue)?;
        if let Ok(mut m) = self.urls.lock() {
            m.insert(name, url.clone());
        }
        Ok(url)
    }

    async fn take(&self, q: &QueueName, max: u32, dead: bool) -> Result<Vec<Delivery>, QueueError> {
        let url = self.url(q, dead).await?;
        let out = self
            .client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .visibility_timeout(self.visibility.as_secs() as i32)
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(be)?;
        out.messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let body = STANDARD
                    .decode(m.body.unwrap_or_default())
                    .map_err(|e| QueueError::Backend(anyhow::anyhow!("undecodable job body: {e}")))?;
                let receive_count = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                Ok(Delivery {
                    message_id: m.message_id.unwrap_or_default(),
                    body,
                    receipt: m.receipt_handle.unwrap_or_default(),
                    receive_count,
                })
            })
            .collect()
    }
}

#[async_trait]
impl JobQueue for SqsQueue {
    async fn ensure_queue(&self, queue: &QueueName, max_receives: u32) -> Result<(), QueueError> {
        let dlq = self.client.create_queue().queue_name(self.name(queue, true)).send().await.map_err(be)?;
        let dlq_url = dlq.queue_url.ok_or(QueueError::NoSuchQueue)?;
        let attrs = self
            .client
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(be)?;
        let arn = attrs
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .ok_or_else(|| QueueError::Backend(anyhow::anyhow!("dead-letter queue has no ARN")))?;
        let redrive =
            serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max_receives.max(1)}).to_string();
        self.client
            .create_queue()
            .queue_name(self.name(queue, false))
            .attributes(QueueAttributeName::RedrivePolicy, redrive)
            .send()
            .await
            .map_err(be)?;
        Ok(())
    }

    async fn enqueue_delayed(&self, queue: &QueueName, body: &[u8], delay_secs: u32) -> Result<String, QueueError> {
        if delay_secs > MAX_DELAY_SECS {
            return Err(QueueError::InvalidDelay);
        }
        let url = self.url(queue, false).await?;
        let out = self
            .client
            .send_message()
            .queue_url(&url)
            .message_body(STANDARD.encode(body))
            .delay_seconds(delay_secs as i32)
            .send()
            .await
            .map_err(be)?;
        Ok(out.message_id.unwrap_or_default())
    }

    async fn enqueue_batch(&self, queue: &QueueName, bodies: &[Vec<u8>]) -> Result<(), QueueError> {
        use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
        let url = self.url(queue, false).await?;
        for chunk in bodies.chunks(10) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, body) in chunk.iter().enumerate() {
                let entry =
                    SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(STANDARD.encode(body));
                entries.push(entry.build().map_err(be)?);
            }
            // Entries SQS refuses one by one (throttling) get one more try, then the batch fails.
            for attempt in 0..2 {
                let out =
                    self.client.send_message_batch().queue_url(&url).set_entries(Some(entries.clone())).send().await;
                let out = out.map_err(be)?;
                let failed: Vec<String> = out.failed.iter().map(|f| f.id.clone()).collect();
                if failed.is_empty() {
                    break;
                }
                if attempt == 1 {
                    return Err(QueueError::Unavailable(anyhow::anyhow!(
                        "{} jobs of a batch were refused",
                        failed.len()
                    )));
                }
                entries.retain(|e| failed.contains(&e.id));
            }
        }
        Ok(())
    }

    async fn receive(&self, queue: &QueueName, max: u32) -> Result<Vec<Delivery>, QueueError> {
        self.take(queue, max, false).await
    }

    async fn ack(&self, queue: &QueueName, receipt: &str) -> Result<(), QueueError> {
        let url = self.url(queue, false).await?;
        self.client.delete_message().queue_url(&url).receipt_handle(receipt).send().await.map_err(be)?;
        Ok(())
    }

    async fn nack(&self, queue: &QueueName, receipt: &str) -> Result<(), QueueError> {
        let url = self.url(queue, false).await?;
        self.client
            .change_message_visibility()
            .queue_url(&url)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(be)?;
        Ok(())
    }

    async fn receive_dead(&self, queue: &QueueName, max: u32) -> Result<Vec<Delivery>, QueueError> {
        self.take(queue, max, true).await
    }
}
