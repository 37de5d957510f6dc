//! Idempotent retries (API.md "Conventions", `Idempotency-Key`): a retry gets the first answer
//! byte for byte and creates nothing; parallel retries run the request once; the same key
//! with another body is 409; keys are per user; a body that breaks off is unreadable (400),
//! not too large (413), and keeps nothing.

use serde_json::json;

use axum::body::Body;

use crate::flows::{admin_of, conversation, join, upload_request};
use crate::helpers::{files_under, json_request, send, TestApp};
use crate::on_both_backends;

on_both_backends!(TestApp:
    twenty_parallel_retries_of_one_send_make_one_message,
    a_key_is_one_request_of_one_user,
    a_send_whose_client_went_away_is_kept_for_its_retry,
    an_upload_whose_body_breaks_off_is_unreadable_not_too_large,
);

fn with_key(mut req: http::Request<axum::body::Body>, key: &str) -> http::Request<axum::body::Body> {
    req.headers_mut().insert("idempotency-key", key.parse().unwrap());
    req
}

async fn twenty_parallel_retries_of_one_send_make_one_message(app: &TestApp) {
    let admin = admin_of(app, "acme").await;
    let cid = conversation(app, &admin, "Ward", &[]).await;
    let path = format!("/v1/conversations/{cid}/messages");
    let body = json!({"body": "give 5 mg now"});
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let req = with_key(json_request("POST", &path, Some(&admin.access), Some(body.clone())), "send-1");
            tokio::spawn(send(app.router(), req))
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 201, "{}", r.json);
        ids.insert(r.json["message_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "every retry got the first answer: {ids:?}");
    let listed = app.call("GET", &path, Some(&admin.access), None).await;
    assert_eq!(listed.json["messages"].as_array().unwrap().len(), 1, "one message was created");
}

async fn a_send_whose_client_went_away_is_kept_for_its_retry(app: &TestApp) {
    // The case idempotency keys exist for: the client lost its connection mid-request. The
    // request used to be cut where it stood, leaving its key claimed (the retry refused until
    // the lease ran out) or its message written without the answer kept for the retry.
    let admin = admin_of(app, "acme").await;
    let cid = conversation(app, &admin, "Ward", &[]).await;
    let path = format!("/v1/conversations/{cid}/messages");
    let request =
        || with_key(json_request("POST", &path, Some(&admin.access), Some(json!({"body": "give 5 mg now"}))), "send-2");
    // GIVEN a send whose client goes away at once (the server drops such a request's future)
    let abandoned = tokio::time::timeout(std::time::Duration::from_millis(1), send(app.router(), request())).await;
    assert!(abandoned.is_err(), "the send was meant to be cut off before its answer");
    // The abandoned send must have got as far as its write before the retry goes out: a retry
    // that overtakes it would claim the key first and run the send itself, which is right but
    // not the case under test.
    let listed = || app.call("GET", &path, Some(&admin.access), None);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while listed().await.json["messages"].as_array().is_none_or(Vec::is_empty) {
        assert!(tokio::time::Instant::now() < deadline, "the abandoned send never wrote its message");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // WHEN the client retries with the same key
    let retry = send(app.router(), request()).await;
    // THEN the retry gets the first request's answer, and there is one message
    assert_eq!(retry.status, 201, "{}", retry.json);
    assert_eq!(retry.headers["idempotent-replayed"], "true", "the first request ran to its end");
    assert_eq!(listed().await.json["messages"].as_array().unwrap().len(), 1, "one message was created");
}

async fn a_key_is_one_request_of_one_user(app: &TestApp) {
    let admin = admin_of(app, "acme").await;
    let nurse = join(app, &admin, "nurse@acme.test", "member").await;
    let create = |who: &str, title: &str, key: &str| {
        with_key(
            json_request("POST", "/v1/conversations", Some(who), Some(json!({"title": title, "member_ids": []}))),
            key,
        )
    };
    let first = send(app.router(), create(&admin.access, "Rounds", "k-1")).await;
    assert_eq!(first.status, 201);
    // A retry: the same answer, byte for byte, and nothing new.
    let again = send(app.router(), create(&admin.access, "Rounds", "k-1")).await;
    assert_eq!((again.status, &again.json), (201, &first.json));
    assert_eq!(again.headers["idempotent-replayed"], "true");
    // The same key with another request: 409.
    let other = send(app.router(), create(&admin.access, "Night shift", "k-1")).await;
    assert_eq!((other.status, other.code()), (409, "conflict"));
    // Keys are per user: the nurse's k-1 is her own.
    let hers = send(app.router(), create(&nurse.access, "Rounds", "k-1")).await;
    assert_eq!(hers.status, 201);
    assert_ne!(hers.json["conversation_id"], first.json["conversation_id"]);
    let listed = app.call("GET", "/v1/conversations", Some(&admin.access), None).await;
    assert_eq!(listed.json["conversations"].as_array().unwrap().len(), 1);
    // A malformed key is refused before anything runs.
    for bad in ["", "has space", &"k".repeat(65), "semi;colon"] {
        let r = send(app.router(), create(&admin.access, "X", bad)).await;
        assert_eq!((r.status, r.code()), (400, "invalid_request"), "{bad:?}");
    }
    // Without a key, every request creates.
    let plain = || json_request("POST", "/v1/conversations", Some(&admin.access), Some(json!({"member_ids": []})));
    assert_ne!(send(app.router(), plain()).await.json, send(app.router(), plain()).await.json);
}

async fn an_upload_whose_body_breaks_off_is_unreadable_not_too_large(app: &TestApp) {
    let admin = admin_of(app, "acme").await;
    let octets = |body: Body, key: Option<&str>| {
        let req = upload_request(&admin, "application/octet-stream", body);
        match key {
            Some(key) => with_key(req, key),
            None => req,
        }
    };
    let broken = || {
        // 64 KiB, then the connection fails: far below the 4 MiB limit.
        let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
            vec![Ok(bytes::Bytes::from(vec![7u8; 65536])), Err(std::io::Error::other("connection reset"))];
        Body::from_stream(futures::stream::iter(chunks))
    };
    // GIVEN uploads whose bodies break off, with and without an Idempotency-Key
    for key in [Some("upload-1"), None] {
        // WHEN they are sent
        let r = send(app.router(), octets(broken(), key)).await;
        // THEN each is refused as unreadable, not as too large
        assert_eq!((r.status, r.code()), (400, "invalid_request"), "key {key:?}: {}", r.json);
    }
    // (while a body over the limit is still too large)
    let r = send(app.router(), octets(Body::from(vec![7u8; 4 * 1024 * 1024 + 1]), Some("upload-2"))).await;
    assert_eq!((r.status, r.code()), (413, "payload_too_large"), "{}", r.json);
    // AND nothing was kept: the key is free for the whole upload, and no partial file is left
    let r = send(app.router(), octets(Body::from(vec![7u8; 100_000]), Some("upload-1"))).await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert!(r.headers.get("idempotent-replayed").is_none(), "the broken upload kept no answer");
    for file in files_under(app.backend.dir.path()) {
        let name = file.file_name().unwrap_or_default().to_string_lossy().into_owned();
        assert!(!name.starts_with(".tmp-"), "a broken upload left {}", file.display());
    }
}
