//! Fault injection (`adapters::faults`): a store that throttles answers 503 `unavailable` with
//! `Retry-After`, leaves no partial write, and a client retrying with its `Idempotency-Key`
//! gets through exactly once.

use std::sync::Arc;

use bulwark::adapters::faults::{FaultPlan, FaultTarget, FaultyStore};
use serde_json::json;

use crate::flows::{admin_of, conversation, join, Account};
use crate::helpers::{json_request, send, test_settings, TestApp};
use crate::on_both_backends;

on_both_backends!(TestApp:
    a_throttled_send_answers_503_and_writes_nothing,
    retries_through_a_flaky_store_land_exactly_once,
    an_upload_without_its_key_or_blob_store_answers_503_and_keeps_nothing,
    flaky_mail_is_retried_until_the_mail_goes_out,
    a_login_while_the_secret_store_is_down_answers_503,
);

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

fn always() -> FaultPlan {
    FaultPlan { rate: 1.0, target: FaultTarget::Every, delay: None, seed: 3 }
}

fn upload_request(who: &Account) -> http::Request<axum::body::Body> {
    crate::flows::upload_request(who, "text/plain", axum::body::Body::from("lab result"))
}

async fn attachment_records(app: &TestApp) -> usize {
    let tenant = bulwark::domain::types::TenantId::parse(&crate::flows::tenant_id(app, "acme").await).unwrap();
    let page = app.state.ports.store.scan(&bulwark::ports::Table::tenant(&tenant), 1000, None).await.unwrap();
    page.items.iter().filter(|i| i.pk.starts_with("ATT#")).count()
}

async fn an_upload_without_its_key_or_blob_store_answers_503_and_keeps_nothing(app: &TestApp) {
    let admin = admin_of(app, "acme").await;
    let mut ports = app.state.ports.clone();
    ports.keys = Arc::new(bulwark::adapters::faults::FaultyKeys::new(ports.keys.clone(), always()));
    let no_keys = bulwark::http::app(bulwark::runtime::app::application(ports, test_settings(1000)));
    let mut ports = app.state.ports.clone();
    ports.blobs = Arc::new(bulwark::adapters::faults::FaultyBlobs::new(ports.blobs.clone(), always()));
    let no_blobs = bulwark::http::app(bulwark::runtime::app::application(ports, test_settings(1000)));
    for router in [no_keys, no_blobs] {
        let r = send(router, upload_request(&admin)).await;
        assert_eq!((r.status, r.code()), (503, "unavailable"), "{}", r.json);
        assert!(r.headers.get("retry-after").is_some());
    }
    assert_eq!(attachment_records(app).await, 0, "no record of a failed upload");
    assert_eq!(send(app.router(), upload_request(&admin)).await.status, 201, "fine once the backend is back");
    assert_eq!(attachment_records(app).await, 1);
}

async fn flaky_mail_is_retried_until_the_mail_goes_out(app: &TestApp) {
    let _admin = admin_of(app, "acme").await;
    let forgot = json!({"tenant": "acme", "email": "admin@acme.test"});
    assert_eq!(app.call("POST", "/v1/auth/password/forgot", None, Some(forgot)).await.status, 202);
    // The worker meets a flaky mail service (seeded): the job fails, is retried, and the mail
    // goes out exactly once.
    let mut flaky = app.state.ctx.clone();
    let plan = FaultPlan { rate: 0.5, target: FaultTarget::Every, delay: None, seed: 11 };
    let mailer = Arc::new(bulwark::adapters::faults::FaultyMailer::new(flaky.ports.mailer.clone(), plan));
    flaky.ports.mailer = mailer.clone();
    bulwark::runtime::jobs::drain_maintenance(&flaky).await.unwrap();
    assert!(mailer.injected() >= 1, "the plan failed at least one send");
    assert_eq!(app.mails_to("admin@acme.test").await, 2, "the invitation and one reset link");
    assert!(app.token_mailed_to("admin@acme.test", "Reset").await.is_some());
}

async fn a_login_while_the_secret_store_is_down_answers_503(app: &TestApp) {
    let _admin = admin_of(app, "acme").await;
    // A fresh process (cold key cache) whose secret store is unreachable.
    let mut ports = app.state.ports.clone();
    ports.secrets = Arc::new(bulwark::adapters::faults::FaultySecrets::new(ports.secrets.clone(), always()));
    let router = bulwark::http::app(bulwark::runtime::app::application(ports, test_settings(1000)));
    let body = json!({"tenant": "acme", "email": "admin@acme.test", "password": crate::flows::PW});
    let r = send(router, json_request("POST", "/v1/auth/login", None, Some(body))).await;
    assert_eq!((r.status, r.code()), (503, "unavailable"), "{}", r.json);
    assert_eq!(crate::flows::login(app, "acme", "admin@acme.test", crate::flows::PW).await.status, 200);
}
