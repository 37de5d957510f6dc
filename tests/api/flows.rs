//! The API flows many tests start from, through the router: a tenant with its admin, members
//! who accepted their invitations, conversations, attachments, TOTP enrolment. Test files take
//! these from here, never from each other.

use axum::body::Body;
use serde_json::{json, Value};

use crate::helpers::{send_raw, Reply, TestApp};

pub const PW: &str = "Correct-Horse-Battery-9";

#[derive(Clone)]
pub struct Account {
    pub slug: String,
    pub user_id: String,
    pub access: String,
    pub refresh: String,
}

pub async fn login(app: &TestApp, slug: &str, email: &str, password: &str) -> Reply {
    app.call("POST", "/v1/auth/login", None, Some(json!({"tenant": slug, "email": email, "password": password}))).await
}

pub async fn accept(app: &TestApp, token: &str, password: &str, name: &str) -> Reply {
    app.call(
        "POST",
        "/v1/invitations/accept",
        None,
        Some(json!({"token": token, "password": password, "display_name": name})),
    )
    .await
}

pub async fn signed_in(app: &TestApp, slug: &str, email: &str, user_id: String) -> Account {
    let r = login(app, slug, email, PW).await;
    assert_eq!(r.status, 200, "{}", r.json);
    Account {
        slug: slug.into(),
        user_id,
        access: r.json["access_token"].as_str().unwrap().into(),
        refresh: r.json["refresh_token"].as_str().unwrap().into(),
    }
}

/// A new tenant and its first admin, signed in.
pub async fn admin_of(app: &TestApp, slug: &str) -> Account {
    let email = format!("admin@{slug}.test");
    assert_eq!(app.create_tenant(slug, &email).await.status, 201);
    let token = app.token_mailed_to(&email, "invited").await.expect("invitation mailed");
    let r = accept(app, &token, PW, "Ada Admin").await;
    assert_eq!(r.status, 201, "{}", r.json);
    signed_in(app, slug, &email, r.json["user_id"].as_str().unwrap().into()).await
}

/// Invite `email` as `role`, accept and sign in.
pub async fn join(app: &TestApp, admin: &Account, email: &str, role: &str) -> Account {
    let r = app
        .call("POST", "/v1/admin/invitations", Some(&admin.access), Some(json!({"email": email, "role": role})))
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let token = app.token_mailed_to(email, "invited").await.unwrap();
    let r = accept(app, &token, PW, "Grace Member").await;
    assert_eq!(r.status, 201, "{}", r.json);
    signed_in(app, &admin.slug, email, r.json["user_id"].as_str().unwrap().into()).await
}

pub async fn conversation(app: &TestApp, who: &Account, title: &str, members: &[&str]) -> String {
    let r = app
        .call("POST", "/v1/conversations", Some(&who.access), Some(json!({"title": title, "member_ids": members})))
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    r.json["conversation_id"].as_str().unwrap().to_owned()
}

pub async fn send(app: &TestApp, who: &Account, cid: &str, body: Value) -> crate::helpers::Reply {
    app.call("POST", &format!("/v1/conversations/{cid}/messages"), Some(&who.access), Some(body)).await
}

pub async fn upload(app: &TestApp, who: &Account, bytes: Vec<u8>, ctype: &str, name: Option<&str>) -> Value {
    let mut req = upload_request(who, ctype, Body::from(bytes));
    if let Some(n) = name {
        req.headers_mut().insert("x-filename", n.parse().unwrap());
    }
    let r = app.send(req).await;
    assert_eq!(r.status, 201, "{}", r.json);
    r.json
}

/// `POST /v1/attachments` of `body` by `who`, unsent.
pub fn upload_request(who: &Account, ctype: &str, body: Body) -> http::Request<Body> {
    http::Request::post("/v1/attachments")
        .header("authorization", format!("Bearer {}", who.access))
        .header("content-type", ctype)
        .body(body)
        .unwrap()
}

pub async fn download(app: &TestApp, who: &Account, aid: &str) -> (u16, http::HeaderMap, Result<bytes::Bytes, String>) {
    let req =
        http::Request::get(format!("/v1/attachments/{aid}")).header("authorization", format!("Bearer {}", who.access));
    send_raw(app.router(), req.body(Body::empty()).unwrap()).await
}

pub fn code_at(uri: &str, app: &TestApp) -> String {
    let totp = totp_rs::TOTP::from_url(uri).unwrap();
    totp.generate(bulwark::ports::clock::Clock::now_secs(&*app.backend.clock) as u64)
}

pub fn next_step(app: &TestApp) {
    app.backend.clock.advance(time::Duration::seconds(30));
}

/// Enrol `who` in TOTP; returns the otpauth URI and the recovery codes.
pub async fn enrol(app: &TestApp, who: &Account) -> (String, Vec<String>) {
    let r = app.call("POST", "/v1/me/mfa/totp", Some(&who.access), Some(json!({"password": PW}))).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let uri = r.json["otpauth_uri"].as_str().unwrap().to_owned();
    assert_eq!(r.json["secret"].as_str().unwrap().len(), 32);
    let r =
        app.call("POST", "/v1/me/mfa/totp/confirm", Some(&who.access), Some(json!({"code": code_at(&uri, app)}))).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let codes = r.json["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    (uri, codes)
}

pub async fn mfa_token(app: &TestApp, email: &str) -> String {
    let r = login(app, "acme", email, PW).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["mfa_required"], true);
    assert!(r.json.get("access_token").is_none(), "no tokens before the second factor");
    r.json["mfa_token"].as_str().unwrap().to_owned()
}

pub async fn second_factor(app: &TestApp, token: &str, code: &str) -> crate::helpers::Reply {
    app.call("POST", "/v1/auth/mfa", None, Some(json!({"mfa_token": token, "code": code}))).await
}

pub async fn tenant_id(app: &TestApp, slug: &str) -> String {
    bulwark::services::tenancy::tenants::id_of_slug(&app.state, slug).await.unwrap().unwrap().as_str().to_owned()
}
