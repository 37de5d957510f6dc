//! OpenID Connect ID token verification (Core §3.1.3.7), on `jsonwebtoken` — the JOSE library
//! the repository already signs its own access tokens with, on aws-lc-rs. The signature is
//! checked with a key of the IdP's JWKS chosen by `kid`, for asymmetric algorithms only (no
//! `none`, no HMAC: a symmetric algorithm would let anyone holding the public key sign), and
//! the algorithm must belong to the key's own family and match the key's `alg` when it has
//! one. Then `iss`, `aud` (and `azp` when there are several audiences or it is present),
//! `exp`/`iat`/`nbf` with a small skew, `nonce` and `sub`, against this login's expectations.

use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

/// Clock skew tolerated between the IdP and us.
pub const SKEW_SECS: i64 = 120;
/// An ID token issued longer ago than this (plus the skew) is refused: it was minted for a
/// code exchanged just now.
pub const MAX_AGE_SECS: i64 = 600;
/// Longer tokens are refused before any parsing.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The signature algorithms an ID token may use.
const ALLOWED: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// What this login expects of its ID token.
pub struct Expect<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now: i64,
}

/// Why a token was refused (for the log; the user sees `error=invalid_token`).
#[derive(Debug, PartialEq, Eq)]
pub enum Rejection {
    Malformed,
    /// `none`, HMAC or an unknown algorithm, or one that does not fit the key.
    Algorithm,
    /// No key of the JWKS has the token's `kid` (the JWKS may be refreshed once).
    UnknownKey,
    Signature,
    Claim(&'static str),
}

/// The usable signing keys of a JWKS document (`{"keys": [...]}`); keys this library cannot
/// read, symmetric keys and encryption keys are skipped.
pub fn signing_keys(jwks: &Value) -> Vec<Jwk> {
    let Some(keys) = jwks.get("keys").and_then(Value::as_array) else { return Vec::new() };
    keys.iter()
        .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
        .filter(|k| matches!(k.common.public_key_use, None | Some(PublicKeyUse::Signature)))
        .filter(|k| DecodingKey::from_jwk(k).is_ok_and(|d| d.family() != jsonwebtoken::AlgorithmFamily::Hmac))
        .collect()
}

/// Verify `token` against `keys` and `expect`; its claims on success.
pub fn verify(token: &str, keys: &[Jwk], expect: &Expect<'_>) -> Result<Map<String, Value>, Rejection> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Rejection::Malformed);
    }
    // An unknown `alg` (`none` included) fails to parse here.
    let header = jsonwebtoken::decode_header(token).map_err(|_| Rejection::Algorithm)?;
    if !ALLOWED.contains(&header.alg) {
        return Err(Rejection::Algorithm);
    }
    let fits = |k: &&Jwk| {
        let alg_ok = match k.common.key_algorithm {
            None => true,
            Some(ka) => jsonwebtoken::jwk::KeyAlgorithm::from(header.alg) == ka,
        };
        alg_ok && DecodingKey::from_jwk(k).is_ok_and(|d| d.family() == header.alg.family())
    };
    let key = match &header.kid {
        Some(kid) => keys.iter().filter(|k| k.common.key_id.as_deref() == Some(kid)).find(fits),
        // Without a kid, only an unambiguous key will do.
        None => {
            let mut candidates = keys.iter().filter(fits);
            match (candidates.next(), candidates.next()) {
                (Some(k), None) => Some(k),
                _ => None,
            }
        }
    };
    let key = key.ok_or(Rejection::UnknownKey)?;
    let decoding = DecodingKey::from_jwk(key).map_err(|_| Rejection::UnknownKey)?;
    // The library checks the signature, the algorithm against the key family, `iss` and
    // `aud`; time and the OIDC-specific claims are checked below against our own clock.
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.required_spec_claims.clear();
    validation.set_issuer(&[expect.issuer]);
    validation.set_audience(&[expect.client_id]);
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &decoding, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind as K;
        match e.kind() {
            K::InvalidSignature => Rejection::Signature,
            K::InvalidAlgorithm | K::InvalidAlgorithmName => Rejection::Algorithm,
            K::InvalidIssuer => Rejection::Claim("iss"),
            K::InvalidAudience => Rejection::Claim("aud"),
            K::MissingRequiredClaim(_) => Rejection::Claim("required claim missing"),
            _ => Rejection::Malformed,
        }
    })?;
    check_claims(&data.claims, expect)?;
    Ok(data.claims)
}

