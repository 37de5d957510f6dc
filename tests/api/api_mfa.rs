//! MFA and recovery (API.md "Multi-factor authentication and recovery"), through the router.
//! TOTP codes are computed from the enrolment URI at the injected clock's time.

use serde_json::{json, Value};

use crate::flows::{admin_of, code_at, enrol, join, login, mfa_token, next_step, second_factor, Account, PW};
use crate::helpers::{contains, json_request, statuses_in_parallel, stored_bytes, Kind, TestApp};
use crate::on_both_backends;

on_both_backends!(TestApp: enrol_and_sign_in_with_totp_and_recovery_codes, a_code_replayed_in_parallel_is_accepted_once);

async fn enrol_and_sign_in_with_totp_and_recovery_codes(app: &TestApp) {
    let admin = admin_of(app, "acme").await;
    // Enrolment: the URI names the tenant as issuer; a wrong code does not turn MFA on.
    let r = app.call("POST", "/v1/me/mfa/totp", Some(&admin.access), Some(json!({"password": PW}))).await;
    let uri = r.json["otpauth_uri"].as_str().unwrap().to_owned();
    let secret = r.json["secret"].as_str().unwrap().to_owned();
    assert!(
        uri.starts_with("otpauth://totp/Acme%20Health:admin%40acme.test?") && uri.contains("issuer=Acme%20Health"),
        "{uri}"
    );
    let wrong = app.call("POST", "/v1/me/mfa/totp/confirm", Some(&admin.access), Some(json!({"code": "000000"}))).await;
    assert_eq!((wrong.status, wrong.code()), (401, "invalid_credentials"));
    assert_eq!(app.call("GET", "/v1/me", Some(&admin.access), None).await.json["mfa_enabled"], false);
    let confirm_code = code_at(&uri, app);
    let r = app.call("POST", "/v1/me/mfa/totp/confirm", Some(&admin.access), Some(json!({"code": confirm_code}))).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let codes: Vec<String> =
        r.json["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    assert_eq!(codes.len(), 10);
    assert_eq!(app.call("GET", "/v1/me", Some(&admin.access), None).await.json["mfa_enabled"], true);
    let again = app.call("POST", "/v1/me/mfa/totp", Some(&admin.access), Some(json!({"password": PW}))).await;
    assert_eq!(again.status, 409, "already on");
    // Login now stops at the second factor; the code used at confirmation is spent.
    let token = mfa_token(app, "admin@acme.test").await;
    assert_eq!(second_factor(app, &token, &confirm_code).await.code(), "invalid_credentials");
    next_step(app);
    let code = code_at(&uri, app);
    let r = second_factor(app, &token, &code).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(r.json["access_token"].is_string() && r.json["refresh_token"].is_string());
    assert_eq!(r.json["mfa_enrollment_required"], false);
    // The same code on a fresh login is a replay.
    let token = mfa_token(app, "admin@acme.test").await;
    assert_eq!(second_factor(app, &token, &code).await.code(), "invalid_credentials");
    // A recovery code works in place of a TOTP code, once (any case, with or without dash).
    let r = second_factor(app, &token, &codes[0].to_uppercase().replace('-', "")).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let token = mfa_token(app, "admin@acme.test").await;
    assert_eq!(second_factor(app, &token, &codes[0]).await.code(), "invalid_credentials");
    assert_eq!(second_factor(app, &token, &codes[1]).await.status, 200);
    // Neither the secret nor the recovery codes are stored in plaintext.
    let bytes = stored_bytes(&app.backend).await;
    assert!(!contains(&bytes, secret.as_bytes()));
    assert!(codes.iter().all(|c| !contains(&bytes, c.as_bytes())));
}

async fn a_code_replayed_in_parallel_is_accepted_once(app: &TestApp) {
    let admin = admin_of(app, "acme").await;
    let (uri, _) = enrol(app, &admin).await;
    let mut tokens = Vec::new();
    for _ in 0..8 {
        tokens.push(mfa_token(app, "admin@acme.test").await);
    }
    next_step(app);
    let code = code_at(&uri, app);
    let requests = tokens
        .iter()
        .map(|t| json_request("POST", "/v1/auth/mfa", None, Some(json!({"mfa_token": t, "code": code}))))
        .collect();
    let statuses = statuses_in_parallel(app.router(), requests).await;
    // Exactly one wins. Each replay is a wrong code and counts toward the lockout, so once
    // five attempts are in, the rest are refused as locked.
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| [200, 401, 423].contains(s)), "{statuses:?}");
}

