//! Queue workers, shared by every kind of job: the local server drains a queue through the
//! queue port ([`drain`]); on AWS an SQS event source invokes a worker Lambda, which reports
//! partial batch failures so SQS retries only the failed records ([`handle_sqs`]). Either way
//! a failed job is retried and, after its queue's redrive limit, dead-lettered.

use std::future::Future;

use crate::ports::queue::QueueName;
use crate::runtime::state::AppState;

/// Run every job visible on `queue` now; returns how many were handled (failures included).
pub async fn drain<F, Fut>(state: &AppState, queue: &QueueName, handle: F) -> anyhow::Result<usize>
where
    F: Fn(AppState, Vec<u8>) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut handled = 0;
    loop {
        let batch = state.ports.queue.receive(queue, 10).await?;
        if batch.is_empty() {
            return Ok(handled);
        }
        for d in batch {
            handled += 1;
            match handle(state.clone(), d.body).await {
                Ok(()) => state.ports.queue.ack(queue, &d.receipt).await?,
                Err(e) => {
                    tracing::warn!(
                        queue = queue.as_str(),
                        attempt = d.receive_count,
                        error = format!("{e:#}"),
                        "job failed; will retry"
                    );
                    state.ports.queue.nack(queue, &d.receipt).await?;
                }
            }
        }
    }
}

/// A worker Lambda's SQS batch: run each record, report the failed ones.
pub async fn handle_sqs<F, Fut>(
    state: &AppState,
    event: aws_lambda_events::sqs::SqsEvent,
    handle: F,
) -> aws_lambda_events::sqs::SqsBatchResponse
where
    F: Fn(AppState, Vec<u8>) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    use base64::{engine::general_purpose::STANDARD, Engine};
    let mut response = aws_lambda_events::sqs::SqsBatchResponse::default();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        // The queue adapter base64-encodes bodies, so binary jobs survive SQS's text bodies.
        let ok = match record.body.as_deref().and_then(|b| STANDARD.decode(b).ok()) {
            Some(body) => match handle(state.clone(), body).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(message_id = id, error = format!("{e:#}"), "job failed; SQS will retry");
                    false
                }
            },
            None => {
                tracing::error!(message_id = id, "dropping an undecodable job");
                true
            }
        };
        if !ok {
            let mut failure = aws_lambda_events::sqs::BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}