fn check_claims(c: &Map<String, Value>, expect: &Expect<'_>) -> Result<(), Rejection> {
    // Belt and braces: the library checked these, but an absent claim must fail too.
    if c.get("iss").and_then(Value::as_str) != Some(expect.issuer) {
        return Err(Rejection::Claim("iss"));
    }
    let audiences: Vec<&str> = match c.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => return Err(Rejection::Claim("aud")),
    };
    if !audiences.contains(&expect.client_id) {
        return Err(Rejection::Claim("aud"));
    }
    let azp = c.get("azp").map(|v| v.as_str());
    match azp {
        Some(Some(a)) if a != expect.client_id => return Err(Rejection::Claim("azp")),
        Some(None) => return Err(Rejection::Claim("azp")),
        None if audiences.len() > 1 => return Err(Rejection::Claim("azp")),
        _ => {}
    }
    let number = |name: &'static str| c.get(name).and_then(Value::as_i64);
    let exp = number("exp").ok_or(Rejection::Claim("exp"))?;
    if exp + SKEW_SECS <= expect.now {
        return Err(Rejection::Claim("exp"));
    }
    let iat = number("iat").ok_or(Rejection::Claim("iat"))?;
    if iat > expect.now + SKEW_SECS || iat < expect.now - MAX_AGE_SECS - SKEW_SECS {
        return Err(Rejection::Claim("iat"));
    }
    if let Some(nbf) = c.get("nbf") {
        if nbf.as_i64().is_none_or(|n| n > expect.now + SKEW_SECS) {
            return Err(Rejection::Claim("nbf"));
        }
    }
    let nonce = c.get("nonce").and_then(Value::as_str).ok_or(Rejection::Claim("nonce"))?;
    if !bool::from(nonce.as_bytes().ct_eq(expect.nonce.as_bytes())) {
        return Err(Rejection::Claim("nonce"));
    }
    match c.get("sub").and_then(Value::as_str) {
        Some(s) if !s.is_empty() && s.len() <= 255 => Ok(()),
        _ => Err(Rejection::Claim("sub")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    // A P-256 key for these tests only.
    const EC_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgTlC91Mjw8z34ph6C
+1bJP93EhOag5jcfDyhhDbCBdyGhRANCAAQuq2aotLfIl/V/GDCSm6NNWHRcXkMw
tni/UJJoUva21iZ+oCS9rRHhhcI2eyn1zAlSBq8JPlOmeCsZl5iCiKhl
-----END PRIVATE KEY-----";

    fn jwks() -> Vec<Jwk> {
        signing_keys(&json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
            "x": "LqtmqLS3yJf1fxgwkpujTVh0XF5DMLZ4v1CSaFL2ttY",
            "y": "Jn6gJL2tEeGFwjZ7KfXMCVIGrwk-U6Z4KxmXmIKIqGU"
        }, {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}]}))
    }

    fn expect(now: i64) -> Expect<'static> {
        Expect { issuer: "https://idp.test", client_id: "bulwark", nonce: "n-1", now }
    }

    fn sign(claims: Value, kid: Option<&str>) -> String {
        let mut h = Header::new(Algorithm::ES256);
        h.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&h, &claims, &EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).unwrap()).unwrap()
    }

    fn claims(now: i64) -> Value {
        json!({"iss": "https://idp.test", "aud": "bulwark", "sub": "s1", "nonce": "n-1", "iat": now, "exp": now + 300})
    }

    #[test]
    fn a_good_token_verifies_and_the_symmetric_key_is_never_usable() {
        let now = 1_800_000_000;
        let keys = jwks();
        assert_eq!(keys.len(), 1, "the oct key is skipped");
        assert!(verify(&sign(claims(now), Some("k1")), &keys, &expect(now)).is_ok());
        assert!(verify(&sign(claims(now), None), &keys, &expect(now)).is_ok(), "one key: no kid needed");
        assert_eq!(verify(&sign(claims(now), Some("k2")), &keys, &expect(now)), Err(Rejection::UnknownKey));
    }

    #[test]
    fn each_claim_is_checked() {
        let now = 1_800_000_000;
        let keys = jwks();
        let with = |k: &str, v: Value| {
            let mut c = claims(now);
            c[k] = v;
            verify(&sign(c, Some("k1")), &keys, &expect(now))
        };
        assert!(with("iss", json!("https://evil.test")).is_err());
        assert!(with("aud", json!("other")).is_err());
        assert!(with("aud", json!(["bulwark", "other"])).is_err(), "several audiences need azp");
        let mut c = claims(now);
        c["aud"] = json!(["bulwark", "other"]);
        c["azp"] = json!("bulwark");
        assert!(verify(&sign(c, Some("k1")), &keys, &expect(now)).is_ok());
        assert!(with("azp", json!("other")).is_err());
        assert!(with("exp", json!(now - SKEW_SECS - 1)).is_err());
        assert!(with("exp", json!(now - 10)).is_ok(), "within the skew");
        assert!(with("iat", json!(now + SKEW_SECS + 5)).is_err());
        assert!(with("iat", json!(now - MAX_AGE_SECS - SKEW_SECS - 5)).is_err());
        assert!(with("nbf", json!(now + SKEW_SECS + 5)).is_err());
        assert!(with("nonce", json!("n-2")).is_err());
        assert!(with("sub", json!("")).is_err());
        let mut c = claims(now);
        c.as_object_mut().unwrap().remove("nonce");
        assert!(verify(&sign(c, Some("k1")), &keys, &expect(now)).is_err());
    }

    #[test]
    fn none_and_hmac_are_refused() {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        let now = 1_800_000_000;
        let keys = jwks();
        let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let none = format!("{}.{}.", part(json!({"alg": "none", "kid": "k1"})), part(claims(now)));
        assert_eq!(verify(&none, &keys, &expect(now)), Err(Rejection::Algorithm));
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("k1".into());
        let hs = jsonwebtoken::encode(&h, &claims(now), &EncodingKey::from_secret(b"public key bytes")).unwrap();
        assert_eq!(verify(&hs, &keys, &expect(now)), Err(Rejection::Algorithm));
        // One signature character changed (the first: every one of its bits counts).
        let signed = sign(claims(now), Some("k1"));
        let at = signed.rfind('.').unwrap() + 1;
        let flip = if signed.as_bytes()[at] == b'A' { "B" } else { "A" };
        let tampered = format!("{}{flip}{}", &signed[..at], &signed[at + 1..]);
        assert!(verify(&tampered, &keys, &expect(now)).is_err());
    }
}
