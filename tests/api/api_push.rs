//! Push notifications end to end: registration, one queued job per recipient device, delivery
//! through the real FCM/APNs adapter to a local stand-in for both providers, retries, the
//! dead-letter queue, dropped dead tokens — and no PHI anywhere in what leaves.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use crate::flows::{admin_of, join, Account};
use crate::helpers::{TestApp, OPERATOR_TOKEN};
use crate::on_both_backends;

#[derive(Default)]
struct StandIn {
    /// (platform, path, headers of interest, body) of every accepted push.
    delivered: Mutex<Vec<(String, String, String)>>,
    fail_next: AtomicU32,
    gone: Mutex<Vec<String>>,
}

async fn token(State(_s): State<Arc<StandIn>>, body: String) -> (StatusCode, String) {
    // The service-account assertion arrives as a JWT bearer grant.
    if !body.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer")
        || !body.contains("assertion=ey")
    {
        return (StatusCode::BAD_REQUEST, "{}".into());
    }
    (StatusCode::OK, json!({"access_token": "stand-in-access", "expires_in": 3600}).to_string())
}

async fn fcm(
    State(s): State<Arc<StandIn>>,
    Path(_p): Path<String>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer stand-in-access") {
        return (StatusCode::UNAUTHORIZED, "{}".into());
    }
    if s.fail_next.load(Ordering::SeqCst) > 0 {
        s.fail_next.fetch_sub(1, Ordering::SeqCst);
        return (StatusCode::SERVICE_UNAVAILABLE, "{}".into());
    }
    let v: Value = serde_json::from_str(&body).unwrap();
    let tok = v["message"]["token"].as_str().unwrap_or_default().to_owned();
    if s.gone.lock().unwrap().contains(&tok) {
        return (
            StatusCode::NOT_FOUND,
            json!({"error": {"status": "NOT_FOUND", "details": [{"errorCode": "UNREGISTERED"}]}}).to_string(),
        );
    }
    s.delivered.lock().unwrap().push(("fcm".into(), tok, body));
    (StatusCode::OK, json!({"name": "projects/p/messages/1"}).to_string())
}

async fn apns(
    State(s): State<Arc<StandIn>>,
    Path(tok): Path<String>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !auth.starts_with("bearer ey")
        || headers.get("apns-topic").and_then(|v| v.to_str().ok()) != Some("org.bulwark.app")
    {
        return (StatusCode::FORBIDDEN, json!({"reason": "InvalidProviderToken"}).to_string());
    }
    if s.fail_next.load(Ordering::SeqCst) > 0 {
        s.fail_next.fetch_sub(1, Ordering::SeqCst);
        return (StatusCode::SERVICE_UNAVAILABLE, "{}".into());
    }
    if s.gone.lock().unwrap().contains(&tok) {
        return (StatusCode::GONE, json!({"reason": "Unregistered"}).to_string());
    }
    s.delivered.lock().unwrap().push(("apns".into(), tok, body));
    (StatusCode::OK, String::new())
}

