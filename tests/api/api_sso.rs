//! Single sign-on (API.md "Single sign-on"), on both backends: the tenant policy's
//! `sso_required`, with admins as break-glass.

use serde_json::{json, Value};

use crate::flows::{admin_of, join, login, Account, PW};
use crate::helpers::{Reply, TestApp};
use crate::on_both_backends;
fn policy(sso_required: Option<bool>) -> Value {
    let mut p = json!({"app_passcode": {"required": false, "timeout_minutes": 5}, "mfa_required": false});
    if let Some(v) = sso_required {
        p["sso_required"] = json!(v);
    }
    p
}

async fn put_policy(app: &TestApp, admin: &Account, sso_required: Option<bool>) -> Reply {
    app.call("PUT", "/v1/admin/policy", Some(&admin.access), Some(policy(sso_required))).await
}

on_both_backends!(TestApp: sso_required_leaves_a_password_only_to_admins);

async fn sso_required_leaves_a_password_only_to_admins(app: &TestApp) {
    let admin = admin_of(app, "acme").await;
    let member = join(app, &admin, "member@acme.test", "member").await;
    // A reset link asked for before SSO became mandatory.
    let forgot = json!({"tenant": "acme", "email": "member@acme.test"});
    assert_eq!(app.call("POST", "/v1/auth/password/forgot", None, Some(forgot.clone())).await.status, 202);
    let reset_token = app.token_mailed_to("member@acme.test", "Reset").await.expect("reset mail");

    let r = put_policy(app, &admin, Some(true)).await;
    assert_eq!((r.status, &r.json["sso_required"]), (200, &json!(true)), "{}", r.json);
    let r = app.call("GET", "/v1/policy", Some(&member.access), None).await;
    assert_eq!(r.json["sso_required"], true);
    // A client that predates SSO does not switch it off by leaving the field out.
    assert_eq!(put_policy(app, &admin, None).await.json["sso_required"], true);

    // Non-admins: right password, wrong password, unknown account all answer sso_required.
    for (email, pw) in [("member@acme.test", PW), ("member@acme.test", "Wrong-Password-1"), ("nobody@acme.test", PW)] {
        let r = login(app, "acme", email, pw).await;
        assert_eq!((r.status, r.code()), (403, "sso_required"), "{email}: {}", r.json);
    }
    for email in ["member@acme.test", "nobody@acme.test"] {
        let r =
            app.call("POST", "/v1/auth/password/forgot", None, Some(json!({"tenant": "acme", "email": email}))).await;
        assert_eq!((r.status, r.code()), (403, "sso_required"), "{email}");
    }
    let reset = json!({"token": reset_token, "new_password": "Another-Horse-Battery-7"});
    let r = app.call("POST", "/v1/auth/password/reset", None, Some(reset.clone())).await;
    assert_eq!((r.status, r.code()), (403, "sso_required"));
    // Admins keep the password (break-glass), and their failures still count toward the lockout.
    assert_eq!(login(app, "acme", "admin@acme.test", PW).await.status, 200);
    let r =
        app.call("POST", "/v1/auth/password/forgot", None, Some(json!({"tenant": "acme", "email": "admin@acme.test"})));
    assert_eq!(r.await.status, 202);
    for _ in 0..5 {
        assert_eq!(login(app, "acme", "admin@acme.test", "Wrong-Password-1").await.code(), "sso_required");
    }
    assert_eq!(login(app, "acme", "admin@acme.test", PW).await.code(), "account_locked");

    // Off again: passwords work for everyone.
    assert_eq!(put_policy(app, &admin, Some(false)).await.json["sso_required"], false);
    assert_eq!(login(app, "acme", "member@acme.test", PW).await.status, 200);
    assert_eq!(app.call("POST", "/v1/auth/password/reset", None, Some(reset)).await.status, 204);
}
