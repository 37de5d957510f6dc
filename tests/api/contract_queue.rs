//! JobQueue contract: SQS semantics (visibility, retry, dead-letter) from redb and SQS.

use bulwark::ports::queue::*;

use crate::helpers::Backend;
use crate::on_both_backends;

on_both_backends!(Backend:
    deliver_ack_and_retry,
    dead_letter_after_max_receives,
    spent_jobs_do_not_hide_live_ones,
    unknown_queue_is_an_error,
    delayed_jobs_stay_hidden_until_due,
);

async fn deliver_ack_and_retry(b: &Backend) {
    let q = &b.ports.queue;
    let name = QueueName::parse("push").unwrap();
    q.ensure_queue(&name, 5).await.unwrap();
    q.ensure_queue(&name, 5).await.unwrap();
    for body in [b"one".as_slice(), b"two", b"\x00binary\xff"] {
        q.enqueue(&name, body).await.unwrap();
    }
    let mut got = q.receive(&name, 10).await.unwrap();
    // SQS may spread a small queue over several receives.
    while got.len() < 3 {
        let more = q.receive(&name, 10).await.unwrap();
        assert!(!more.is_empty(), "jobs went missing");
        got.extend(more);
    }
    let mut bodies: Vec<_> = got.iter().map(|d| d.body.clone()).collect();
    bodies.sort();
    assert_eq!(bodies, vec![b"\x00binary\xff".to_vec(), b"one".to_vec(), b"two".to_vec()]);
    assert!(got.iter().all(|d| d.receive_count == 1));
    // In flight: invisible to another consumer.
    assert!(q.receive(&name, 10).await.unwrap().is_empty());
    let (done, failed): (Vec<_>, Vec<_>) = got.into_iter().partition(|d| d.body == b"one");
    q.ack(&name, &done[0].receipt).await.unwrap();
    for d in &failed {
        q.nack(&name, &d.receipt).await.unwrap();
    }
    let mut again = Vec::new();
    for _ in 0..5 {
        again.extend(q.receive(&name, 10).await.unwrap());
        if again.len() == 2 {
            break;
        }
    }
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|d| d.receive_count == 2 && d.body != b"one"));
}

async fn dead_letter_after_max_receives(b: &Backend) {
    let q = &b.ports.queue;
    let name = QueueName::parse("flaky").unwrap();
    q.ensure_queue(&name, 2).await.unwrap();
    q.enqueue(&name, b"poison").await.unwrap();
    for attempt in 1..=2 {
        let d = q.receive(&name, 1).await.unwrap();
        assert_eq!(d.len(), 1, "attempt {attempt}");
        assert_eq!(d[0].receive_count, attempt);
        q.nack(&name, &d[0].receipt).await.unwrap();
    }
    // The third delivery would exceed max_receives: it goes to the dead-letter queue.
    assert!(q.receive(&name, 1).await.unwrap().is_empty());
    let dead = q.receive_dead(&name, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, b"poison");
}

async fn spent_jobs_do_not_hide_live_ones(b: &Backend) {
    // GIVEN three jobs that used their one receive, and a fresh job behind them
    let q = &b.ports.queue;
    let name = QueueName::parse("once").unwrap();
    q.ensure_queue(&name, 1).await.unwrap();
    for body in [b"poison-1".as_slice(), b"poison-2", b"poison-3"] {
        q.enqueue(&name, body).await.unwrap();
    }
    for _ in 0..3 {
        let d = q.receive(&name, 1).await.unwrap();
        assert_eq!(d.len(), 1);
        q.nack(&name, &d[0].receipt).await.unwrap();
    }
    q.enqueue(&name, b"fresh").await.unwrap();
    // WHEN a consumer asks for one job (twice at most: SQS may answer a receive empty)
    let mut got = q.receive(&name, 1).await.unwrap();
    if got.is_empty() {
        got = q.receive(&name, 1).await.unwrap();
    }
    // THEN it gets the fresh job: the spent ones went to the dead-letter queue on the way
    // instead of filling the answer (a drain took an empty answer for an empty queue)
    assert_eq!(got.iter().map(|d| d.body.as_slice()).collect::<Vec<_>>(), vec![b"fresh".as_slice()]);
}

async fn unknown_queue_is_an_error(b: &Backend) {
    let name = QueueName::parse("never-made").unwrap();
    assert!(matches!(b.ports.queue.enqueue(&name, b"x").await.unwrap_err(), QueueError::NoSuchQueue));
    assert!(QueueName::parse("Bad_Name").is_err());
}

async fn delayed_jobs_stay_hidden_until_due(b: &Backend) {
    // GIVEN a queue and a job delayed by one second
    let q = &b.ports.queue;
    let name = QueueName::parse("later").unwrap();
    q.ensure_queue(&name, 5).await.unwrap();
    q.enqueue_delayed(&name, b"later", 1).await.unwrap();
    // THEN it is not delivered at once
    assert!(q.receive(&name, 10).await.unwrap().is_empty());
    // WHEN the delay has passed (moto keeps real time; the embedded queue the test clock)
    b.clock.advance(time::Duration::seconds(2));
    if b.aws.is_some() {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    }
    // THEN it is delivered
    let got = q.receive(&name, 10).await.unwrap();
    assert_eq!(got.iter().map(|d| d.body.clone()).collect::<Vec<_>>(), vec![b"later".to_vec()]);
    // AND a delay beyond SQS's limit is refused
    assert!(matches!(q.enqueue_delayed(&name, b"x", MAX_DELAY_SECS + 1).await.unwrap_err(), QueueError::InvalidDelay));
}
