//! Messaging: conversations, encrypted messages and attachments, read state, recall and
//! retention, through the router. Outsiders and other tenants see nothing (404).

use axum::body::Body;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::flows::{admin_of, conversation, download, join, send, upload, Account};
use crate::helpers::{contains, stored_bytes, Kind, TestApp};
use crate::on_both_backends;

/// A 1.5 MiB file with a recognisable pattern (spans many 64 KiB segments).
fn file() -> Vec<u8> {
    b"PHI-SCAN-MARKER-".iter().copied().cycle().take(1536 * 1024).collect()
}

on_both_backends!(TestApp:
    members_converse_with_encrypted_messages_and_attachments,
    expired_attachments_ciphertext_is_deleted,
);

async fn members_converse_with_encrypted_messages_and_attachments(app: &TestApp) {
    let admin = admin_of(app, "acme").await;
    let nurse = join(app, &admin, "nurse@acme.test", "member").await;
    let outsider = join(app, &admin, "porter@acme.test", "member").await;
    let other = admin_of(app, "other").await;
    // Members must be active users of the caller's tenant.
    for bad in [json!(["0".repeat(32)]), json!([other.user_id]), json!(["not-an-id"])] {
        let r = app.call("POST", "/v1/conversations", Some(&admin.access), Some(json!({"member_ids": bad}))).await;
        assert_eq!((r.status, r.code()), (422, "validation_failed"));
    }
    let cid = conversation(app, &admin, "Ward 7 handover", &[&nurse.user_id]).await;
    // Messages: sent, listed newest first, in pages with a cursor bound to the conversation.
    let mut sent = Vec::new();
    for i in 0..5 {
        let r = send(
            app,
            if i % 2 == 0 { &admin } else { &nurse },
            &cid,
            json!({"body": format!("Bed {i} needs a review")}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.json);
        assert!(r.json["sent_at"].as_str().unwrap().ends_with('Z'));
        sent.push(r.json["message_id"].as_str().unwrap().to_owned());
    }
    let page = app.call("GET", &format!("/v1/conversations/{cid}/messages?limit=2"), Some(&nurse.access), None).await;
    assert_eq!(page.status, 200);
    let msgs = page.json["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["body"], "Bed 4 needs a review");
    assert_eq!(msgs[0]["sender_id"], admin.user_id.as_str());
    assert_eq!(msgs[1]["message_id"], sent[3].as_str());
    let cursor = page.json["next_cursor"].as_str().unwrap().to_owned();
    let next = app
        .call("GET", &format!("/v1/conversations/{cid}/messages?limit=2&cursor={cursor}"), Some(&nurse.access), None)
        .await;
    assert_eq!(next.json["messages"][0]["message_id"], sent[2].as_str());
    let forged = format!("{}x", cursor);
    assert_eq!(
        app.call("GET", &format!("/v1/conversations/{cid}/messages?cursor={forged}"), Some(&nurse.access), None)
            .await
            .status,
        400
    );
    let cid2 = conversation(app, &admin, "Other", &[&nurse.user_id]).await;
    let r =
        app.call("GET", &format!("/v1/conversations/{cid2}/messages?cursor={cursor}"), Some(&nurse.access), None).await;
    assert_eq!(r.status, 400, "a cursor cannot be moved to another conversation");
    // Non-members and other tenants get 404 on everything about the conversation.
    for who in [&outsider, &other] {
        assert_eq!(
            app.call("GET", &format!("/v1/conversations/{cid}/messages"), Some(&who.access), None).await.status,
            404
        );
        assert_eq!(send(app, who, &cid, json!({"body": "hi"})).await.status, 404);
        let read = app
            .call(
                "POST",
                &format!("/v1/conversations/{cid}/read"),
                Some(&who.access),
                Some(json!({"message_id": sent[0]})),
            )
            .await;
        assert_eq!(read.status, 404);
        let del =
            app.call("DELETE", &format!("/v1/conversations/{cid}/messages/{}", sent[0]), Some(&who.access), None).await;
        assert_eq!(del.status, 404);
    }
    let listed = app.call("GET", "/v1/conversations", Some(&outsider.access), None).await;
    assert_eq!(listed.json["conversations"].as_array().unwrap().len(), 0);
    // Attachments: the uploader reads it; others only once a message in their conversation carries it.
    let data = file();
    let up = upload(app, &admin, data.clone(), "image/png", Some("scan 7.png")).await;
    let aid = up["attachment_id"].as_str().unwrap().to_owned();
    assert_eq!(up["size"], data.len());
    assert_eq!(up["sha256"], hex::encode(Sha256::digest(&data)));
    let (status, headers, body) = download(app, &admin, &aid).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["content-disposition"], "attachment; filename*=UTF-8''scan%207.png");
    assert_eq!(body.unwrap().as_ref(), data.as_slice());
    assert_eq!(download(app, &nurse, &aid).await.0, 404);
    let bad = send(app, &nurse, &cid, json!({"body": "see this", "attachment_ids": [aid]})).await;
    assert_eq!(bad.status, 422, "a member cannot attach what they cannot read");
    let r = send(app, &admin, &cid, json!({"body": "scan attached", "attachment_ids": [aid]})).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let (status, _, body) = download(app, &nurse, &aid).await;
    assert_eq!((status, body.unwrap().len()), (200, data.len()));
    for who in [&outsider, &other] {
        assert_eq!(download(app, who, &aid).await.0, 404);
    }
    let newest = app.call("GET", &format!("/v1/conversations/{cid}/messages?limit=1"), Some(&nurse.access), None).await;
    assert_eq!(newest.json["messages"][0]["attachment_ids"], json!([aid]));
    // Nothing of it is stored in plaintext: bodies, title, file bytes.
    let bytes = stored_bytes(&app.backend).await;
    for needle in [&b"needs a review"[..], b"Ward 7 handover", b"scan attached", b"PHI-SCAN-MARKER-", b"scan 7.png"] {
        assert!(!contains(&bytes, needle), "{} stored in plaintext", String::from_utf8_lossy(needle));
    }
}

#[tokio::test]
async fn read_state_recall_validation_and_retention() {
    let app = TestApp::new(Kind::Embedded).await;
    let admin = admin_of(&app, "acme").await;
    let nurse = join(&app, &admin, "nurse@acme.test", "member").await;
    let cid = conversation(&app, &admin, "Rounds", &[&nurse.user_id]).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        app.backend.clock.advance(time::Duration::seconds(1));
        ids.push(
            send(&app, &admin, &cid, json!({"body": format!("m{i}")})).await.json["message_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // Read state: per member, only forward; the caller's unread count follows it.
    assert_eq!(first_conversation(&app, &nurse).await["unread_count"], 3);
    assert_eq!(read(&app, &nurse, &cid, &ids[1]).await.status, 204);
    assert_eq!(read(&app, &nurse, &cid, &ids[0]).await.status, 204, "older positions are ignored");
    let c = first_conversation(&app, &nurse).await;
    assert_eq!(c["unread_count"], 1);
    assert_eq!(c["read_state"][&nurse.user_id], ids[1].as_str());
    assert_eq!(c["title"], "Rounds");
    assert_eq!(c["member_ids"], json!([admin.user_id, nurse.user_id]));
    assert_eq!(read(&app, &nurse, &cid, &"0".repeat(32)).await.status, 422);
    // Validation of bodies and attachments.
    assert_eq!(send(&app, &admin, &cid, json!({"body": ""})).await.status, 422);
    assert_eq!(send(&app, &admin, &cid, json!({"body": "x".repeat(65537)})).await.status, 422);
    assert_eq!(send(&app, &admin, &cid, json!({"body": "é".repeat(32768)})).await.status, 201, "65536 bytes of UTF-8");
    assert_eq!(send(&app, &admin, &cid, json!({"body": "x", "attachment_ids": ["0".repeat(32)]})).await.status, 422);
    assert_eq!(send(&app, &admin, &cid, json!({"text": "x"})).await.status, 400);
    // Recall: only the sender; removed for everyone with its attachments; audited.
    let up = upload(&app, &admin, b"lab result".to_vec(), "text/plain", None).await;
    let aid = up["attachment_id"].as_str().unwrap().to_owned();
    let mid = send(&app, &admin, &cid, json!({"body": "results", "attachment_ids": [aid]})).await.json["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/conversations/{cid}/messages/{mid}");
    assert_eq!(app.call("DELETE", &path, Some(&nurse.access), None).await.code(), "forbidden");
    assert_eq!(app.call("DELETE", &path, Some(&admin.access), None).await.status, 204);
    assert_eq!(app.call("DELETE", &path, Some(&admin.access), None).await.status, 404);
    let listed = app.call("GET", &format!("/v1/conversations/{cid}/messages"), Some(&nurse.access), None).await;
    assert!(listed.json["messages"].as_array().unwrap().iter().all(|m| m["message_id"] != mid.as_str()));
    assert_eq!(download(&app, &admin, &aid).await.0, 404);
    let log = app.call("GET", "/v1/admin/audit", Some(&admin.access), None).await;
    assert!(log.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "message.recall" && e["target"] == mid.as_str()));
    // Retention: with 1 day set, older messages and attachments disappear.
    let policy = json!({"app_passcode": {"required": false, "timeout_minutes": 5}, "mfa_required": false, "message_retention_days": 1});
    assert_eq!(
        app.call("PUT", "/v1/admin/policy", Some(&admin.access), Some(policy)).await.json["message_retention_days"],
        1
    );
    let bad = json!({"app_passcode": {"required": false, "timeout_minutes": 5}, "mfa_required": false, "message_retention_days": 0});
    assert_eq!(app.call("PUT", "/v1/admin/policy", Some(&admin.access), Some(bad)).await.status, 422);
    let up = upload(&app, &admin, b"short-lived".to_vec(), "text/plain", None).await;
    let aid = up["attachment_id"].as_str().unwrap().to_owned();
    let mid = send(&app, &admin, &cid, json!({"body": "ephemeral", "attachment_ids": [aid]})).await.json["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.backend.clock.advance(time::Duration::seconds(86400 + 1));
    // (A day later the access tokens have long expired: sign in again.)
    let fresh = crate::flows::login(&app, "acme", "admin@acme.test", crate::flows::PW).await;
    let admin = Account { access: fresh.json["access_token"].as_str().unwrap().to_owned(), ..admin };
    let listed = app.call("GET", &format!("/v1/conversations/{cid}/messages"), Some(&admin.access), None).await;
    assert_eq!(listed.status, 200);
    assert!(listed.json["messages"].as_array().unwrap().iter().all(|m| m["message_id"] != mid.as_str()));
    assert_eq!(download(&app, &admin, &aid).await.0, 404, "the uploader cannot read it either");
    let swept = app.backend.ports.sweeper.clone().unwrap().sweep_expired().await.unwrap();
    assert!(swept >= 2, "message and attachment record swept, got {swept}");
}

#[tokio::test]
async fn uploads_are_limited_and_tampered_attachments_never_decrypt() {
    let app = TestApp::new(Kind::Embedded).await;
    let admin = admin_of(&app, "acme").await;
    // Over 4 MiB: refused by declared length, and by counting when no length is declared.
    let big = vec![0u8; 4 * 1024 * 1024 + 1];
    let req = http::Request::post("/v1/attachments")
        .header("authorization", format!("Bearer {}", admin.access))
        .header("content-length", big.len());
    assert_eq!(app.send(req.body(Body::from(big.clone())).unwrap()).await.code(), "payload_too_large");
    let stream = futures::stream::iter(
        big.chunks(65536).map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c))).collect::<Vec<_>>(),
    );
    let req = http::Request::post("/v1/attachments").header("authorization", format!("Bearer {}", admin.access));
    assert_eq!(app.send(req.body(Body::from_stream(stream)).unwrap()).await.code(), "payload_too_large");
    let exactly = upload(&app, &admin, vec![7u8; 4 * 1024 * 1024], "application/octet-stream", None).await;
    assert_eq!(exactly["size"], 4 * 1024 * 1024);
    // Tampering with the stored ciphertext: a flipped byte, a dropped last segment.
    let data = file();
    let aid = upload(&app, &admin, data.clone(), "image/png", None).await["attachment_id"].as_str().unwrap().to_owned();
    let blobs: Vec<_> =
        crate::helpers::files_under(app.backend.dir.path()).into_iter().filter(|p| p.ends_with(&aid)).collect();
    assert_eq!(blobs.len(), 1);
    let original = std::fs::read(&blobs[0]).unwrap();
    let mut flipped = original.clone();
    flipped[100_000] ^= 0x01;
    std::fs::write(&blobs[0], &flipped).unwrap();
    let (status, _, body) = download(&app, &admin, &aid).await;
    assert!(status != 200 || body.is_err(), "a tampered attachment was served");
    std::fs::write(&blobs[0], &original[..original.len() - 100]).unwrap();
    let (status, _, body) = download(&app, &admin, &aid).await;
    assert!(status != 200 || body.is_err(), "a truncated attachment was served");
    std::fs::write(&blobs[0], &original).unwrap();
    assert_eq!(download(&app, &admin, &aid).await.2.unwrap().as_ref(), data.as_slice());
}

