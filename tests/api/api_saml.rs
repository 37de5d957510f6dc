//! SAML 2.0 sign-in (API.md "Single sign-on"), on both backends, against two real identity
//! providers (samlify and pysaml2 + xmlsec1): configuration from metadata or by hand, the
//! SP metadata, JIT and login codes, every response-signing style; then the attacks, each of
//! which must fail closed — unsigned, signed by another key, the classic signature-wrapping
//! shapes, a comment in the NameID, wrong audience/destination/recipient/issuer, outside the
//! validity window, replayed, unsolicited, answering another tenant's request.

use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Value};

use crate::flows::{admin_of, join, Account};
use crate::helpers::{send_raw, Reply, TestApp, API_URL};
use crate::on_both_backends;
use crate::saml_idp::{landing, post, post_acs, through_idp, Implementation, SamlIdp};

const APP_DONE: &str = "https://app.acme.test/sso/done";

fn start_path(slug: &str) -> String {
    format!("/v1/sso/{slug}/saml/start?redirect_uri={APP_DONE}")
}

fn by_hand(idp: &SamlIdp, sso_url: &str, jit: bool) -> Value {
    json!({
        "idp_entity_id": idp.entity_id,
        "sso_url": sso_url,
        "signing_certificates": [idp.certificate],
        "redirect_uris": [APP_DONE],
        "jit": {"enabled": jit, "role": "member"},
    })
}

async fn configure(app: &TestApp, admin: &Account, body: Value) -> Reply {
    app.call("PUT", "/v1/admin/sso/saml", Some(&admin.access), Some(body)).await
}

async fn exchange(app: &TestApp, code: &str) -> Reply {
    app.call("POST", "/v1/auth/sso/exchange", None, Some(json!({"login_code": code}))).await
}

/// Sign in through the IdP; the `login_code` or `error` the client app receives.
async fn sign_in(app: &TestApp, slug: &str) -> (Option<String>, Option<String>) {
    let posted = through_idp(app, &start_path(slug)).await;
    let q = landing(&post(app, &posted).await);
    (q.get("login_code").cloned(), q.get("error").cloned())
}

async fn email_of(app: &TestApp, code: &str) -> String {
    let tokens = exchange(app, code).await;
    assert_eq!(tokens.status, 200, "{}", tokens.json);
    let me = app.call("GET", "/v1/me", tokens.json["access_token"].as_str(), None).await;
    me.json["email"].as_str().unwrap().to_owned()
}

on_both_backends!(TestApp: saml_configuration_is_validated_and_published);