#[tokio::test]
async fn wrong_codes_count_toward_lockout_and_kill_the_mfa_token() {
    let app = TestApp::new(Kind::Embedded).await;
    let admin = admin_of(&app, "acme").await;
    let member = join(&app, &admin, "nurse@acme.test", "member").await;
    let (uri, _) = enrol(&app, &member).await;
    let token = mfa_token(&app, "nurse@acme.test").await;
    for _ in 0..5 {
        assert_eq!(second_factor(&app, &token, "000000").await.code(), "invalid_credentials");
    }
    // The five wrong codes killed this mfa_token and locked the account...
    next_step(&app);
    assert_eq!(second_factor(&app, &token, &code_at(&uri, &app)).await.code(), "invalid_credentials");
    assert_eq!(login(&app, "acme", "nurse@acme.test", PW).await.status, 423);
    // ...and after an admin unlocks it, that mfa_token stays dead.
    let unlock = format!("/v1/admin/users/{}/unlock", member.user_id);
    assert_eq!(app.call("POST", &unlock, Some(&admin.access), None).await.status, 204);
    next_step(&app);
    assert_eq!(second_factor(&app, &token, &code_at(&uri, &app)).await.code(), "invalid_credentials");
    // An mfa_token also dies after five minutes.
    let token = mfa_token(&app, "nurse@acme.test").await;
    app.backend.clock.advance(time::Duration::seconds(301));
    assert_eq!(second_factor(&app, &token, &code_at(&uri, &app)).await.code(), "invalid_credentials");
    let token = mfa_token(&app, "nurse@acme.test").await;
    assert_eq!(second_factor(&app, &token, &code_at(&uri, &app)).await.status, 200);
    for bad in ["", "garbage", "0123456789abcdef0123456789abcdef.nope"] {
        assert_eq!(second_factor(&app, bad, "123456").await.code(), "invalid_credentials");
    }
}

#[tokio::test]
async fn recovery_by_email_and_security_questions_turns_mfa_off() {
    let app = TestApp::new(Kind::Embedded).await;
    let admin = admin_of(&app, "acme").await;
    let (uri, _) = enrol(&app, &admin).await;
    next_step(&app);
    let put = |body: Value| app.call("PUT", "/v1/me/security-questions", Some(&admin.access), Some(body));
    let code = code_at(&uri, &app);
    let q = |a: &str, b: &str| json!({"password": PW, "code": code, "questions": [{"question": "First pet?", "answer": a}, {"question": "Town of birth?", "answer": b}]});
    assert_eq!(
        put(json!({"password": PW, "code": code, "questions": [{"question": "First pet?", "answer": "Rex"}]}))
            .await
            .code(),
        "validation_failed"
    );
    assert_eq!(
        put(json!({"password": PW, "code": code, "questions": [{"question": "Pet?", "answer": "Rex"}, {"question": "pet?", "answer": "Tom"}]}))
            .await
            .code(),
        "validation_failed"
    );
    assert_eq!(put(q("R", "Leeds")).await.code(), "validation_failed");
    assert_eq!(put(q("Rex the  Dog", "Leeds")).await.status, 204);
    let recover = |answers: Value| {
        app.call(
            "POST",
            "/v1/auth/mfa/recover",
            None,
            Some(json!({"tenant": "acme", "email": "admin@acme.test", "answers": answers})),
        )
    };
    // One wrong answer: 202, and no mail.
    assert_eq!(recover(json!(["rex the dog", "York"])).await.status, 202);
    assert_eq!(app.token_mailed_to("admin@acme.test", "Recover").await, None);
    // Unknown people: the same 202.
    let r = app
        .call(
            "POST",
            "/v1/auth/mfa/recover",
            None,
            Some(json!({"tenant": "acme", "email": "x@acme.test", "answers": ["a", "b"]})),
        )
        .await;
    assert_eq!(r.status, 202);
    // Both right, in another case and spacing: a recovery link is mailed.
    assert_eq!(recover(json!(["  REX THE dog ", "leeds"])).await.status, 202);
    let token = app.token_mailed_to("admin@acme.test", "Recover").await.expect("recovery link mailed");
    let confirm = |t: &str, p: &str| {
        app.call("POST", "/v1/auth/mfa/recover/confirm", None, Some(json!({"token": t, "password": p})))
    };
    assert_eq!(confirm(&token, "Wrong-password-123").await.code(), "invalid_credentials");
    let r = confirm(&token, PW).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let access = r.json["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.call("GET", "/v1/me", Some(&access), None).await.json["mfa_enabled"], false);
    assert_eq!(confirm(&token, PW).await.code(), "invalid_credentials", "single use");
    // MFA is off: login gives tokens directly, and the user may enrol again.
    let r = login(&app, "acme", "admin@acme.test", PW).await;
    assert!(r.json["access_token"].is_string());
    // Every step is audited.
    let log = app.call("GET", "/v1/admin/audit?limit=100", Some(&access), None).await;
    let actions: Vec<(String, String)> = log.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap().to_owned(), e["outcome"].as_str().unwrap().to_owned()))
        .collect();
    for (a, o) in [
        ("mfa.enable", "success"),
        ("mfa.security_questions", "success"),
        ("mfa.recover_request", "failure"),
        ("mfa.recover_request", "success"),
        ("mfa.recover", "failure"),
        ("mfa.recover", "success"),
    ] {
        assert!(actions.contains(&(a.into(), o.into())), "{a}/{o} missing from {actions:?}");
    }
    // Wrong answers count toward the lockout (an hour later: the account's mail budget, 5 an
    // hour, is spent by now).
    app.backend.clock.advance(time::Duration::hours(1));
    for _ in 0..5 {
        recover(json!(["nope", "nope"])).await;
    }
    assert_eq!(login(&app, "acme", "admin@acme.test", PW).await.status, 423);
    // Answers are never stored in plaintext.
    let bytes = stored_bytes(&app.backend).await;
    assert!(!contains(&bytes, b"rex the dog") && !contains(&bytes, b"First pet?"));
}