async fn read(app: &TestApp, who: &Account, cid: &str, mid: &str) -> crate::helpers::Reply {
    app.call("POST", &format!("/v1/conversations/{cid}/read"), Some(&who.access), Some(json!({"message_id": mid})))
        .await
}

async fn first_conversation(app: &TestApp, who: &Account) -> Value {
    app.call("GET", "/v1/conversations", Some(&who.access), None).await.json["conversations"][0].clone()
}

async fn blob_exists(app: &TestApp, slug: &str, aid: &str) -> bool {
    let tenant = bulwark::services::tenancy::tenants::id_of_slug(&app.state, slug).await.unwrap().unwrap();
    let key = bulwark::services::messaging::attachments::blob_key(&tenant, aid).unwrap();
    match app.backend.ports.blobs.get(&key).await {
        Ok(_) => true,
        Err(bulwark::ports::BlobError::NotFound) => false,
        Err(e) => panic!("{e}"),
    }
}

async fn expired_attachments_ciphertext_is_deleted(app: &TestApp) {
    // GIVEN an attachment stored before a retention policy, and one stored under a 1-day policy
    let admin = admin_of(app, "acme").await;
    let kept =
        upload(app, &admin, b"kept".to_vec(), "text/plain", None).await["attachment_id"].as_str().unwrap().to_owned();
    let policy = json!({"app_passcode": {"required": false, "timeout_minutes": 5}, "mfa_required": false, "message_retention_days": 1});
    assert_eq!(app.call("PUT", "/v1/admin/policy", Some(&admin.access), Some(policy)).await.status, 200);
    let doomed = upload(app, &admin, b"short-lived".to_vec(), "text/plain", None).await["attachment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // WHEN the sweep runs before the day is over
    assert_eq!(bulwark::services::messaging::attachments::sweep_expired(&app.state).await.unwrap(), 0);
    // THEN nothing is deleted
    assert!(blob_exists(app, "acme", &kept).await && blob_exists(app, "acme", &doomed).await);
    // WHEN the day has passed and the sweep runs (the hourly schedule on AWS; every minute locally)
    app.backend.clock.advance(time::Duration::seconds(86400 + 1));
    assert_eq!(bulwark::services::messaging::attachments::sweep_expired(&app.state).await.unwrap(), 1);
    // THEN the expired attachment's ciphertext is gone, the other one is untouched, and a
    // second sweep finds nothing left to do
    assert!(!blob_exists(app, "acme", &doomed).await, "the S3 object / blob file was not deleted");
    assert!(blob_exists(app, "acme", &kept).await);
    assert_eq!(bulwark::services::messaging::attachments::sweep_expired(&app.state).await.unwrap(), 0);
}
