//! Queue workers, shared by every kind of job: the local server drains a queue through the
//! queue port ([`drain`]); on AWS an SQS event source invokes a worker Lambda, which reports
//! partial batch failures so SQS retries only the failed records ([`handle_sqs`]). Either way
//! a failed job is retried and, after its queue's redrive limit, dead-lettered.

use std::future::Future;

use crate::ports::queue::QueueName;
use crate::services::context::Context;
use crate::services::{maintenance, push};

/// Receivers a parallel drain runs at once: their receives and acknowledgements share the
/// embedded store's group commits, so the push queue keeps up with sends under load (one
/// receiver of 10 jobs per two commits fell behind, and the backlog filled the store).
const PARALLEL_RECEIVERS: usize = 32;

/// Run every job visible on `queue` now; returns how many were handled (failures included).
/// With `parallel`, several receivers drain the queue at once and a received batch's jobs run
/// concurrently (their acknowledgements then share the embedded store's group commit
/// instead of one commit each).
pub async fn drain<F, Fut>(state: &Context, queue: &QueueName, parallel: bool, handle: F) -> anyhow::Result<usize>
where
    F: Fn(Context, Vec<u8>) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    if !parallel {
        return receiver(state, queue, false, &handle).await;
    }
    let receivers = (0..PARALLEL_RECEIVERS).map(|_| receiver(state, queue, true, &handle));
    futures::future::join_all(receivers).await.into_iter().sum()
}

/// One receiver of [`drain`]: batches until the queue has nothing visible.
async fn receiver<F, Fut>(state: &Context, queue: &QueueName, parallel: bool, handle: &F) -> anyhow::Result<usize>
where
    F: Fn(Context, Vec<u8>) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut handled = 0;
    loop {
        let batch = state.ports.queue.receive(queue, 10).await?;
        if batch.is_empty() {
            return Ok(handled);
        }
        handled += batch.len();
        let one = |d: crate::ports::queue::Delivery| {
            let outcome = handle(state.clone(), d.body);
            async move {
                match outcome.await {
                    Ok(()) => state.ports.queue.ack(queue, &d.receipt).await,
                    Err(e) => {
                        tracing::warn!(
                            queue = queue.as_str(),
                            attempt = d.receive_count,
                            error = format!("{e:#}"),
                            "job failed; will retry"
                        );
                        state.ports.queue.nack(queue, &d.receipt).await
                    }
                }
            }
        };
        if parallel {
            for r in futures::future::join_all(batch.into_iter().map(one)).await {
                r?;
            }
        } else {
            for d in batch {
                one(d).await?;
            }
        }
    }
}

/// A worker Lambda's SQS batch: run each record, report the failed ones.
pub async fn handle_sqs<F, Fut>(
    state: &Context,
    event: aws_lambda_events::sqs::SqsEvent,
    handle: F,
) -> aws_lambda_events::sqs::SqsBatchResponse
where
    F: Fn(Context, Vec<u8>) -> Fut,
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

/// Deliver the pushes queued now (the local server every second; tests).
pub async fn drain_push(ctx: &Context) -> anyhow::Result<usize> {
    drain(ctx, &push::queue(), true, |c, body| async move { push::deliver(&c, &body).await }).await
}

/// The `push-worker` Lambda: an SQS batch of push jobs.
pub async fn push_sqs(
    ctx: &Context,
    event: aws_lambda_events::sqs::SqsEvent,
) -> aws_lambda_events::sqs::SqsBatchResponse {
    handle_sqs(ctx, event, |c, body| async move { push::deliver(&c, &body).await }).await
}

/// Run every maintenance job visible now (the local server every second; tests).
pub async fn drain_maintenance(ctx: &Context) -> anyhow::Result<usize> {
    drain(ctx, &maintenance::queue(), false, |c, body| async move { maintenance::run(&c, &body).await }).await
}

/// The `maintenance-worker` Lambda: an SQS batch of jobs, or the hourly schedule's event.
pub async fn maintenance_event(ctx: &Context, event: serde_json::Value) -> anyhow::Result<serde_json::Value> {
    if event.get("Records").is_some() {
        let batch: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(event)?;
        let response = handle_sqs(ctx, batch, |c, body| async move { maintenance::run(&c, &body).await }).await;
        return Ok(serde_json::to_value(response)?);
    }
    let removed = crate::services::messaging::attachments::sweep_expired(ctx).await?;
    tracing::info!(removed, "retention sweep done");
    Ok(serde_json::json!({ "attachments_removed": removed }))
}
