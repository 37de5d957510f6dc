//! The operator's tools: tenants listed, disabled and enabled (both backends), and embedded
//! backups — a snapshot taken while writes go on, the data directory wiped, the snapshot
//! restored into an empty directory and verified, and everything acknowledged before the
//! snapshot back and readable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::json;

use crate::flows::{admin_of, conversation, join, login, upload, PW};
use crate::helpers::{json_request, send, TestApp, OPERATOR_TOKEN};
use crate::on_both_backends;

on_both_backends!(TestApp: a_disabled_tenant_signs_nobody_in_and_honours_no_token);

async fn a_disabled_tenant_signs_nobody_in_and_honours_no_token(app: &TestApp) {
    // GIVEN two tenants with signed-in users
    let admin = admin_of(app, "acme").await;
    let other = admin_of(app, "globex").await;
    let listed = app.call("GET", "/v1/platform/tenants?limit=100", Some(OPERATOR_TOKEN), None).await;
    let tenants = listed.json["tenants"].as_array().unwrap();
    let acme = tenants.iter().find(|t| t["slug"] == "acme").unwrap()["tenant_id"].as_str().unwrap().to_owned();
    assert_eq!(tenants.iter().filter(|t| t["status"] == "active").count(), 2, "{}", listed.json);
    assert_eq!(app.call("GET", "/v1/platform/tenants", Some(&admin.access), None).await.status, 401);
    // WHEN the operator disables one
    let r = app.call("POST", &format!("/v1/platform/tenants/{acme}/disable"), Some(OPERATOR_TOKEN), None).await;
    assert_eq!((r.status, r.json["status"].as_str()), (200, Some("disabled")), "{}", r.json);
    app.backend.clock.advance(time::Duration::seconds(31));
    // THEN its users can neither sign in, refresh nor use their tokens; the other tenant is untouched
    assert_eq!(login(app, "acme", "admin@acme.test", PW).await.code(), "invalid_credentials");
    assert_eq!(app.call("GET", "/v1/me", Some(&admin.access), None).await.status, 401);
    let refresh = app.call("POST", "/v1/auth/refresh", None, Some(json!({"refresh_token": admin.refresh}))).await;
    assert_eq!(refresh.code(), "session_expired");
    assert_eq!(app.call("GET", "/v1/me", Some(&other.access), None).await.status, 200);
    // WHEN it is enabled again THEN its users sign in again
    let r = app.call("POST", &format!("/v1/platform/tenants/{acme}/enable"), Some(OPERATOR_TOKEN), None).await;
    assert_eq!(r.json["status"], "active");
    app.backend.clock.advance(time::Duration::seconds(31));
    assert_eq!(login(app, "acme", "admin@acme.test", PW).await.status, 200);
    let unknown = format!("/v1/platform/tenants/{}/disable", "0".repeat(32));
    assert_eq!(app.call("POST", &unknown, Some(OPERATOR_TOKEN), None).await.status, 404);
    // AND both changes are in the tenant's audit log
    let admin = crate::flows::signed_in(app, "acme", "admin@acme.test", admin.user_id.clone()).await;
    let audit = app.call("GET", "/v1/admin/audit?limit=100", Some(&admin.access), None).await.json.to_string();
    assert!(audit.contains("tenant.disable") && audit.contains("tenant.enable"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_under_load_restores_everything_acknowledged_before_it() {
    // GIVEN an embedded tenant with users, a conversation, messages and an attachment
    let app = TestApp::new(crate::helpers::Kind::Embedded).await;
    let admin = admin_of(&app, "acme").await;
    let nurse = join(&app, &admin, "nurse@acme.test", "member").await;
    let cid = conversation(&app, &admin, "Ward 7", &[&nurse.user_id]).await;
    let file: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let aid = upload(&app, &admin, file.clone(), "application/pdf", Some("scan.pdf")).await["attachment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/conversations/{cid}/messages");
    // Writes keep coming while the snapshot is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (router, token, path, stop) = (app.router(), admin.access.clone(), path.clone(), stop.clone());
        tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let body = json!({"body": format!("observation {i}")});
                let r = send(router.clone(), json_request("POST", &path, Some(&token), Some(body))).await;
                assert_eq!(r.status, 201);
                acked.push((std::time::Instant::now(), format!("observation {i}")));
                i += 1;
            }
            acked
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let backups = crate::helpers::TempDir::new();
    let started = std::time::Instant::now();
    let (snapshot, report) =
        bulwark::runtime::backup::take(&app.state.ports, backups.path(), bulwark::runtime::backup::Kind::Hourly)
            .await
            .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    let acked = writer.await.unwrap();
    let before: Vec<&String> = acked.iter().filter(|(at, _)| *at < started).map(|(_, b)| b).collect();
    assert!(before.len() >= 5, "writes went on before the snapshot ({} of {})", before.len(), acked.len());
    assert!(acked.iter().any(|(at, _)| *at > started), "writes went on during and after the snapshot");
    assert!(report.files >= 3 && report.bytes > 300_000, "{report:?}");
    // A second snapshot links the unchanged blobs instead of copying them.
    let (_, again) =
        bulwark::runtime::backup::take(&app.state.ports, backups.path(), bulwark::runtime::backup::Kind::Nightly)
            .await
            .unwrap();
    assert!(again.linked >= 1, "{again:?}");
    // WHEN the data directory is lost and the snapshot is restored into an empty directory
    drop(app);
    let restored = crate::helpers::TempDir::new();
    let target = restored.path().join("data");
    let passphrase = Some("correct horse battery staple".to_owned().into());
    let integrity = bulwark::runtime::backup::restore(&snapshot, &target, passphrase).await.unwrap();
    assert!(
        integrity.problems.is_empty() && integrity.attachments == 1 && integrity.sealed_fields > 10,
        "{integrity:?}"
    );
    // A wrong passphrase restores nothing usable.
    let wrong = restored.path().join("wrong");
    assert!(bulwark::runtime::backup::restore(&snapshot, &wrong, Some("not the passphrase".to_owned().into()))
        .await
        .is_err());
    // THEN a server on it has every user, every message acknowledged before the snapshot and the attachment
    use bulwark::runtime::backend::{EmbeddedSettings, Wiring};
    let ports = bulwark::ports::Ports::embedded(
        EmbeddedSettings {
            data_dir: target,
            push: crate::helpers::test_push_settings(),
            passphrase: Some("correct horse battery staple".to_owned().into()),
            mail_from: crate::helpers::MAIL_FROM.into(),
        },
        Arc::new(bulwark::ports::clock::SystemClock),
    )
    .unwrap();
    let state = bulwark::runtime::app::application(ports, crate::helpers::test_settings(120));
    let router = bulwark::http::app(state);
    let r = send(
        router.clone(),
        json_request(
            "POST",
            "/v1/auth/login",
            None,
            Some(json!({"tenant": "acme", "email": "nurse@acme.test", "password": PW})),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let token = r.json["access_token"].as_str().unwrap().to_owned();
    let mut bodies = Vec::new();
    let mut cursor = String::new();
    loop {
        let r =
            send(router.clone(), json_request("GET", &format!("{path}?limit=100{cursor}"), Some(&token), None)).await;
        assert_eq!(r.status, 200, "{}", r.json);
        bodies.extend(r.json["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap().to_owned()));
        match r.json["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    for b in before {
        assert!(bodies.contains(b), "{b} was acknowledged before the snapshot but is missing");
    }
    // The uploader downloads the attachment: the same bytes, decrypted from the restored blob.
    let r = send(
        router.clone(),
        json_request(
            "POST",
            "/v1/auth/login",
            None,
            Some(json!({"tenant": "acme", "email": "admin@acme.test", "password": PW})),
        ),
    )
    .await;
    let admin_token = r.json["access_token"].as_str().unwrap().to_owned();
    let req =
        http::Request::get(format!("/v1/attachments/{aid}")).header("authorization", format!("Bearer {admin_token}"));
    let (status, _, bytes) = crate::helpers::send_raw(router, req.body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(bytes.unwrap().as_ref(), &file[..]);
}