/// Start the stand-in, store provider credentials pointing at it, and return it with a copy
/// of the app state whose push provider talks to it (what the worker runs with).
async fn stand_in(app: &TestApp) -> (Arc<StandIn>, bulwark::services::context::Context) {
    let s = Arc::new(StandIn::default());
    let router = Router::new()
        .route("/token", post(token))
        .route("/v1/projects/{project}/messages:send", post(fcm))
        .route("/3/device/{token}", post(apns))
        .with_state(s.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let secrets = app.state.ports.secrets.clone();
    let name = |n: &str| bulwark::ports::SecretName::parse(n).unwrap();
    let sa = json!({
        "type": "service_account", "project_id": "bulwark-test", "client_email": "push@bulwark-test.iam.example",
        "private_key": include_str!("fixtures/fcm-test-key.pem"), "token_uri": format!("{base}/token"),
    });
    secrets.create(&name("push/fcm"), sa.to_string().as_bytes()).await.unwrap();
    let key = json!({"team_id": "TEAMID1234", "key_id": "KEYID12345", "topic": "org.bulwark.app", "private_key": include_str!("fixtures/apns-test-key.p8")});
    secrets.create(&name("push/apns"), key.to_string().as_bytes()).await.unwrap();
    let mut worker = app.state.ctx.clone();
    worker.ports.push = Arc::new(bulwark::adapters::push_http::HttpPushProvider::new(secrets, base.clone(), base));
    (s, worker)
}

async fn register(app: &TestApp, who: &Account, platform: &str, token: &str) -> crate::helpers::Reply {
    app.call("POST", "/v1/me/devices", Some(&who.access), Some(json!({"platform": platform, "token": token}))).await
}

async fn devices(app: &TestApp, tenant_slug: &str, user_id: &str) -> usize {
    let t = app
        .backend
        .ports
        .store
        .get(&bulwark::ports::Table::Platform, &format!("SLUG#{tenant_slug}"), "SLUG")
        .await
        .unwrap()
        .unwrap();
    let page = app
        .backend
        .ports
        .store
        .query(bulwark::ports::QueryRequest {
            table: bulwark::ports::Table::Tenant(t.s("tenant_id").unwrap().into()),
            pk: bulwark::services::push::devices_pk(user_id),
            range: bulwark::ports::SkRange::Prefix("DEV#".into()),
            direction: bulwark::ports::Direction::Forward,
            limit: 100,
            cursor: None,
        })
        .await
        .unwrap();
    page.items.len()
}

on_both_backends!(TestApp: pushes_are_queued_delivered_retried_and_dead_lettered_without_phi);

async fn pushes_are_queued_delivered_retried_and_dead_lettered_without_phi(app: &TestApp) {
    let (provider, worker) = stand_in(app).await;
    let admin = admin_of(app, "acme").await;
    let nurse = join(app, &admin, "nurse@acme.test", "member").await;
    // Registration, validated.
    assert_eq!(register(app, &nurse, "sms", "x").await.code(), "validation_failed");
    assert_eq!(register(app, &nurse, "fcm", "  ").await.code(), "validation_failed");
    assert_eq!(register(app, &nurse, "fcm", "fcm-token-nurse").await.status, 201);
    let apns_token = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
    let apns_id = register(app, &nurse, "apns", apns_token).await.json["device_id"].as_str().unwrap().to_owned();
    assert_eq!(register(app, &admin, "fcm", "fcm-token-admin").await.status, 201);
    let cid = crate::flows::conversation(app, &admin, "Ward 7", &[&nurse.user_id]).await;
    let path = format!("/v1/conversations/{cid}/messages");
    let send = |body: &'static str| app.call("POST", &path, Some(&admin.access), Some(json!({"body": body})));
    // WHEN a message is sent THEN each recipient device (not the sender's) gets one push
    let mid = send("Patient Jane Doe, bed 4: potassium 6.1").await.json["message_id"].as_str().unwrap().to_owned();
    // (one fan-out job naming the recipients, which the worker turns into a job per device)
    assert_eq!(bulwark::runtime::jobs::drain_push(&worker).await.unwrap(), 3);
    {
        let delivered = provider.delivered.lock().unwrap();
        let mut platforms: Vec<&str> = delivered.iter().map(|d| d.0.as_str()).collect();
        platforms.sort();
        assert_eq!(platforms, vec!["apns", "fcm"]);
        assert!(delivered.iter().all(|d| d.1 != "fcm-token-admin"), "the sender is not notified");
        for (_, _, body) in delivered.iter() {
            assert!(body.contains(&mid) && body.contains(&cid), "{body}");
            assert!(body.contains("You have a new secure message"));
            for phi in ["Jane", "potassium", "bed 4", "Ward 7", "Ada Admin", "Grace Member", "acme.test"] {
                assert!(!body.contains(phi), "push payload leaks {phi:?}: {body}");
            }
        }
    }
    // Provider trouble: retried until it works.
    provider.fail_next.store(3, Ordering::SeqCst);
    send("second").await;
    bulwark::runtime::jobs::drain_push(&worker).await.unwrap();
    assert_eq!(provider.delivered.lock().unwrap().len(), 4, "both delivered after retries");
    // A provider that stays down: after 5 attempts each job lands in the dead-letter queue,
    // holding ids only.
    provider.fail_next.store(1000, Ordering::SeqCst);
    send("third").await;
    bulwark::runtime::jobs::drain_push(&worker).await.unwrap();
    let dead = app.state.ports.queue.receive_dead(&bulwark::services::push::queue(), 10).await.unwrap();
    assert_eq!(dead.len(), 2);
    for d in &dead {
        let job: bulwark::services::push::PushJob = serde_json::from_slice(&d.body).unwrap();
        assert_eq!((job.user_id.as_str(), job.conversation_id.as_str()), (nurse.user_id.as_str(), cid.as_str()));
        assert!(!String::from_utf8_lossy(&d.body).contains("third"));
    }
    provider.fail_next.store(0, Ordering::SeqCst);
    // A token the provider reports dead is dropped.
    provider.gone.lock().unwrap().push(apns_token.to_owned());
    send("fourth").await;
    bulwark::runtime::jobs::drain_push(&worker).await.unwrap();
    assert_eq!(devices(app, "acme", &nurse.user_id).await, 1);
    assert_eq!(app.call("DELETE", &format!("/v1/me/devices/{apns_id}"), Some(&nurse.access), None).await.status, 404);
    // The Lambda worker reports exactly the failed records back to SQS (partial batch
    // failure), so only those are retried.
    let device_id = register(app, &nurse, "fcm", "fcm-token-2").await.json["device_id"].as_str().unwrap().to_owned();
    let tenant =
        app.backend.ports.store.get(&bulwark::ports::Table::Platform, "SLUG#acme", "SLUG").await.unwrap().unwrap();
    let job = json!({"tenant_id": tenant.s("tenant_id"), "user_id": nurse.user_id, "device_id": device_id, "conversation_id": cid, "message_id": mid});
    let body = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, job.to_string());
    let event = |id: &str| -> aws_lambda_events::sqs::SqsEvent {
        serde_json::from_value(json!({"Records": [{"messageId": id, "body": body, "eventSource": "aws:sqs"}]})).unwrap()
    };
    provider.fail_next.store(1, Ordering::SeqCst);
    let failed = bulwark::runtime::jobs::push_sqs(&worker, event("rec-1")).await;
    assert_eq!(
        failed.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect::<Vec<_>>(),
        vec!["rec-1"]
    );
    let ok = bulwark::runtime::jobs::push_sqs(&worker, event("rec-1")).await;
    assert!(ok.batch_item_failures.is_empty());
    // Unregister, and the remote wipe drops the rest.
    assert_eq!(devices(app, "acme", &nurse.user_id).await, 2);
    let wipe = format!("/v1/admin/users/{}/device-key/reset", nurse.user_id);
    assert_eq!(app.call("POST", &wipe, Some(&admin.access), None).await.status, 204);
    assert_eq!(devices(app, "acme", &nurse.user_id).await, 0);
}

