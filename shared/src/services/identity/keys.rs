//! Keys of the identity module, from the secret store:
//! - access-token signing keys (Ed25519, from 32-byte seeds `jwt-signing/current` and
//!   `jwt-signing/previous`): tokens are signed with the current key and verified against
//!   either, so rotating (previous := current; current := new) never logs anyone out;
//! - the blind-index key (`index/email-hmac`), from which each tenant's email index key is
//!   derived, so the store never holds a plaintext email.
//!
//! Parsed keys are cached for five minutes; a rotation is picked up within that time.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use jsonwebtoken::{DecodingKey, EncodingKey};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::domain::types::{Email, TenantId};
use crate::ports::secrets::{get_or_create, SecretName, SecretStore};

const TTL: Duration = Duration::from_secs(300);

pub struct SigningKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
}

pub struct KeySet {
    pub current: SigningKey,
    pub previous: SigningKey,
    index_key: Zeroizing<Vec<u8>>,
}

impl KeySet {
    /// Keys from their secrets' values (the key store does this on load; fuzzers and tests
    /// build a fixed set).
    pub fn from_seeds(current: &[u8], previous: &[u8], index_key: &[u8]) -> anyhow::Result<KeySet> {
        Ok(KeySet {
            current: signing_key(current)?,
            previous: signing_key(previous)?,
            index_key: Zeroizing::new(index_key.to_vec()),
        })
    }

    pub fn find(&self, kid: &str) -> Option<&SigningKey> {
        [&self.current, &self.previous].into_iter().find(|k| k.kid == kid)
    }

    /// HMAC-SHA-256 of `data` under a key derived for (`purpose`, `tenant`).
    fn keyed(&self, purpose: &str, tenant: &str, data: &[u8]) -> String {
        let tenant_key = hmac(&self.index_key, format!("{purpose}:{tenant}").as_bytes());
        hex::encode(hmac(&tenant_key, data))
    }

    /// The blind index of an email in a tenant: HMAC-SHA-256 under a per-tenant key.
    pub fn email_index(&self, tenant: &str, email: &Email) -> String {
        self.keyed("email-index", tenant, email.as_str().as_bytes())
    }

    /// A tag binding an opaque page cursor to where it may be used (`scope`, e.g. a
    /// conversation), so a client cannot steer a cursor elsewhere.
    pub fn cursor_tag(&self, tenant: &str, scope: &str, cursor: &str) -> String {
        self.keyed("cursor", tenant, format!("{scope}\n{cursor}").as_bytes())[..32].to_owned()
    }

    /// How a recovery code is stored: keyed, so a leaked table cannot be brute-forced offline
    /// (a 50-bit code under plain SHA-256 could be).
    pub fn recovery_code_hash(&self, tenant: &str, code: &str) -> String {
        self.keyed("recovery-code", tenant, code.as_bytes())
    }

    /// How the audit log names an IdP's subject: keyed, so the log links one person's SSO
    /// logins without holding the IdP's identifier (which may be an email or employee id).
    pub fn sso_subject(&self, tenant: &str, issuer: &str, subject: &str) -> String {
        self.keyed("sso-subject", tenant, format!("{issuer}\n{subject}").as_bytes())[..32].to_owned()
    }

    /// The same for a login attempt on a tenant that does not exist (its lockout counter
    /// lives in the platform table, keyed by slug and this).
    pub fn unknown_tenant_index(&self, slug: &str, email: &Email) -> String {
        self.email_index(&format!("unknown:{slug}"), email)
    }
}

fn hmac(key: &[u8], msg: &[u8]) -> Zeroizing<Vec<u8>> {
    // HMAC accepts keys of any length.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    m.update(msg);
    Zeroizing::new(m.finalize().into_bytes().to_vec())
}

fn signing_key(seed_secret: &[u8]) -> anyhow::Result<SigningKey> {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    // Secrets Manager generates text secrets: any length is hashed down to a 32-byte seed.
    let seed: Zeroizing<[u8; 32]> = Zeroizing::new(Sha256::digest(seed_secret).into());
    let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
    let der = sk.to_pkcs8_der().map_err(|e| anyhow::anyhow!("cannot encode the signing key: {e}"))?;
    let public = sk.verifying_key().to_bytes();
    Ok(SigningKey {
        kid: hex::encode(&Sha256::digest(public)[..8]),
        encoding: EncodingKey::from_ed_der(der.as_bytes()),
        decoding: DecodingKey::from_ed_der(&public),
    })
}

