//! Single sign-on (API.md "Single sign-on"), on both backends: the tenant policy's
//! `sso_required` with admins as break-glass; the OIDC configuration (validated against the
//! issuer's discovery document, the client secret sealed and never returned); sign-in through
//! a real OpenID Connect provider (panva's oidc-provider) with JIT provisioning and login
//! codes; and the attacks, each of which must fail closed — against a stand-in IdP that
//! signs whatever ID token a test crafts.

use serde_json::{json, Value};

use crate::flows::{admin_of, join, login, Account, PW};
use crate::helpers::{contains, json_request, statuses_in_parallel, stored_bytes, Reply, TestApp, API_URL};
use crate::on_both_backends;
use crate::sso_idp::{query_of, Browser, FakeIdp, RealIdp, Sign, Tweak, CALLBACK, FAKE_CLIENT, FAKE_SECRET};

/// Where the tests' client app receives login codes.
const APP_DONE: &str = "https://app.acme.test/sso/done";

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
    // A client that predates SSO does not switch it off by leaving the field out; null is no boolean.
    assert_eq!(put_policy(app, &admin, None).await.json["sso_required"], true);
    let mut null = policy(None);
    null["sso_required"] = Value::Null;
    let r = app.call("PUT", "/v1/admin/policy", Some(&admin.access), Some(null)).await;
    assert_eq!((r.status, r.code()), (400, "invalid_request"));

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

fn oidc_body(issuer: &str, client_id: &str, secret: &str, jit: bool) -> Value {
    json!({
        "issuer": issuer, "client_id": client_id, "client_secret": secret,
        "redirect_uris": [APP_DONE, "com.acme.app:/sso"], "jit": {"enabled": jit, "role": "member"},
    })
}

async fn configure(app: &TestApp, admin: &Account, body: Value) -> Reply {
    app.call("PUT", "/v1/admin/sso/oidc", Some(&admin.access), Some(body)).await
}

on_both_backends!(TestApp: oidc_configuration_is_validated_and_its_secret_never_returned);

