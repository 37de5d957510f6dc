//! OIDC ID tokens and the JWKS documents they are checked against (both come from an IdP, so
//! both are untrusted): never a panic, and a token is accepted only when it is genuinely
//! signed by a published asymmetric key and its claims are the ones this login expects.
//!
//! The first byte picks what the rest is: 0 → an ID token against a fixed JWKS (the fuzzer
//! cannot forge an ES256 signature: always refused); 1 → a JWKS document (its usable keys, then
//! a fixed token against them); otherwise → a claims object, genuinely signed with the
//! published key, so the claim checks themselves are fuzzed: an accepted token has exactly the
//! expected iss, aud/azp, nonce, a live exp and a plausible iat.
#![no_main]

use std::sync::OnceLock;

use bulwark::services::sso::id_token::{signing_keys, verify, Expect, SKEW_SECS};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

const EC_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgTlC91Mjw8z34ph6C
+1bJP93EhOag5jcfDyhhDbCBdyGhRANCAAQuq2aotLfIl/V/GDCSm6NNWHRcXkMw
tni/UJJoUva21iZ+oCS9rRHhhcI2eyn1zAlSBq8JPlOmeCsZl5iCiKhl
-----END PRIVATE KEY-----";
const NOW: i64 = 1_800_000_000;

fn keys() -> &'static Vec<Jwk> {
    static KEYS: OnceLock<Vec<Jwk>> = OnceLock::new();
    KEYS.get_or_init(|| {
        signing_keys(&json!({"keys": [
            {"kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
             "x": "LqtmqLS3yJf1fxgwkpujTVh0XF5DMLZ4v1CSaFL2ttY", "y": "Jn6gJL2tEeGFwjZ7KfXMCVIGrwk-U6Z4KxmXmIKIqGU"},
            {"kty": "oct", "k": "c2VjcmV0", "kid": "k1"}
        ]}))
    })
}

fn expect() -> Expect<'static> {
    Expect { issuer: "https://idp.test", client_id: "bulwark", nonce: "n-1", now: NOW }
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else { return };
    match mode {
        0 => {
            if let Ok(token) = std::str::from_utf8(rest) {
                assert!(verify(token, keys(), &expect()).is_err(), "a forged token was accepted");
            }
        }
        1 => {
            if let Ok(doc) = serde_json::from_slice::<Value>(rest) {
                let found = signing_keys(&doc);
                let _ = verify("eyJhbGciOiJFUzI1NiJ9.e30.AAAA", &found, &expect());
            }
        }
        _ => {
            let Ok(claims) = serde_json::from_slice::<Value>(rest) else { return };
            let mut header = Header::new(Algorithm::ES256);
            header.kid = Some("k1".into());
            let key = EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).expect("key");
            let Ok(token) = jsonwebtoken::encode(&header, &claims, &key) else { return };
            if let Ok(c) = verify(&token, keys(), &expect()) {
                assert_eq!(c.get("iss"), Some(&json!("https://idp.test")));
                assert_eq!(c.get("nonce"), Some(&json!("n-1")));
                let aud_ok = match c.get("aud") {
                    Some(Value::String(a)) => a == "bulwark",
                    Some(Value::Array(a)) => {
                        a.contains(&json!("bulwark")) && (a.len() == 1 || c.get("azp") == Some(&json!("bulwark")))
                    }
                    _ => false,
                };
                assert!(aud_ok, "accepted with aud {:?}", c.get("aud"));
                assert!(c.get("exp").and_then(Value::as_i64).is_some_and(|e| e + SKEW_SECS > NOW));
                assert!(c.get("iat").and_then(Value::as_i64).is_some_and(|i| i <= NOW + SKEW_SECS));
            }
        }
    }
});