async fn saml_configuration_is_validated_and_published(app: &TestApp) {
    let idp = SamlIdp::start(Implementation::Samlify, "someone@acme.test").await;
    let admin = admin_of(app, "acme").await;
    let member = join(app, &admin, "m@acme.test", "member").await;
    assert_eq!(app.call("GET", "/v1/sso/acme/methods", None, None).await.json, json!({"methods": []}));
    assert_eq!(app.call("GET", "/v1/sso/acme/saml/metadata", None, None).await.code(), "not_configured");
    assert_eq!(app.call("GET", &start_path("acme"), None, None).await.code(), "not_configured");

    // Invalid bodies change nothing.
    let mut cases = vec![
        json!({"redirect_uris": [APP_DONE]}),
        json!({"idp_metadata_xml": "<not-metadata/>", "redirect_uris": [APP_DONE]}),
        json!({"idp_metadata_xml": "<!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>", "redirect_uris": [APP_DONE]}),
    ];
    let mut bad_cert = by_hand(&idp, &idp.sso_url, false);
    bad_cert["signing_certificates"] = json!(["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"]);
    cases.push(bad_cert);
    let mut admin_jit = by_hand(&idp, &idp.sso_url, true);
    admin_jit["jit"]["role"] = json!("admin");
    cases.push(admin_jit);
    let mut js = by_hand(&idp, &idp.sso_url, false);
    js["redirect_uris"] = json!(["javascript:alert(1)"]);
    cases.push(js);
    let mut plain_http = by_hand(&idp, "http://idp.example.org/sso", false);
    plain_http["sso_url"] = json!("http://idp.example.org/sso");
    cases.push(plain_http);
    for body in cases {
        let r = configure(app, &admin, body.clone()).await;
        assert_eq!((r.status, r.code()), (422, "validation_failed"), "{body}: {}", r.json);
    }
    let mut both = by_hand(&idp, &idp.sso_url, false);
    both["idp_metadata_xml"] = json!("<x/>");
    assert_eq!(configure(app, &admin, both).await.status, 422);
    assert_eq!(app.call("GET", "/v1/admin/sso", Some(&admin.access), None).await.json["saml"], Value::Null);
    // Members cannot configure it.
    let r = app.call("PUT", "/v1/admin/sso/saml", Some(&member.access), Some(by_hand(&idp, &idp.sso_url, false))).await;
    assert_eq!(r.status, 403);

    // From the IdP's own metadata.
    let md = idp.metadata().await;
    let r = configure(app, &admin, json!({"idp_metadata_xml": md, "redirect_uris": [APP_DONE]})).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["idp_entity_id"], idp.entity_id.as_str());
    assert_eq!(r.json["sp_entity_id"], format!("{API_URL}/v1/sso/acme/saml/metadata"));
    assert_eq!(r.json["acs_url"], format!("{API_URL}/v1/sso/saml/acs"));
    assert_eq!(r.json["signing_certificates"][0]["sha256_fingerprint"].as_str().map(str::len), Some(64));
    let view = app.call("GET", "/v1/admin/sso", Some(&admin.access), None).await;
    assert_eq!(view.json["saml"], r.json);
    assert_eq!(app.call("GET", "/v1/sso/acme/methods", None, None).await.json, json!({"methods": ["saml"]}));

    // Our metadata, for the IdP's admin.
    let req = http::Request::get("/v1/sso/acme/saml/metadata").body(axum::body::Body::empty()).unwrap();
    let (status, headers, body) = send_raw(app.router(), req).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/samlmetadata+xml");
    let xml = String::from_utf8(body.unwrap().to_vec()).unwrap();
    assert!(xml.contains(&format!("entityID=\"{API_URL}/v1/sso/acme/saml/metadata\"")), "{xml}");
    assert!(xml.contains(&format!("Location=\"{API_URL}/v1/sso/saml/acs\"")), "{xml}");
    assert!(xml.contains("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"));

    // Only configured redirect URIs receive login codes.
    let r = app.call("GET", "/v1/sso/acme/saml/start?redirect_uri=https://evil.test/cb", None, None).await;
    assert_eq!((r.status, r.code()), (400, "invalid_request"));
    assert!(r.headers.get("location").is_none());

    assert_eq!(app.call("DELETE", "/v1/admin/sso/saml", Some(&admin.access), None).await.status, 204);
    assert_eq!(app.call("GET", "/v1/sso/acme/methods", None, None).await.json, json!({"methods": []}));
    let events = app.call("GET", "/v1/admin/audit?limit=100", Some(&admin.access), None).await.json;
    let actions: Vec<&str> = events["events"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"sso.saml.set") && actions.contains(&"sso.saml.delete"), "{actions:?}");
}

on_both_backends!(TestApp: saml_sign_in_through_samlify, saml_sign_in_through_pysaml2);

async fn saml_sign_in_through_samlify(app: &TestApp) {
    sign_in_through(app, Implementation::Samlify).await
}

async fn saml_sign_in_through_pysaml2(app: &TestApp) {
    sign_in_through(app, Implementation::Pysaml2).await
}