async fn oidc_configuration_is_validated_and_its_secret_never_returned(app: &TestApp) {
    let idp = FakeIdp::start().await;
    let admin = admin_of(app, "acme").await;
    let member = join(app, &admin, "member@acme.test", "member").await;
    let start = format!("/v1/sso/acme/oidc/start?redirect_uri={APP_DONE}");
    assert_eq!(app.call("GET", &start, None, None).await.code(), "not_configured");
    assert_eq!(app.call("GET", "/v1/sso/no-such-org/oidc/start", None, None).await.code(), "not_configured");
    let r = app.call("GET", "/v1/admin/sso", Some(&admin.access), None).await;
    assert_eq!(r.json, json!({"oidc": null, "saml": null}));

    let good = oidc_body(&idp.issuer, FAKE_CLIENT, FAKE_SECRET, false);
    let mut bad = Vec::new();
    for (field, value) in [
        ("issuer", json!("http://idp.example.com")),
        ("issuer", json!("https://127.0.0.1:9/unreachable")),
        ("issuer", json!(format!("{}/other", idp.issuer))),
        ("issuer", json!("not a url")),
        ("scopes", json!(["email"])),
        ("redirect_uris", json!([])),
        ("redirect_uris", json!(["javascript:alert(1)"])),
        ("redirect_uris", json!(["http://app.acme.test/sso"])),
        ("redirect_uris", json!(["https://app.acme.test/sso#frag"])),
        ("jit", json!({"enabled": true, "role": "admin"})),
        ("jit", json!({"enabled": true, "role": "owner"})),
        ("client_secret", json!("")),
    ] {
        let mut b = good.clone();
        b[field] = value.clone();
        bad.push((field, value, configure(app, &admin, b).await));
    }
    for (field, value, r) in bad {
        assert_eq!((r.status, r.code()), (422, "validation_failed"), "{field} = {value}: {}", r.json);
    }
    // Never into the deployment's own network: named by address, or by a name resolving there.
    for (issuer, why) in [
        ("https://169.254.169.254/latest", "private, link-local or reserved"),
        ("https://10.0.0.7/", "private, link-local or reserved"),
        ("https://localhost:9/", "no public address"),
    ] {
        let mut b = good.clone();
        b["issuer"] = json!(issuer);
        let r = configure(app, &admin, b).await;
        assert_eq!(r.status, 422, "{issuer}");
        assert!(r.json["error"]["message"].as_str().unwrap().contains(why), "{issuer}: {}", r.json);
    }
    for (field, value) in [("surprise", json!(1)), ("scopes", Value::Null), ("jit", Value::Null)] {
        let mut b = good.clone();
        b[field] = value;
        assert_eq!(configure(app, &admin, b).await.code(), "invalid_request", "{field}");
    }
    // Only admins.
    assert_eq!(configure(app, &member, good.clone()).await.status, 403);
    assert_eq!(app.call("GET", "/v1/admin/sso", Some(&member.access), None).await.status, 403);

    let r = configure(app, &admin, good.clone()).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["client_secret_set"], true);
    assert_eq!(r.json["scopes"], json!(["openid", "email"]));
    assert_eq!(r.json["email_claim"], "email");
    assert!(!r.json.to_string().contains(FAKE_SECRET), "the secret is returned");
    let r = app.call("GET", "/v1/admin/sso", Some(&admin.access), None).await;
    assert_eq!((r.json["oidc"]["issuer"].as_str(), &r.json["saml"]), (Some(idp.issuer.as_str()), &Value::Null));
    assert!(!r.json.to_string().contains(FAKE_SECRET));
    // Sealed at rest.
    assert!(!contains(&stored_bytes(&app.backend).await, FAKE_SECRET.as_bytes()), "client secret stored in clear");

    // The start redirect: code flow with state, nonce and PKCE S256 to the discovered endpoint.
    let r = app.call("GET", &start, None, None).await;
    assert_eq!(r.status, 302, "{}", r.json);
    let location = r.headers["location"].to_str().unwrap();
    assert!(location.starts_with(&format!("{}/authorize?", idp.issuer)), "{location}");
    let q = query_of(location);
    assert_eq!(q["client_id"], FAKE_CLIENT);
    assert_eq!(q["redirect_uri"], format!("{API_URL}{CALLBACK}"));
    assert_eq!(q["scope"], "openid email");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["state"].len() > 40 && q["nonce"].len() >= 43);
    assert_eq!(r.headers["cache-control"], "no-store");
    // An app's own scheme is a valid redirect URI too.
    assert_eq!(app.call("GET", "/v1/sso/acme/oidc/start?redirect_uri=com.acme.app:/sso", None, None).await.status, 302);

    assert_eq!(app.call("DELETE", "/v1/admin/sso/oidc", Some(&admin.access), None).await.status, 204);
    assert_eq!(app.call("GET", "/v1/admin/sso", Some(&admin.access), None).await.json["oidc"], Value::Null);
    assert_eq!(app.call("GET", &start, None, None).await.code(), "not_configured");
}

/// The `error` or `login_code` a sign-in ended with at the client app.
fn outcome(url: &str) -> (Option<String>, Option<String>) {
    assert!(url.starts_with(APP_DONE), "landed outside the client app: {url}");
    let q = query_of(url);
    (q.get("login_code").cloned(), q.get("error").cloned())
}

async fn exchange(app: &TestApp, code: &str) -> Reply {
    app.call("POST", "/v1/auth/sso/exchange", None, Some(json!({"login_code": code}))).await
}

async fn audit(app: &TestApp, admin: &Account) -> Vec<Value> {
    let r = app.call("GET", "/v1/admin/audit?limit=100", Some(&admin.access), None).await;
    r.json["events"].as_array().unwrap().clone()
}

on_both_backends!(TestApp: oidc_sign_in_through_a_real_identity_provider);

