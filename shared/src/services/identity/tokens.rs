//! Access-token claims, and the cache of access tokens whose signature was already verified.

use serde::{Deserialize, Serialize};

/// The claims of an access token.
#[derive(Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub tid: String,
    pub tsl: String,
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub typ: String,
}

/// Access tokens whose signature has been verified, by SHA-256 of the whole token. A client
/// presents the same token on every request for up to 15 minutes, and the Ed25519 check was
/// the largest CPU cost of an authenticated request (BENCHMARKS.md). Only the signature check
/// is skipped: the signing key must still be current, and expiry, session and user are
/// checked on every request. Bounded; emptied when full.
#[derive(Default)]
pub struct VerifiedTokens(std::sync::Mutex<std::collections::HashMap<[u8; 32], Claims>>);

const VERIFIED_CAP: usize = 10_000;

impl VerifiedTokens {
    pub fn get(&self, digest: &[u8; 32]) -> Option<Claims> {
        self.0.lock().ok()?.get(digest).cloned()
    }

    pub fn insert(&self, digest: [u8; 32], claims: &Claims) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= VERIFIED_CAP {
                m.clear();
            }
            m.insert(digest, claims.clone());
        }
    }
}