#[tokio::test]
async fn a_tenant_can_require_mfa() {
    let app = TestApp::new(Kind::Embedded).await;
    let admin = admin_of(&app, "acme").await;
    let (admin_uri, _) = enrol(&app, &admin).await;
    let member = join(&app, &admin, "nurse@acme.test", "member").await;
    let policy = |on: bool| json!({"app_passcode": {"required": false, "timeout_minutes": 5}, "mfa_required": on});
    assert_eq!(app.call("PUT", "/v1/admin/policy", Some(&admin.access), Some(policy(true))).await.status, 200);
    // The unenrolled member signs in with a flag, and is gated everywhere but three places.
    let r = login(&app, "acme", "nurse@acme.test", PW).await;
    assert_eq!(r.json["mfa_enrollment_required"], true);
    let access = r.json["access_token"].as_str().unwrap().to_owned();
    let gated = app.call("GET", "/v1/policy", Some(&access), None).await;
    assert_eq!((gated.status, gated.code()), (403, "mfa_enrollment_required"));
    let pw = json!({"current_password": PW, "new_password": "Another-Strong-Passphrase-7"});
    assert_eq!(app.call("POST", "/v1/me/password", Some(&access), Some(pw)).await.code(), "mfa_enrollment_required");
    assert_eq!(app.call("GET", "/v1/me", Some(&access), None).await.status, 200);
    // Enrolling lifts the gate; turning MFA off is forbidden while the tenant requires it.
    let enrolled = Account { access: access.clone(), ..member };
    let (uri, _) = enrol(&app, &enrolled).await;
    assert_eq!(app.call("GET", "/v1/policy", Some(&access), None).await.status, 200);
    let off = |p: &str, code: String| {
        app.call("DELETE", "/v1/me/mfa/totp", Some(&access), Some(json!({"password": p, "code": code})))
    };
    assert_eq!(off(PW, code_at(&uri, &app)).await.code(), "forbidden");
    // Once the tenant no longer requires it, the password and a current code turn it off.
    assert_eq!(app.call("PUT", "/v1/admin/policy", Some(&admin.access), Some(policy(false))).await.status, 200);
    next_step(&app);
    assert_eq!(off("Wrong-password-123", code_at(&uri, &app)).await.code(), "invalid_credentials");
    assert_eq!(off(PW, code_at(&uri, &app)).await.status, 204);
    assert_eq!(app.call("GET", "/v1/me", Some(&access), None).await.json["mfa_enabled"], false);
    let r = login(&app, "acme", "nurse@acme.test", PW).await;
    assert!(r.json["access_token"].is_string(), "no second factor any more: {}", r.json);
    let _ = (uri, admin_uri);
}
