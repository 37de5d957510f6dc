//! Secrets port: named secret bytes (token signing keys, blind-index HMAC keys, the operator
//! token). Secrets Manager on AWS; sealed under the keyring's master key when embedded.

use async_trait::async_trait;
use secrecy::SecretSlice;

/// A secret's name: `[a-z0-9-]{1,64}` segments joined by `/`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SecretName(String);

impl SecretName {
    pub fn parse(s: &str) -> Result<Self, SecretError> {
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.split('/').all(|seg| {
                !seg.is_empty()
                    && seg.len() <= 64
                    && seg.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            });
        if ok {
            Ok(SecretName(s.to_owned()))
        } else {
            Err(SecretError::InvalidName)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret not found")]
    NotFound,
    #[error("secret already exists")]
    AlreadyExists,
    #[error("invalid secret name")]
    InvalidName,
    #[error("secret backend failure")]
    Backend(#[source] anyhow::Error),
    /// Throttled or briefly unavailable; nothing was done, and a retry may succeed.
    #[error("secret store temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
}

#[async_trait]
pub trait SecretStore: Send + Sync {
    async fn get(&self, name: &SecretName) -> Result<SecretSlice<u8>, SecretError>;
    /// Create a secret; an existing one is never overwritten (→ `AlreadyExists`).
    async fn create(&self, name: &SecretName, value: &[u8]) -> Result<(), SecretError>;
}

/// Get a secret, creating it with `len` random bytes if missing. Safe under races: the loser
/// of a concurrent create reads the winner's value.
pub async fn get_or_create(
    store: &dyn SecretStore,
    name: &SecretName,
    len: usize,
) -> Result<SecretSlice<u8>, SecretError> {
    match store.get(name).await {
        Err(SecretError::NotFound) => {}
        other => return other,
    }
    let mut fresh = zeroize::Zeroizing::new(vec![0u8; len]);
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut fresh);
    match store.create(name, &fresh).await {
        Ok(()) | Err(SecretError::AlreadyExists) => store.get(name).await,
        Err(e) => Err(e),
    }
}
