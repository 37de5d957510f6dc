//! Fault injection (`adapters::faults`): a store that throttles answers 503 `unavailable` with
//! `Retry-After`, leaves no partial write, and a client retrying with its `Idempotency-Key`
//! gets through exactly once.

use std::sync::Arc;

use bulwark::adapters::faults::{FaultPlan, FaultTarget, FaultyStore};
use serde_json::json;

use crate::flows::{admin_of, conversation, join, Account};
use crate::helpers::{json_request, send, test_settings, TestApp};
use crate::on_both_backends;

on_both_backends!(TestApp: a_throttled_send_answers_503_and_writes_nothing, retries_through_a_flaky_store_land_exactly_once);

/// The app over the same data, its store failing as `plan` says.
fn faulty(app: &TestApp, plan: FaultPlan) -> (axum::Router, Arc<FaultyStore>) {
    let mut ports = app.state.ports.clone();
    let store = Arc::new(FaultyStore::new(ports.store.clone(), plan));
    ports.store = store.clone();
    (bulwark::http::app(bulwark::runtime::app::application(ports, test_settings(1000))), store)
}

async fn messages(app: &TestApp, who: &Account, cid: &str) -> Vec<String> {
    let r = app.call("GET", &format!("/v1/conversations/{cid}/messages?limit=100"), Some(&who.access), None).await;
    r.json["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap().to_owned()).collect()
}

async fn a_throttled_send_answers_503_and_writes_nothing(app: &TestApp) {
    let admin = admin_of(app, "acme").await;
    let nurse = join(app, &admin, "nurse@acme.test", "member").await;
    let cid = conversation(app, &admin, "Ward", &[&nurse.user_id]).await;
    let plan = FaultPlan { rate: 1.0, target: FaultTarget::Writes, delay: None, seed: 1 };
    let (router, store) = faulty(app, plan);
    let path = format!("/v1/conversations/{cid}/messages");
    let r = send(router, json_request("POST", &path, Some(&admin.access), Some(json!({"body": "5 mg"})))).await;
    assert_eq!((r.status, r.code()), (503, "unavailable"), "{}", r.json);
    assert_eq!(r.headers["retry-after"], "1");
    assert!(store.injected() >= 1);
    // Nothing of the send is anywhere: no message, no summary moved, no unread count.
    assert!(messages(app, &admin, &cid).await.is_empty());
    let listed = app.call("GET", "/v1/conversations", Some(&nurse.access), None).await;
    let summary = &listed.json["conversations"][0];
    assert_eq!((summary["unread_count"].as_i64(), summary["last_message_at"].is_null()), (Some(0), true));
}

async fn retries_through_a_flaky_store_land_exactly_once(app: &TestApp) {
    let admin = admin_of(app, "acme").await;
    let cid = conversation(app, &admin, "Ward", &[]).await;
    let plan = FaultPlan { rate: 0.5, target: FaultTarget::Transactions, delay: None, seed: 7 };
    let (router, store) = faulty(app, plan);
    let path = format!("/v1/conversations/{cid}/messages");
    for i in 0..10 {
        let mut tries = 0;
        loop {
            tries += 1;
            let mut req = json_request("POST", &path, Some(&admin.access), Some(json!({"body": format!("m{i}")})));
            req.headers_mut().insert("idempotency-key", format!("send-{i}").parse().unwrap());
            let r = send(router.clone(), req).await;
            match r.status {
                201 => break,
                503 => assert!(tries < 40, "still failing after {tries} tries"),
                other => panic!("unexpected {other}: {}", r.json),
            }
        }
    }
    assert!(store.injected() > 0, "the plan injected faults");
    let mut bodies = messages(app, &admin, &cid).await;
    bodies.sort();
    assert_eq!(bodies, (0..10).map(|i| format!("m{i}")).collect::<Vec<_>>(), "each message exactly once");
}
