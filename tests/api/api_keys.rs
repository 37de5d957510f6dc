//! Data-key rotation: new writes use the new version at once, old data stays readable, and
//! the queued re-encryption job moves every encrypted field forward — in both modes.

use bulwark::ports::store::Table;
use serde_json::{json, Value};

use crate::flows::{admin_of, conversation, join, login, tenant_id, upload, Account, PW};
use crate::helpers::{TestApp, OPERATOR_TOKEN};
use crate::on_both_backends;

on_both_backends!(TestApp:
    rotation_keeps_data_readable_and_reencryption_moves_every_field,
    a_newer_rotation_supersedes_a_pending_reencryption,
);

/// The key version of every encrypted field of the tenant's table, by attribute name.
async fn field_versions(app: &TestApp, tenant: &str) -> Vec<(String, u32)> {
    let (mut out, mut cursor) = (Vec::new(), None);
    loop {
        let page = app.backend.ports.store.scan(&Table::Tenant(tenant.into()), 100, cursor).await.unwrap();
        for item in page.items {
            for (name, v) in &item.attrs {
                if let (true, Some(b)) = (name.ends_with("_enc"), v.as_b()) {
                    out.push((name.clone(), bulwark::domain::crypto::key_version(b).unwrap()));
                }
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

async fn keys(app: &TestApp, tenant: &str) -> Value {
    let r = app.call("GET", &format!("/v1/platform/tenants/{tenant}/keys"), Some(OPERATOR_TOKEN), None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    r.json
}

async fn rotate(app: &TestApp, tenant: &str) -> crate::helpers::Reply {
    app.call("POST", &format!("/v1/platform/tenants/{tenant}/keys/rotate"), Some(OPERATOR_TOKEN), None).await
}

/// Users with every kind of encrypted field: email, name, TOTP secret, security questions,
/// device key; a conversation title, message bodies, an attachment's filename and type, a
/// push device token.
async fn populate(app: &TestApp, admin: &Account) -> (Account, String, String) {
    let nurse = join(app, admin, "nurse@acme.test", "member").await;
    let r = app.call("POST", "/v1/me/mfa/totp", Some(&nurse.access), Some(json!({"password": PW}))).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let qs = json!({"password": PW, "questions": [{"question": "First ward?", "answer": "Cardiology"}, {"question": "First pager?", "answer": "Motorola"}]});
    assert_eq!(app.call("PUT", "/v1/me/security-questions", Some(&nurse.access), Some(qs)).await.status, 204);
    assert_eq!(app.call("GET", "/v1/me/device-key", Some(&nurse.access), None).await.status, 200);
    let dev = json!({"platform": "fcm", "token": "fcm-token-of-the-nurse"});
    assert_eq!(app.call("POST", "/v1/me/devices", Some(&nurse.access), Some(dev)).await.status, 201);
    let cid = conversation(app, admin, "Ward 7", &[&nurse.user_id]).await;
    let up = upload(app, admin, b"chart".to_vec(), "text/plain", Some("chart.txt")).await;
    let aid = up["attachment_id"].as_str().unwrap().to_owned();
    let body = json!({"body": "before rotation", "attachment_ids": [aid]});
    let r = app.call("POST", &format!("/v1/conversations/{cid}/messages"), Some(&admin.access), Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.json);
    (nurse, cid, aid)
}

async fn rotation_keeps_data_readable_and_reencryption_moves_every_field(app: &TestApp) {
    // GIVEN a tenant whose data is all under data-key version 1
    let admin = admin_of(app, "acme").await;
    let (nurse, cid, aid) = populate(app, &admin).await;
    let tenant = tenant_id(app, "acme").await;
    let before = field_versions(app, &tenant).await;
    let kinds: std::collections::BTreeSet<&str> = before.iter().map(|(n, _)| n.as_str()).collect();
    for kind in ["email_enc", "display_name_enc", "totp_pending_enc", "security_questions_enc", "device_key_enc"] {
        assert!(kinds.contains(kind), "{kind} missing from {kinds:?}");
    }
    for kind in ["title_enc", "body_enc", "filename_enc", "content_type_enc", "token_enc"] {
        assert!(kinds.contains(kind), "{kind} missing from {kinds:?}");
    }
    assert!(before.iter().all(|(_, v)| *v == 1));
    assert_eq!(keys(app, &tenant).await["reencrypted_through"], 1);

    // WHEN the operator rotates the tenant's key
    let r = rotate(app, &tenant).await;
    assert_eq!(r.status, 202, "{}", r.json);
    assert_eq!(r.json["key_version"], 2);

    // THEN new writes use version 2 at once, and old data still reads
    let body = json!({"body": "after rotation"});
    let r = app.call("POST", &format!("/v1/conversations/{cid}/messages"), Some(&nurse.access), Some(body)).await;
    assert_eq!(r.status, 201);
    let after_rotation = field_versions(app, &tenant).await;
    assert!(after_rotation.iter().any(|(n, v)| n == "body_enc" && *v == 2));
    assert!(after_rotation.iter().any(|(_, v)| *v == 1), "nothing was re-encrypted yet");
    let listed = app.call("GET", &format!("/v1/conversations/{cid}/messages"), Some(&nurse.access), None).await;
    let bodies: Vec<&str> =
        listed.json["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, vec!["after rotation", "before rotation"]);
    let k = keys(app, &tenant).await;
    assert_eq!((k["current_version"].clone(), k["reencrypted_through"].clone()), (json!(2), json!(1)));
    assert_eq!(k["versions"].as_array().unwrap().len(), 2);

    // AND the re-encryption waits for other processes to stop using version 1
    if app.backend.aws.is_none() {
        bulwark::runtime::jobs::drain_maintenance(&app.state).await.unwrap();
        assert!(field_versions(app, &tenant).await.iter().any(|(_, v)| *v == 1), "the job started too early");
    }

    // WHEN that minute has passed and the job runs
    app.backend.clock.advance(time::Duration::seconds(70));
    let mut rounds = 0;
    while bulwark::runtime::jobs::drain_maintenance(&app.state).await.unwrap() > 0 {
        rounds += 1;
        assert!(rounds < 50, "the re-encryption never finished");
    }

    // THEN every encrypted field is under version 2, and everything still reads
    let after = field_versions(app, &tenant).await;
    assert!(after.len() >= before.len());
    assert!(
        after.iter().all(|(_, v)| *v == 2),
        "left behind: {:?}",
        after.iter().filter(|(_, v)| *v != 2).collect::<Vec<_>>()
    );
    assert_eq!(keys(app, &tenant).await["reencrypted_through"], 2);
    let fresh = login(app, "acme", "nurse@acme.test", PW).await;
    assert_eq!(fresh.status, 200, "the email index and the login still work: {}", fresh.json);
    let nurse_access = fresh.json["access_token"].as_str().unwrap().to_owned();
    let me = app.call("GET", "/v1/me", Some(&nurse_access), None).await;
    assert_eq!(
        (me.json["email"].as_str(), me.json["display_name"].as_str()),
        (Some("nurse@acme.test"), Some("Grace Member"))
    );
    let convs = app.call("GET", "/v1/conversations", Some(&nurse_access), None).await;
    assert_eq!(convs.json["conversations"][0]["title"], "Ward 7");
    let req =
        http::Request::get(format!("/v1/attachments/{aid}")).header("authorization", format!("Bearer {nurse_access}"));
    let (status, headers, bytes) =
        crate::helpers::send_raw(app.router(), req.body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!(status, 200);
    assert!(headers["content-disposition"].to_str().unwrap().contains("chart.txt"));
    assert_eq!(bytes.unwrap().as_ref(), b"chart");
    // AND rotation and re-encryption are in the tenant's audit log
    let audit = app.call("GET", "/v1/admin/audit", Some(&admin.access), None).await;
    let actions: Vec<&str> =
        audit.json["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"keys.rotate") && actions.contains(&"keys.reencrypt"), "{actions:?}");
}

async fn a_newer_rotation_supersedes_a_pending_reencryption(app: &TestApp) {
    // GIVEN a tenant with data, and outsiders
    let admin = admin_of(app, "acme").await;
    populate(app, &admin).await;
    let tenant = tenant_id(app, "acme").await;
    // Only the operator may rotate or look; unknown tenants are 404.
    let path = format!("/v1/platform/tenants/{tenant}/keys/rotate");
    assert_eq!(app.call("POST", &path, None, None).await.status, 401);
    assert_eq!(app.call("POST", &path, Some("wrong-token"), None).await.status, 401);
    assert_eq!(app.call("POST", &path, Some(&admin.access), None).await.status, 401);
    assert_eq!(
        app.call("GET", &format!("/v1/platform/tenants/{tenant}/keys"), Some(&admin.access), None).await.status,
        401
    );
    assert_eq!(rotate(app, &"0".repeat(32)).await.status, 404);
    assert_eq!(rotate(app, "not-a-tenant").await.status, 404);
    // WHEN the key is rotated twice before any job runs
    assert_eq!(rotate(app, &tenant).await.json["key_version"], 2);
    assert_eq!(rotate(app, &tenant).await.json["key_version"], 3);
    app.backend.clock.advance(time::Duration::seconds(70));
    while bulwark::runtime::jobs::drain_maintenance(&app.state).await.unwrap() > 0 {}
    // THEN everything ends under version 3 and the data still reads
    assert!(field_versions(app, &tenant).await.iter().all(|(_, v)| *v == 3));
    let k = keys(app, &tenant).await;
    assert_eq!((k["current_version"].clone(), k["reencrypted_through"].clone()), (json!(3), json!(3)));
    assert_eq!(login(app, "acme", "nurse@acme.test", PW).await.status, 200);
}