async fn oidc_sign_in_through_a_real_identity_provider(app: &TestApp) {
    let account =
        json!({"sub": "idp-user-4711", "email": "Jit.Person@Acme.test", "email_verified": true, "name": "Jit Person"});
    let idp = RealIdp::start(account).await;
    let admin = admin_of(app, "acme").await;
    let r = configure(app, &admin, oidc_body(&idp.issuer, "bulwark", "bulwark-secret", false)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let start = format!("{API_URL}/v1/sso/acme/oidc/start?redirect_uri={APP_DONE}");

    // Unknown to Bulwark and no JIT: refused at the client app, nothing created.
    let landing = Browser::new(app).follow(&start, &idp.issuer).await;
    assert_eq!(outcome(&landing.url), (None, Some("access_denied".into())));

    // With JIT: the whole chain, through the IdP's login and consent, to a login code.
    let mut with_jit = oidc_body(&idp.issuer, "bulwark", "bulwark-secret", true);
    with_jit["scopes"] = json!(["openid", "email", "profile"]);
    let r = configure(app, &admin, with_jit).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let landing = Browser::new(app).follow(&start, &idp.issuer).await;
    let (Some(code), None) = outcome(&landing.url) else { panic!("no login code: {}", landing.url) };
    let tokens = exchange(app, &code).await;
    assert_eq!(tokens.status, 200, "{}", tokens.json);
    assert_eq!(tokens.json["token_type"], "Bearer");
    let me = app.call("GET", "/v1/me", tokens.json["access_token"].as_str(), None).await;
    assert_eq!((me.json["email"].as_str(), me.json["role"].as_str()), (Some("jit.person@acme.test"), Some("member")));
    assert_eq!(me.json["display_name"], "Jit Person");
    // A login code is single use.
    assert_eq!(exchange(app, &code).await.code(), "invalid_credentials");

    // The next sign-in finds the same account; SSO still works when passwords are off.
    assert_eq!(put_policy(app, &admin, Some(true)).await.status, 200);
    let landing = Browser::new(app).follow(&start, &idp.issuer).await;
    let (Some(code), None) = outcome(&landing.url) else { panic!("no login code: {}", landing.url) };
    let again = exchange(app, &code).await;
    let me2 = app.call("GET", "/v1/me", again.json["access_token"].as_str(), None).await;
    assert_eq!(me2.json["user_id"], me.json["user_id"]);

    // A code the IdP issued to another client, slipped into our callback with a valid state:
    // the IdP refuses to redeem it for us.
    let other = format!(
        "{}/auth?client_id=other-client&response_type=code&scope=openid&redirect_uri=http://other.test/cb&state=s1&nonce=n1\
         &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        idp.issuer
    );
    let landing = Browser::new(app).follow(&other, &idp.issuer).await;
    assert!(landing.url.starts_with("http://other.test/cb?"), "{}", landing.url);
    let foreign_code = query_of(&landing.url)["code"].clone();
    let r = app.call("GET", &start.replace(API_URL, ""), None, None).await;
    let state = query_of(r.headers["location"].to_str().unwrap())["state"].clone();
    let cb = format!("{API_URL}{CALLBACK}?code={foreign_code}&state={}", urlencode(&state));
    let landing = Browser::new(app).follow(&cb, &idp.issuer).await;
    assert_eq!(outcome(&landing.url), (None, Some("idp_error".into())));

    // Audited with the method and the IdP's subject hashed, never in clear.
    let events = audit(app, &admin).await;
    let ok: Vec<&Value> = events.iter().filter(|e| e["action"] == "login.success" && e["method"] == "oidc").collect();
    assert_eq!(ok.len(), 2, "{events:?}");
    assert!(ok.iter().all(|e| e["subject"].as_str().is_some_and(|s| s.len() == 32)));
    assert!(events.iter().any(|e| e["action"] == "login.failure" && e["outcome"] == "access_denied"));
    assert!(events.iter().any(|e| e["action"] == "user.jit_create"));
    assert!(!serde_json::to_string(&events).unwrap().contains("idp-user-4711"), "subject in clear");

    // The tenant requires MFA: a password session must enrol first, an SSO session need not
    // (the IdP's MFA applies).
    let mut mfa = policy(Some(false));
    mfa["mfa_required"] = json!(true);
    assert_eq!(app.call("PUT", "/v1/admin/policy", Some(&admin.access), Some(mfa)).await.status, 200);
    let landing = Browser::new(app).follow(&start, &idp.issuer).await;
    let (Some(code), None) = outcome(&landing.url) else { panic!("no login code: {}", landing.url) };
    let sso = exchange(app, &code).await;
    assert_eq!(sso.json["mfa_enrollment_required"], false, "{}", sso.json);
    let r = app.call("GET", "/v1/conversations", sso.json["access_token"].as_str(), None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let r = app.call("GET", "/v1/admin/users", Some(&admin.access), None).await;
    assert_eq!(r.code(), "mfa_enrollment_required");
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Start a sign-in; the IdP's authorization URL.
async fn begin(app: &TestApp) -> String {
    begin_with(app, "").await
}

/// The same, with more query parameters (`&name=value...`).
async fn begin_with(app: &TestApp, extra: &str) -> String {
    let r = app.call("GET", &format!("/v1/sso/acme/oidc/start?redirect_uri={APP_DONE}{extra}"), None, None).await;
    assert_eq!(r.status, 302, "{}", r.json);
    r.headers["location"].to_str().unwrap().to_owned()
}

async fn callback(app: &TestApp, code: &str, state: &str) -> Reply {
    let path = format!("{CALLBACK}?code={}&state={}", urlencode(code), urlencode(state));
    app.call("GET", &path, None, None).await
}

/// A whole sign-in against the stand-in: the client app's landing URL.
async fn sign_in(app: &TestApp, idp: &FakeIdp, tweak: Tweak) -> String {
    sign_in_with(app, idp, tweak, "").await
}

async fn sign_in_with(app: &TestApp, idp: &FakeIdp, tweak: Tweak, extra: &str) -> String {
    idp.tweak(tweak);
    let authorize = begin_with(app, extra).await;
    let code = idp.authorize(&authorize, None);
    let r = callback(app, &code, &query_of(&authorize)["state"]).await;
    assert_eq!(r.status, 302, "{}", r.json);
    r.headers["location"].to_str().unwrap().to_owned()
}

fn claims(pairs: Value) -> Tweak {
    Tweak { claims: pairs.as_object().unwrap().clone(), sign: Sign::Good }
}

on_both_backends!(TestApp: oidc_attacks_fail_closed);

async fn oidc_attacks_fail_closed(app: &TestApp) {
    let idp = FakeIdp::start().await;
    let admin = admin_of(app, "acme").await;
    let user = join(app, &admin, "sso.user@acme.test", "member").await;
    assert_eq!(configure(app, &admin, oidc_body(&idp.issuer, FAKE_CLIENT, FAKE_SECRET, false)).await.status, 200);

    // The well-behaved case first: an existing user, found by email.
    let landing = sign_in(app, &idp, Tweak::default()).await;
    let (Some(code), None) = outcome(&landing) else { panic!("{landing}") };
    let tokens = exchange(app, &code).await;
    let me = app.call("GET", "/v1/me", tokens.json["access_token"].as_str(), None).await;
    assert_eq!(me.json["user_id"].as_str(), Some(user.user_id.as_str()));
    // The token request: client_secret_basic (form-encoded credentials), code_verifier, callback.
    let (auth, form) = idp.token_requests().pop().unwrap();
    assert!(auth.starts_with("Basic "));
    assert_eq!(form["redirect_uri"], format!("{API_URL}{CALLBACK}"));
    assert_eq!(form["code_verifier"].len(), 43);

    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let cases: Vec<(&str, Tweak, &str)> = vec![
        ("wrong nonce", claims(json!({"nonce": "not-the-one-we-sent"})), "invalid_token"),
        ("no nonce", claims(json!({"nonce": null})), "invalid_token"),
        ("wrong aud", claims(json!({"aud": "someone-else"})), "invalid_token"),
        ("several audiences, no azp", claims(json!({"aud": [FAKE_CLIENT, "someone-else"]})), "invalid_token"),
        ("azp of another client", claims(json!({"azp": "someone-else"})), "invalid_token"),
        ("wrong iss", claims(json!({"iss": "https://evil.example"})), "invalid_token"),
        ("expired", claims(json!({"exp": now - 3600, "iat": now - 3900})), "invalid_token"),
        ("issued in the future", claims(json!({"iat": now + 3600, "exp": now + 7200})), "invalid_token"),
        ("alg none", Tweak { claims: Default::default(), sign: Sign::None }, "invalid_token"),
        (
            "HS256 with the public key",
            Tweak { claims: Default::default(), sign: Sign::Hs256WithPublicKey },
            "invalid_token",
        ),
        ("signed by a foreign key", Tweak { claims: Default::default(), sign: Sign::ForeignKey }, "invalid_token"),
        ("email_verified false", claims(json!({"email_verified": false})), "access_denied"),
        ("no email", claims(json!({"email": null})), "access_denied"),
        ("unknown email without JIT", claims(json!({"email": "stranger@acme.test"})), "access_denied"),
    ];
    for (name, tweak, want) in cases {
        let landing = sign_in(app, &idp, tweak).await;
        assert_eq!(outcome(&landing), (None, Some(want.to_owned())), "{name}");
    }
    idp.tweak(Tweak::default());

    // A replayed state: the second callback is 400 and redirects nowhere.
    let authorize = begin(app).await;
    let state = query_of(&authorize)["state"].clone();
    let first = callback(app, &idp.authorize(&authorize, None), &state).await;
    assert_eq!(first.status, 302);
    let replay = callback(app, &idp.authorize(&authorize, None), &state).await;
    assert_eq!((replay.status, replay.code()), (400, "invalid_request"));
    assert!(replay.headers.get("location").is_none());
    // An unknown or forged state, and a state that outlived its 10 minutes.
    for forged in ["", "nonsense", &format!("{}x", state)] {
        assert_eq!(callback(app, "c", forged).await.status, 400, "{forged}");
    }

    // A code issued to another client is refused by the IdP: error, no login.
    let authorize = begin(app).await;
    let foreign = idp.authorize(&authorize, Some("other-client"));
    let r = callback(app, &foreign, &query_of(&authorize)["state"]).await;
    assert_eq!(outcome(r.headers["location"].to_str().unwrap()), (None, Some("idp_error".into())));
    // The IdP's own refusal comes back as access_denied.
    let authorize = begin(app).await;
    let path = format!("{CALLBACK}?error=access_denied&state={}", urlencode(&query_of(&authorize)["state"]));
    let r = app.call("GET", &path, None, None).await;
    assert_eq!(outcome(r.headers["location"].to_str().unwrap()), (None, Some("access_denied".into())));

    // redirect_uri not on the allowlist: 400 and no redirect at all.
    for uri in ["https://evil.example/steal", "https://app.acme.test/sso/done/../x", ""] {
        let r = app.call("GET", &format!("/v1/sso/acme/oidc/start?redirect_uri={}", urlencode(uri)), None, None).await;
        assert_eq!((r.status, r.code()), (400, "invalid_request"), "{uri}");
        assert!(r.headers.get("location").is_none());
    }
    assert_eq!(app.call("GET", "/v1/sso/acme/oidc/start", None, None).await.status, 400);

    // Single use even when raced: ten callbacks with one state, ten exchanges of one code.
    let authorize = begin(app).await;
    let state = query_of(&authorize)["state"].clone();
    let code = idp.authorize(&authorize, None);
    let path = format!("{CALLBACK}?code={}&state={}", urlencode(&code), urlencode(&state));
    let reqs = (0..10).map(|_| json_request("GET", &path, None, None)).collect();
    let statuses = statuses_in_parallel(app.router(), reqs).await;
    assert_eq!(statuses, [vec![302], vec![400; 9]].concat(), "one callback per state");
    let landing = sign_in(app, &idp, Tweak::default()).await;
    let (Some(code), None) = outcome(&landing) else { panic!("{landing}") };
    let body = json!({"login_code": code});
    let reqs = (0..10).map(|_| json_request("POST", "/v1/auth/sso/exchange", None, Some(body.clone()))).collect();
    let statuses = statuses_in_parallel(app.router(), reqs).await;
    assert_eq!(statuses, [vec![200], vec![401; 9]].concat(), "one session per login code");

    // Extension: an app that starts with its own PKCE challenge must prove it at the exchange,
    // so an app that intercepted the redirect (a hijacked custom scheme) cannot use the code.
    let verifier = "dBjftJeZ4CVP-mJ92K9LzYtxq3t6pr9Kh5xRw0oP1mQ";
    let challenge = {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        use sha2::{Digest, Sha256};
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
    };
    let bound = format!("&code_challenge={challenge}&code_challenge_method=S256");
    for (sent, want) in
        [(None, 401), (Some("wrong-verifier-wrong-verifier-wrong-verifier-x"), 401), (Some(verifier), 200)]
    {
        let landing = sign_in_with(app, &idp, Tweak::default(), &bound).await;
        let (Some(code), None) = outcome(&landing) else { panic!("{landing}") };
        let mut body = json!({"login_code": code});
        if let Some(v) = sent {
            body["code_verifier"] = json!(v);
        }
        let r = app.call("POST", "/v1/auth/sso/exchange", None, Some(body)).await;
        assert_eq!(r.status, want, "verifier {sent:?}: {}", r.json);
        // Spent either way.
        assert_eq!(exchange(app, &code).await.status, 401);
    }
    for bad in ["&code_challenge=short", "&code_challenge_method=plain", &format!("{bound}x")] {
        let r = app.call("GET", &format!("/v1/sso/acme/oidc/start?redirect_uri={APP_DONE}{bad}"), None, None).await;
        assert_eq!((r.status, r.code()), (400, "invalid_request"), "{bad}");
    }

    // A login code lives 60 seconds.
    let landing = sign_in(app, &idp, Tweak::default()).await;
    let (Some(code), None) = outcome(&landing) else { panic!("{landing}") };
    app.backend.clock.advance(time::Duration::seconds(61));
    assert_eq!(exchange(app, &code).await.code(), "invalid_credentials");
    for junk in ["", "x", "not.a-code", &"a".repeat(300)] {
        assert_eq!(exchange(app, junk).await.code(), "invalid_credentials", "{junk}");
    }

    // A disabled user is refused.
    let r = app
        .call(
            "PATCH",
            &format!("/v1/admin/users/{}", user.user_id),
            Some(&admin.access),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let landing = sign_in(app, &idp, Tweak::default()).await;
    assert_eq!(outcome(&landing), (None, Some("access_denied".into())));

    // Every failure is audited as an OIDC login failure.
    let failures = audit(app, &admin)
        .await
        .into_iter()
        .filter(|e| e["action"] == "login.failure" && e["method"] == "oidc")
        .count();
    assert!(failures >= 16, "{failures} OIDC failures audited");

    // The IdP rotates its signing key: a token under the new kid refreshes the cached JWKS —
    // though not more than once a minute, so a burst of unknown kids cannot hammer the IdP.
    let r = app
        .call(
            "PATCH",
            &format!("/v1/admin/users/{}", user.user_id),
            Some(&admin.access),
            Some(json!({"disabled": false})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(configure(app, &admin, oidc_body(&idp.issuer, FAKE_CLIENT, FAKE_SECRET, false)).await.status, 200);
    idp.rotate();
    assert_eq!(outcome(&sign_in(app, &idp, Tweak::default()).await), (None, Some("invalid_token".into())));
    app.backend.clock.advance(time::Duration::seconds(61));
    let landing = sign_in(app, &idp, Tweak::default()).await;
    assert!(outcome(&landing).0.is_some(), "after the refresh the new key verifies: {landing}");

    // A state outlives its 10 minutes by nothing (last: the clock moves past the IdP's).
    let authorize = begin(app).await;
    app.backend.clock.advance(time::Duration::minutes(11));
    let late = callback(app, &idp.authorize(&authorize, None), &query_of(&authorize)["state"]).await;
    assert_eq!(late.status, 400);
}