#[derive(Default)]
pub struct IdentityKeys {
    cached: Mutex<Option<(Instant, std::sync::Arc<KeySet>)>>,
}

impl IdentityKeys {
    pub async fn get(&self, secrets: &dyn SecretStore) -> anyhow::Result<std::sync::Arc<KeySet>> {
        if let Some((at, ks)) = self.cached.lock().ok().and_then(|c| c.clone()) {
            if at.elapsed() < TTL {
                return Ok(ks);
            }
        }
        let name = |n: &str| SecretName::parse(n).map_err(|e| anyhow::anyhow!("{e}"));
        let current = get_or_create(secrets, &name("jwt-signing/current")?, 32).await?;
        let previous = get_or_create(secrets, &name("jwt-signing/previous")?, 32).await?;
        let index = get_or_create(secrets, &name("index/email-hmac")?, 32).await?;
        let ks = std::sync::Arc::new(KeySet {
            current: signing_key(current.expose_secret())?,
            previous: signing_key(previous.expose_secret())?,
            index_key: Zeroizing::new(index.expose_secret().to_vec()),
        });
        if let Ok(mut c) = self.cached.lock() {
            *c = Some((Instant::now(), ks.clone()));
        }
        Ok(ks)
    }
}

/// Split a `<tenant_id>.<secret>` token (invitation, reset, refresh) into its tenant.
pub fn token_tenant(token: &str) -> Option<TenantId> {
    let (tenant, rest) = token.split_once('.')?;
    if rest.is_empty() || token.len() > 256 {
        return None;
    }
    TenantId::parse(tenant).ok()
}

/// SHA-256 hex of a token: how single-use tokens are stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, Header, Validation};

    #[test]
    fn tokens_signed_with_the_previous_key_still_verify_after_rotation() {
        // GIVEN a token signed before the rotation, with the then-current key
        let old = signing_key(b"seed one").unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(old.kid.clone());
        let claims = serde_json::json!({"sub": "u1", "exp": 4_000_000_000i64});
        let token = jsonwebtoken::encode(&header, &claims, &old.encoding).unwrap();
        // WHEN the keys rotate (previous := old, current := new)
        let ks = KeySet {
            current: signing_key(b"seed two").unwrap(),
            previous: signing_key(b"seed one").unwrap(),
            index_key: Zeroizing::new(vec![1; 32]),
        };
        assert_ne!(ks.current.kid, ks.previous.kid);
        // THEN its kid finds the previous key, which verifies it; the new key would not
        let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
        let key = ks.find(&kid).expect("previous key found by kid");
        let v = Validation::new(Algorithm::EdDSA);
        assert!(jsonwebtoken::decode::<serde_json::Value>(&token, &key.decoding, &v).is_ok());
        assert!(jsonwebtoken::decode::<serde_json::Value>(&token, &ks.current.decoding, &v).is_err());
        // AND a key that was rotated out entirely is unknown
        assert!(ks.find(&signing_key(b"seed zero").unwrap().kid).is_none());
    }

    #[test]
    fn blind_index_is_keyed_per_tenant_and_normalised() {
        let ks = KeySet {
            current: signing_key(b"a").unwrap(),
            previous: signing_key(b"b").unwrap(),
            index_key: Zeroizing::new(vec![7; 32]),
        };
        let e1 = Email::parse("Ada@Example.org").unwrap();
        let e2 = Email::parse(" ada@example.ORG ").unwrap();
        assert_eq!(ks.email_index("t1", &e1), ks.email_index("t1", &e2));
        assert_ne!(ks.email_index("t1", &e1), ks.email_index("t2", &e1));
        assert_eq!(ks.email_index("t1", &e1).len(), 64);
        assert!(!ks.email_index("t1", &e1).contains("ada"));
    }
}