on_both_backends!(TestApp: a_tenant_without_push_devices_queues_no_push_work);

async fn a_tenant_without_push_devices_queues_no_push_work(app: &TestApp) {
    // GIVEN a tenant where nobody has registered a device
    let (_provider, worker) = stand_in(app).await;
    let admin = admin_of(app, "acme").await;
    let nurse = join(app, &admin, "nurse@acme.test", "member").await;
    let cid = crate::flows::conversation(app, &admin, "Ward 7", &[&nurse.user_id]).await;
    let path = format!("/v1/conversations/{cid}/messages");
    let send = || app.call("POST", &path, Some(&admin.access), Some(json!({"body": "hello"})));
    // WHEN a message is sent THEN no push work is queued
    assert_eq!(send().await.status, 201);
    assert_eq!(bulwark::runtime::jobs::drain_push(&worker).await.unwrap(), 0);
    // WHEN the operator disables and enables the tenant, and a member then registers a device
    let tenants = app.call("GET", "/v1/platform/tenants?limit=100", Some(OPERATOR_TOKEN), None).await.json;
    let acme = tenants["tenants"].as_array().unwrap()[0]["tenant_id"].as_str().unwrap().to_owned();
    for what in ["disable", "enable"] {
        let r = app.call("POST", &format!("/v1/platform/tenants/{acme}/{what}"), Some(OPERATOR_TOKEN), None).await;
        assert_eq!(r.status, 200, "{}", r.json);
    }
    assert_eq!(register(app, &nurse, "fcm", "fcm-token-nurse").await.status, 201);
    // THEN the next message queues its fan-out job (and the worker one job for that device)
    assert_eq!(send().await.status, 201);
    assert_eq!(bulwark::runtime::jobs::drain_push(&worker).await.unwrap(), 2);
    // AND a later disable and enable keeps what the tenant's marker knows about its devices
    for what in ["disable", "enable"] {
        app.call("POST", &format!("/v1/platform/tenants/{acme}/{what}"), Some(OPERATOR_TOKEN), None).await;
    }
    app.backend.clock.advance(time::Duration::seconds(31));
    assert_eq!(send().await.status, 201);
    assert_eq!(bulwark::runtime::jobs::drain_push(&worker).await.unwrap(), 2);
}