/// The whole chain with one IdP: unknown user without JIT refused, JIT, the same account the
/// next time, single-use login codes and responses, the audit trail.
async fn sign_in_through(app: &TestApp, which: Implementation) {
    let idp = SamlIdp::start(which, "New.Person@Acme.test").await;
    let admin = admin_of(app, "acme").await;
    assert_eq!(configure(app, &admin, by_hand(&idp, &idp.sso_url, false)).await.status, 200);
    assert_eq!(sign_in(app, "acme").await, (None, Some("access_denied".into())));

    assert_eq!(configure(app, &admin, by_hand(&idp, &idp.sso_url, true)).await.status, 200);
    let posted = through_idp(app, &start_path("acme")).await;
    let q = landing(&post(app, &posted).await);
    let code = q.get("login_code").unwrap_or_else(|| panic!("no login code: {q:?}"));
    let tokens = exchange(app, code).await;
    assert_eq!(tokens.status, 200, "{}", tokens.json);
    let me = app.call("GET", "/v1/me", tokens.json["access_token"].as_str(), None).await;
    assert_eq!((me.json["email"].as_str(), me.json["role"].as_str()), (Some("new.person@acme.test"), Some("member")));
    assert_eq!(exchange(app, code).await.code(), "invalid_credentials", "a login code is single use");

    // Login CSRF: a client holding a verifier started its own sign-in with a challenge, so a
    // code minted without one (someone else's sign-in, finished in this browser) is refused.
    let (Some(foreign), None) = sign_in(app, "acme").await else { panic!("sign-in failed") };
    let verifier = "v".repeat(43);
    let r = app
        .call("POST", "/v1/auth/sso/exchange", None, Some(json!({"login_code": foreign, "code_verifier": verifier})))
        .await;
    assert_eq!((r.status, r.code()), (401, "invalid_credentials"));
    // A sign-in started with a challenge needs its verifier (RFC 7636), here as with OIDC.
    let challenge = {
        use sha2::Digest;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
    };
    let bound = format!("{}&code_challenge={challenge}&code_challenge_method=S256", start_path("acme"));
    let q = landing(&post(app, &through_idp(app, &bound).await).await);
    let r = exchange(app, &q["login_code"]).await;
    assert_eq!(r.status, 401, "no verifier: {}", r.json);
    let q = landing(&post(app, &through_idp(app, &bound).await).await);
    let r = app
        .call(
            "POST",
            "/v1/auth/sso/exchange",
            None,
            Some(json!({"login_code": q["login_code"], "code_verifier": verifier})),
        )
        .await;
    assert_eq!(r.status, 200, "with its verifier: {}", r.json);

    // The same response again: its RelayState is spent.
    let again = post(app, &posted).await;
    assert_eq!((again.status, again.code()), (400, "invalid_request"));
    // ... and with a fresh RelayState it answers another request: refused.
    let fresh = through_idp(app, &start_path("acme")).await;
    let replay = post_acs(app, &[("SAMLResponse", &posted.saml_response), ("RelayState", &fresh.relay_state)]).await;
    assert_eq!(landing(&replay).get("error").map(String::as_str), Some("invalid_token"));

    // An admin forces a password change: it gates password sessions, not SSO ones (the
    // account's Bulwark password is random and unknown to its owner).
    let path = format!("/v1/admin/users/{}/require-password-change", me.json["user_id"].as_str().unwrap());
    assert_eq!(app.call("POST", &path, Some(&admin.access), None).await.status, 204);
    let (Some(code), None) = sign_in(app, "acme").await else { panic!("second sign-in failed") };
    let second = exchange(app, &code).await;
    assert_eq!(second.json["password_change_required"], false, "{}", second.json);
    let me2 = app.call("GET", "/v1/me", second.json["access_token"].as_str(), None).await;
    assert_eq!(me2.json["user_id"], me.json["user_id"]);
    assert_eq!(me2.json["password_change_required"], false, "the web app would gate on it");
    let r = app.call("GET", "/v1/conversations", second.json["access_token"].as_str(), None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let refreshed =
        app.call("POST", "/v1/auth/refresh", None, Some(json!({"refresh_token": second.json["refresh_token"]}))).await;
    assert_eq!(refreshed.json["password_change_required"], false, "{}", refreshed.json);

    let events = app.call("GET", "/v1/admin/audit?limit=100", Some(&admin.access), None).await.json;
    let events = events["events"].as_array().unwrap().clone();
    // The first JIT sign-in, the one bound to a verifier, the one after the forced change.
    let ok = events.iter().filter(|e| e["action"] == "login.success" && e["method"] == "saml").count();
    assert_eq!(ok, 3, "{events:?}");
    assert!(events.iter().any(|e| e["action"] == "user.jit_create"));
    assert!(events.iter().any(|e| e["action"] == "login.failure" && e["outcome"] == "invalid_token"));
    assert!(!serde_json::to_string(&events).unwrap().to_lowercase().contains("new.person@acme.test"), "email in clear");
}

on_both_backends!(TestApp: saml_accepts_each_signing_style_and_the_email_attribute);

async fn saml_accepts_each_signing_style_and_the_email_attribute(app: &TestApp) {
    let idp = SamlIdp::start(Implementation::Pysaml2, "styles@acme.test").await;
    let admin = admin_of(app, "acme").await;
    for variant in ["sign=assertion", "sign=response", "sign=both"] {
        let url = idp.sso_url_with("styles@acme.test", variant, &[]);
        assert_eq!(configure(app, &admin, by_hand(&idp, &url, true)).await.status, 200);
        let (Some(code), None) = sign_in(app, "acme").await else { panic!("{variant} refused") };
        assert_eq!(email_of(app, &code).await, "styles@acme.test", "{variant}");
    }
    // Certificate rollover: with both certificates configured, the new key is accepted too.
    let url = idp.sso_url_with("styles@acme.test", "key=other", &[]);
    let mut body = by_hand(&idp, &url, true);
    body["signing_certificates"] = json!([idp.certificate, idp.other_certificate.as_deref().unwrap()]);
    assert_eq!(configure(app, &admin, body).await.status, 200);
    let (Some(code), None) = sign_in(app, "acme").await else { panic!("the second certificate refused") };
    assert_eq!(email_of(app, &code).await, "styles@acme.test");
    // The email from an attribute, when configured: the NameID is then not an email at all.
    let url = idp.sso_url_with("styles@acme.test", "attr_email=Other.Styles@acme.test", &[]);
    let mut body = by_hand(&idp, &url, true);
    body["email_attribute"] = json!("email");
    assert_eq!(configure(app, &admin, body).await.status, 200);
    let (Some(code), None) = sign_in(app, "acme").await else { panic!("attribute email refused") };
    assert_eq!(email_of(app, &code).await, "other.styles@acme.test");
}

on_both_backends!(TestApp: saml_attacks_fail_closed);

async fn saml_attacks_fail_closed(app: &TestApp) {
    let idp = SamlIdp::start(Implementation::Pysaml2, "attacker@acme.test").await;
    let admin = admin_of(app, "acme").await;
    let victim = join(app, &admin, "victim@acme.test", "member").await;
    let _ = join(app, &admin, "attacker@acme.test", "member").await;
    let forged = [("forged_email", "victim@acme.test")];
    let attacks: Vec<(&str, String)> = vec![
        ("unsigned", idp.sso_url_with("victim@acme.test", "sign=none", &[])),
        ("another key", idp.sso_url_with("victim@acme.test", "key=other", &[])),
        ("wrapped before", idp.sso_url_with("attacker@acme.test", "wrap=before", &forged)),
        ("wrapped after", idp.sso_url_with("attacker@acme.test", "wrap=after", &forged)),
        ("moved into Extensions", idp.sso_url_with("attacker@acme.test", "wrap=extensions", &forged)),
        ("moved into Object", idp.sso_url_with("attacker@acme.test", "wrap=object", &forged)),
        ("same ID twice", idp.sso_url_with("attacker@acme.test", "wrap=same_id", &forged)),
        // The IdP vouches for victim@acme.test.evil.test; a reader of the first text node
        // would see victim@acme.test.
        ("comment in NameID", idp.sso_url_with("victim@acme.test.evil.test", "comment=16", &[])),
        ("wrong audience", idp.sso_url_with("victim@acme.test", "audience=wrong", &[])),
        ("wrong destination", idp.sso_url_with("victim@acme.test", "destination=wrong", &[])),
        ("wrong recipient", idp.sso_url_with("victim@acme.test", "recipient=wrong", &[])),
        ("wrong issuer", idp.sso_url_with("victim@acme.test", "issuer=wrong", &[])),
        ("expired", idp.sso_url_with("victim@acme.test", "expired", &[])),
        ("not yet valid", idp.sso_url_with("victim@acme.test", "not_yet_valid", &[])),
        ("unsolicited", idp.sso_url_with("victim@acme.test", "unsolicited", &[])),
        ("unknown request", idp.sso_url_with("victim@acme.test", "in_response_to=_0123456789abcdef", &[])),
    ];
    for (name, url) in &attacks {
        assert_eq!(configure(app, &admin, by_hand(&idp, url, true)).await.status, 200, "{name}");
        let outcome = sign_in(app, "acme").await;
        assert_eq!(outcome, (None, Some("invalid_token".into())), "{name}");
    }
    // A genuine signed response for the attacker, edited after signing: the NameID (digest
    // no longer matches), then also the assertion's ID (its signature references another).
    let url = idp.sso_url_with("attacker@acme.test", "", &[]);
    assert_eq!(configure(app, &admin, by_hand(&idp, &url, true)).await.status, 200);
    for also_id in [false, true] {
        let posted = through_idp(app, &start_path("acme")).await;
        let xml = String::from_utf8(STANDARD.decode(&posted.saml_response).unwrap()).unwrap();
        let mut edited = xml.replace("attacker@acme.test", "victim@acme.test");
        if also_id {
            let at = edited.find("<saml:Assertion").expect("pysaml2's prefix");
            let id_at = edited[at..].find(" ID=\"").unwrap() + at + 5;
            edited.insert_str(id_at, "forged-");
        }
        assert_ne!(edited, xml);
        let r = post_acs(app, &[("SAMLResponse", &STANDARD.encode(edited)), ("RelayState", &posted.relay_state)]).await;
        assert_eq!(landing(&r).get("error").map(String::as_str), Some("invalid_token"), "edited, id too: {also_id}");
    }

    // A failure reported by the IdP is a refusal, not a token problem.
    let url = idp.sso_url_with("victim@acme.test", "status=responder", &[]);
    assert_eq!(configure(app, &admin, by_hand(&idp, &url, true)).await.status, 200);
    assert_eq!(sign_in(app, "acme").await, (None, Some("access_denied".into())));

    // A response to another tenant's request: tenant "beta" trusts the same IdP; its request
    // ID, answered into acme's sign-in, does not count.
    let beta = admin_of(app, "beta").await;
    assert_eq!(configure(app, &beta, by_hand(&idp, &idp.sso_url, true)).await.status, 200);
    let r = app.call("GET", &start_path("beta"), None, None).await;
    let location = r.headers["location"].to_str().unwrap().to_owned();
    let beta_request = request_id_of(&location);
    let url = idp.sso_url_with("victim@acme.test", &format!("in_response_to={beta_request}"), &[]);
    assert_eq!(configure(app, &admin, by_hand(&idp, &url, true)).await.status, 200);
    assert_eq!(sign_in(app, "acme").await, (None, Some("invalid_token".into())));

    // IdP-initiated (no RelayState, or one we never issued): nothing to redirect to.
    let url = idp.sso_url_with("victim@acme.test", "", &[]);
    assert_eq!(configure(app, &admin, by_hand(&idp, &url, true)).await.status, 200);
    let posted = through_idp(app, &start_path("acme")).await;
    for fields in [
        vec![("SAMLResponse", posted.saml_response.as_str())],
        vec![("SAMLResponse", posted.saml_response.as_str()), ("RelayState", "forged.relay")],
    ] {
        let r = post_acs(app, &fields).await;
        assert_eq!((r.status, r.code()), (400, "invalid_request"), "{fields:?}");
    }
    // Garbage in the form is a refusal too, never a 500.
    let posted2 = through_idp(app, &start_path("acme")).await;
    let r = post_acs(app, &[("SAMLResponse", "%%%not-base64"), ("RelayState", &posted2.relay_state)]).await;
    assert_eq!(landing(&r).get("error").map(String::as_str), Some("invalid_token"));

    // The victim was never signed in by any of this.
    let events = app.call("GET", "/v1/admin/audit?limit=100", Some(&admin.access), None).await.json;
    let signed_in = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "login.success" && e["method"] == "saml" && e["actor"] == victim.user_id.as_str());
    assert!(!signed_in, "the victim was signed in");
}

