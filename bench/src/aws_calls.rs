//! Part 6: AWS API calls per route, cold and warm: the application in AWS mode against a moto
//! server, in this process, counted by the SDK interceptor.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use bulwark::runtime::test_support::{capture_mail, ensure_platform, moto_sdk_config, provision_moto};
use serde_json::{json, Value};

use crate::client::{call, expect, http};
use crate::fixture::{accept, file, Mailbox};
use crate::{MIB, OPERATOR, PASSWORD};

pub async fn aws_calls(endpoint: &str) -> Result<Value> {
    let sdk = moto_sdk_config(endpoint).await;
    // What the SAM template would create.
    let suffix = &format!("{:x}", std::process::id())[..];
    let (prefix, bucket) = (format!("bench{suffix}"), format!("bulwark-bench-{suffix}"));
    let push = bulwark::runtime::backend::PushSettings::default();
    let settings = provision_moto(&sdk, &prefix, &bucket, "Bulwark <no-reply@bench.test>", push).await?;
    let mut ports = <bulwark::ports::Ports as bulwark::runtime::backend::Wiring>::aws(
        settings,
        &sdk,
        Arc::new(bulwark::ports::clock::SystemClock),
    );
    ensure_platform(&ports).await?;
    let sent = capture_mail(&mut ports);
    let state = bulwark::runtime::app::application(ports, crate::app_settings());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    tokio::spawn(async move { axum::serve(listener, bulwark::http::app(state)).await });
    let mail = Mailbox::Captured(sent);

    // Each step: its route and the calls it made, the first time (cold caches) and again (warm).
    let mut rows: Vec<Value> = Vec::new();
    let mut record = |route: &str, cold: BTreeMap<String, u64>, warm: Option<BTreeMap<String, u64>>| {
        let total = |m: &BTreeMap<String, u64>| m.values().sum::<u64>();
        rows.push(json!({
            "route": route,
            "cold_calls": total(&cold),
            "cold": cold,
            "warm_calls": warm.as_ref().map(total),
            "warm": warm,
        }));
    };
    use bulwark::adapters::aws::calls::{since, snapshot};
    let t = snapshot();
    let tenant = json!({"slug": "bench", "name": "Bench Clinic", "admin_email": "admin@bench.test"});
    expect(call(&addr, "POST", "/v1/platform/tenants", Some(OPERATOR), Some(tenant)).await?, 201, "create tenant")?;
    record("POST /v1/platform/tenants", since(&t), None);
    let t = snapshot();
    let token = mail.invitation_for("admin@bench.test")?;
    let body = json!({"token": token, "password": PASSWORD, "display_name": "Bench Admin"});
    expect(call(&addr, "POST", "/v1/invitations/accept", None, Some(body)).await?, 201, "accept")?;
    record("POST /v1/invitations/accept", since(&t), None);
    let login = json!({"tenant": "bench", "email": "admin@bench.test", "password": PASSWORD});
    let twice = |method: &'static str, path: String, token: Option<String>, body: Option<Value>, status: u16| {
        let addr = addr.clone();
        async move {
            let mut out = Vec::new();
            let mut last = Value::Null;
            for _ in 0..2 {
                let t = snapshot();
                last = expect(call(&addr, method, &path, token.as_deref(), body.clone()).await?, status, &path)?;
                out.push(since(&t));
            }
            let warm = out.pop();
            Ok::<_, anyhow::Error>((out.pop().unwrap_or_default(), warm, last))
        }
    };
    let (cold, warm, r) = twice("POST", "/v1/auth/login".into(), None, Some(login), 200).await?;
    record("POST /v1/auth/login", cold, warm);
    let admin = r["access_token"].as_str().context("no token")?.to_owned();
    let refresh = r["refresh_token"].as_str().context("no refresh")?.to_owned();
    let t = snapshot();
    let r = expect(
        call(&addr, "POST", "/v1/auth/refresh", None, Some(json!({"refresh_token": refresh}))).await?,
        200,
        "refresh",
    )?;
    record("POST /v1/auth/refresh", since(&t), None);
    let admin = r["access_token"].as_str().map(str::to_owned).unwrap_or(admin);
    let (cold, warm, me) = twice("GET", "/v1/me".into(), Some(admin.clone()), None, 200).await?;
    record("GET /v1/me", cold, warm);
    let invite = json!({"email": "member@bench.test", "role": "member"});
    let t = snapshot();
    expect(call(&addr, "POST", "/v1/admin/invitations", Some(&admin), Some(invite)).await?, 201, "invite")?;
    record("POST /v1/admin/invitations", since(&t), None);
    let member = accept(&addr, &mail, "member@bench.test").await?;
    let member_me = expect(call(&addr, "GET", "/v1/me", Some(&member), None).await?, 200, "me")?;
    // A recipient with a push device, so a send pays for its push (a tenant without any
    // device queues none).
    let t = snapshot();
    let device = json!({"platform": "fcm", "token": "bench-device-token"});
    expect(call(&addr, "POST", "/v1/me/devices", Some(&member), Some(device)).await?, 201, "register a device")?;
    record("POST /v1/me/devices", since(&t), None);
    let conv = json!({"title": "Bench ward", "member_ids": [member_me["user_id"]]});
    let (cold, warm, r) = twice("POST", "/v1/conversations".into(), Some(admin.clone()), Some(conv), 201).await?;
    record("POST /v1/conversations", cold, warm);
    let cid = r["conversation_id"].as_str().context("no conversation")?.to_owned();
    let msgs = format!("/v1/conversations/{cid}/messages");
    let (cold, warm, r) = twice("POST", msgs.clone(), Some(admin.clone()), Some(json!({"body": "hello"})), 201).await?;
    record("POST /v1/conversations/{id}/messages", cold, warm);
    let mid = r["message_id"].as_str().context("no message id")?.to_owned();
    let (cold, warm, _) = twice("GET", msgs.clone(), Some(member.clone()), None, 200).await?;
    record("GET /v1/conversations/{id}/messages", cold, warm);
    let (cold, warm, _) = twice("GET", "/v1/conversations".into(), Some(member.clone()), None, 200).await?;
    record("GET /v1/conversations", cold, warm);
    let read = json!({"message_id": mid});
    let (cold, warm, _) =
        twice("POST", format!("/v1/conversations/{cid}/read"), Some(member.clone()), Some(read), 204).await?;
    record("POST /v1/conversations/{id}/read", cold, warm);
    let data = file(MIB);
    let t = snapshot();
    let up = http(&addr, "POST", "/v1/attachments", Some(&admin), Some(("application/octet-stream", &data))).await?;
    let aid = expect(up, 201, "upload")?["attachment_id"].as_str().context("no id")?.to_owned();
    record("POST /v1/attachments (1 MiB)", since(&t), None);
    let (cold, warm, _) = twice("GET", "/v1/policy".into(), Some(admin.clone()), None, 200).await?;
    record("GET /v1/policy", cold, warm);
    let t = snapshot();
    let down = http(&addr, "GET", &format!("/v1/attachments/{aid}"), Some(&admin), None).await?;
    if down.status != 200 {
        bail!("download: {}", down.status);
    }
    record("GET /v1/attachments/{id} (1 MiB)", since(&t), None);
    let _ = me;
    Ok(json!({ "routes": rows }))
}
