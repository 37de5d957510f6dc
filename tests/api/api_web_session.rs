//! The web session mode (README "Web session mode"), through the router on both backends: with
//! `X-Bulwark-Session: web` the refresh token travels only in an `HttpOnly; Secure;
//! SameSite=Strict` cookie on `/v1/auth`; refresh and logout use it; the custom header and the
//! Origin check keep other sites from using it; the idle timeout, reuse detection and logout
//! behave as for mobile; without the header the JSON token pair is unchanged. Also the local
//! server's web app files and their security headers.

use axum::body::Body;
use serde_json::json;

use crate::flows::{admin_of, code_at, enrol, join, next_step, PW};
use crate::helpers::{send_raw, Reply, TempDir, TestApp};
use crate::on_both_backends;

on_both_backends!(
    TestApp: sign_in_refresh_and_log_out_with_the_cookie,
    the_cookie_is_used_only_with_the_header_and_from_this_origin,
    reuse_idle_timeout_and_remote_wipe_end_a_web_session,
    mfa_completion_sets_the_cookie
);

const ORIGIN: &str = "https://app.bulwark.test";

fn web_request(method: &str, path: &str, cookie: Option<&str>, body: Option<serde_json::Value>) -> http::Request<Body> {
    let mut b = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "api.bulwark.test")
        .header("origin", ORIGIN)
        .header("x-bulwark-session", "web");
    if let Some(c) = cookie {
        b = b.header("cookie", format!("theme=dark; bulwark_refresh={c}"));
    }
    match body {
        Some(v) => b.header("content-type", "application/json").body(Body::from(v.to_string())).unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

/// The refresh token a response put in the cookie, after checking the cookie's attributes.
fn cookie_of(r: &Reply) -> String {
    let set = r.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert_eq!(set.len(), 1, "{set:?}");
    let c = &set[0];
    for attr in ["; Path=/v1/auth", "; HttpOnly", "; Secure", "; SameSite=Strict", "; Max-Age=259200"] {
        assert!(c.contains(attr), "{attr} missing from {c}");
    }
    let value = c.strip_prefix("bulwark_refresh=").unwrap().split(';').next().unwrap().to_owned();
    assert!(!value.is_empty());
    value
}

fn clears_cookie(r: &Reply) -> bool {
    r.headers.get_all("set-cookie").iter().any(|v| {
        let v = v.to_str().unwrap();
        v.starts_with("bulwark_refresh=;") && v.contains("Max-Age=0") && v.contains("Path=/v1/auth")
    })
}

async fn web_login(app: &TestApp, email: &str) -> Reply {
    let body = json!({"tenant": "acme", "email": email, "password": PW});
    app.send(web_request("POST", "/v1/auth/login", None, Some(body))).await
}

async fn sign_in_refresh_and_log_out_with_the_cookie(app: &TestApp) {
    let admin = admin_of(app, "acme").await;
    // Mobile clients are unaffected: the pair in the body, no cookie.
    assert!(!admin.refresh.is_empty());
    let r = crate::flows::login(app, "acme", "admin@acme.test", PW).await;
    assert!(r.json["refresh_token"].is_string() && r.headers.get("set-cookie").is_none());

    let r = web_login(app, "admin@acme.test").await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(r.json.get("refresh_token").is_none(), "never in the body: {}", r.json);
    assert_eq!(r.json["token_type"], "Bearer");
    let access = r.json["access_token"].as_str().unwrap().to_owned();
    let cookie = cookie_of(&r);
    assert_eq!(app.call("GET", "/v1/me", Some(&access), None).await.status, 200);

    // Refresh takes no body in this mode; the cookie rotates.
    let r = app.send(web_request("POST", "/v1/auth/refresh", Some(&cookie), None)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(r.json.get("refresh_token").is_none());
    let cookie2 = cookie_of(&r);
    assert_ne!(cookie, cookie2);
    let access2 = r.json["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.call("GET", "/v1/me", Some(&access2), None).await.status, 200);

    // Logout clears the cookie and kills the session: its access and refresh tokens die.
    let mut req = web_request("POST", "/v1/auth/logout", Some(&cookie2), None);
    req.headers_mut().insert("authorization", format!("Bearer {access2}").parse().unwrap());
    let r = app.send(req).await;
    assert_eq!(r.status, 204);
    assert!(clears_cookie(&r));
    assert_eq!(app.call("GET", "/v1/me", Some(&access2), None).await.status, 401);
    let r = app.send(web_request("POST", "/v1/auth/refresh", Some(&cookie2), None)).await;
    assert_eq!(r.status, 401);
    assert!(clears_cookie(&r));
    // No cookie at all: sign in again.
    let r = app.send(web_request("POST", "/v1/auth/refresh", None, None)).await;
    assert_eq!((r.status, r.code()), (401, "session_expired"));
}

async fn the_cookie_is_used_only_with_the_header_and_from_this_origin(app: &TestApp) {
    admin_of(app, "acme").await;
    let cookie = cookie_of(&web_login(app, "admin@acme.test").await);
    // Without the custom header (what a cross-site form could send) the cookie is ignored: the
    // route is the mobile one and wants the token in a JSON body.
    let forged = http::Request::post("/v1/auth/refresh")
        .header("cookie", format!("bulwark_refresh={cookie}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("refresh_token=x"))
        .unwrap();
    assert_eq!(app.send(forged).await.status, 415);
    let forged = http::Request::post("/v1/auth/refresh")
        .header("cookie", format!("bulwark_refresh={cookie}"))
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(app.send(forged).await.code(), "invalid_request");
    // Another site's origin is refused even with the header.
    let mut req = web_request("POST", "/v1/auth/refresh", Some(&cookie), None);
    req.headers_mut().insert("origin", "https://evil.test".parse().unwrap());
    assert_eq!(app.send(req).await.code(), "forbidden");
    // A same-origin request (Origin = this host) and a request without Origin are fine; the
    // cookie was never spent by the refused ones.
    let mut req = web_request("POST", "/v1/auth/refresh", Some(&cookie), None);
    req.headers_mut().insert("origin", "https://api.bulwark.test".parse().unwrap());
    let r = app.send(req).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let mut req = web_request("POST", "/v1/auth/refresh", Some(&cookie_of(&r)), None);
    req.headers_mut().remove("origin");
    assert_eq!(app.send(req).await.status, 200);
    // Any other value of the mode header is a client bug.
    let mut req = web_request("POST", "/v1/auth/refresh", Some(&cookie), None);
    req.headers_mut().insert("x-bulwark-session", "cookie".parse().unwrap());
    assert_eq!(app.send(req).await.code(), "invalid_request");
}

async fn reuse_idle_timeout_and_remote_wipe_end_a_web_session(app: &TestApp) {
    let admin = admin_of(app, "acme").await;
    let member = join(app, &admin, "grace@acme.test", "member").await;
    // A spent cookie presented again (a stolen copy) revokes the session, as for mobile.
    let first = cookie_of(&web_login(app, "grace@acme.test").await);
    let r = app.send(web_request("POST", "/v1/auth/refresh", Some(&first), None)).await;
    let second = cookie_of(&r);
    let r = app.send(web_request("POST", "/v1/auth/refresh", Some(&first), None)).await;
    assert_eq!((r.status, r.code()), (401, "session_expired"));
    let r = app.send(web_request("POST", "/v1/auth/refresh", Some(&second), None)).await;
    assert_eq!((r.status, r.code()), (401, "session_expired"));

    // 72 h idle: dead.
    let cookie = cookie_of(&web_login(app, "grace@acme.test").await);
    app.backend.clock.advance(time::Duration::hours(72) + time::Duration::minutes(1));
    let r = app.send(web_request("POST", "/v1/auth/refresh", Some(&cookie), None)).await;
    assert_eq!((r.status, r.code()), (401, "session_expired"));

    // The admin's device-key reset (remote wipe) ends the browser's session too.
    let r = web_login(app, "grace@acme.test").await;
    let (access, cookie) = (r.json["access_token"].as_str().unwrap().to_owned(), cookie_of(&r));
    let admin = crate::flows::signed_in(app, "acme", "admin@acme.test", admin.user_id).await;
    let path = format!("/v1/admin/users/{}/device-key/reset", member.user_id);
    assert_eq!(app.call("POST", &path, Some(&admin.access), None).await.status, 204);
    let r = app.call("GET", "/v1/conversations", Some(&access), None).await;
    assert_eq!((r.status, r.code()), (401, "unauthorized"));
    let r = app.send(web_request("POST", "/v1/auth/refresh", Some(&cookie), None)).await;
    assert_eq!(r.status, 401);
}

async fn mfa_completion_sets_the_cookie(app: &TestApp) {
    let admin = admin_of(app, "acme").await;
    let (uri, codes) = enrol(app, &admin).await;
    let r = web_login(app, "admin@acme.test").await;
    assert_eq!(r.json["mfa_required"], true);
    assert!(r.headers.get("set-cookie").is_none(), "no session before the second factor");
    let token = r.json["mfa_token"].as_str().unwrap().to_owned();
    next_step(app);
    let body = json!({"mfa_token": token, "code": code_at(&uri, app)});
    let r = app.send(web_request("POST", "/v1/auth/mfa", None, Some(body))).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(r.json.get("refresh_token").is_none());
    let cookie = cookie_of(&r);
    assert_eq!(app.send(web_request("POST", "/v1/auth/refresh", Some(&cookie), None)).await.status, 200);
    // A recovery code in place of the TOTP code, likewise.
    let token = web_login(app, "admin@acme.test").await.json["mfa_token"].as_str().unwrap().to_owned();
    let body = json!({"mfa_token": token, "code": codes[0]});
    let r = app.send(web_request("POST", "/v1/auth/mfa", None, Some(body))).await;
    assert_eq!(r.status, 200, "{}", r.json);
    cookie_of(&r);
}

/// A built app in a temporary folder, served beside the API.
fn site(app: &TestApp) -> (TempDir, axum::Router) {
    let dir = TempDir::new();
    std::fs::create_dir_all(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("index.html"), "<!doctype html><title>Bulwark</title>").unwrap();
    std::fs::write(dir.path().join("assets/index-Ab_1.js"), "console.log(1)").unwrap();
    let router = bulwark::runtime::web::with_app(app.router(), Some(dir.path().to_owned()));
    (dir, router)
}

async fn get(router: &axum::Router, path: &str) -> (u16, http::HeaderMap, String) {
    let req = http::Request::get(path).body(Body::empty()).unwrap();
    let (status, headers, body) = send_raw(router.clone(), req).await;
    (status, headers, String::from_utf8(body.unwrap().to_vec()).unwrap())
}

#[tokio::test]
async fn the_local_server_serves_the_app_with_security_headers() {
    let app = TestApp::new(crate::helpers::Kind::Embedded).await;
    let (_dir, router) = site(&app);
    let (status, h, body) = get(&router, "/").await;
    assert_eq!(status, 200);
    assert!(body.contains("<title>Bulwark</title>"));
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self';") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert!(h["strict-transport-security"].to_str().unwrap().starts_with("max-age="));
    assert_eq!(h["cache-control"], "no-cache");
    // Hashed assets are cached for good; screens fall back to index.html; a missing asset is 404.
    let (status, h, _) = get(&router, "/assets/index-Ab_1.js").await;
    assert_eq!((status, h["content-type"].to_str().unwrap()), (200, "text/javascript; charset=utf-8"));
    assert!(h["cache-control"].to_str().unwrap().contains("immutable"));
    let (status, _, body) = get(&router, "/admin/users").await;
    assert_eq!(status, 200);
    assert!(body.contains("<title>Bulwark</title>"));
    assert_eq!(get(&router, "/assets/missing.js").await.0, 404);
    // Nothing outside the folder, whatever the path.
    for path in ["/../Cargo.toml", "/assets/../../README.md", "/%2e%2e/Cargo.toml"] {
        let (_, _, body) = get(&router, path).await;
        assert!(!body.contains("[package]") && !body.contains("# Bulwark"), "{path}");
    }
    // The API keeps its JSON answers, 404 included; the app's config says "same origin".
    let (status, _, body) = get(&router, "/v1/nothing-here").await;
    assert_eq!(status, 404);
    assert!(body.contains("\"not_found\""));
    assert_eq!(get(&router, "/config.json").await.2, "{\"api_url\":\"\"}");
    let r = crate::helpers::send(router.clone(), crate::helpers::json_request("GET", "/v1/me", None, None)).await;
    assert_eq!(r.code(), "unauthorized");
}