fn request_id_of(location: &str) -> String {
    let q = crate::sso_idp::query_of(location);
    let deflated = STANDARD.decode(&q["SAMLRequest"]).unwrap();
    let mut xml = String::new();
    std::io::Read::read_to_string(&mut flate2::read::DeflateDecoder::new(&deflated[..]), &mut xml).unwrap();
    let start = xml.find(" ID=\"").unwrap() + 5;
    xml[start..start + xml[start..].find('"').unwrap()].to_owned()
}

on_both_backends!(TestApp: a_saml_response_counts_once_even_when_raced);

async fn a_saml_response_counts_once_even_when_raced(app: &TestApp) {
    let idp = SamlIdp::start(Implementation::Samlify, "racer@acme.test").await;
    let admin = admin_of(app, "acme").await;
    assert_eq!(configure(app, &admin, by_hand(&idp, &idp.sso_url, true)).await.status, 200);
    let posted = through_idp(app, &start_path("acme")).await;
    let replies = futures::future::join_all((0..10).map(|_| post(app, &posted))).await;
    let codes = replies
        .iter()
        .filter(|r| {
            r.status == 302
                && crate::sso_idp::query_of(r.headers["location"].to_str().unwrap()).contains_key("login_code")
        })
        .count();
    let refused = replies.iter().filter(|r| r.status == 400).count();
    assert_eq!((codes, refused), (1, 9));
}
