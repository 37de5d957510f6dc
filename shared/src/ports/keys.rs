//! Key service port (KMS semantics): data keys are generated under an encryption context and
//! returned both in plaintext (for immediate use, zeroized on drop) and wrapped (for storage).
//! A wrapped key only unwraps with exactly the same context, so a tenant's wrapped key copied
//! into another tenant cannot be opened there.

use std::collections::BTreeMap;

use async_trait::async_trait;
use zeroize::Zeroizing;

/// Key/value pairs bound to a wrapped key, e.g. `{"tenant": "<id>"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncryptionContext(pub BTreeMap<String, String>);

impl EncryptionContext {
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        EncryptionContext(pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
    }
    /// A canonical byte encoding (sorted, length-prefixed) used as associated data.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in &self.0 {
            for part in [k, v] {
                out.extend_from_slice(&(part.len() as u32).to_be_bytes());
                out.extend_from_slice(part.as_bytes());
            }
        }
        out
    }
}

/// A fresh 256-bit data key.
pub struct DataKey {
    pub plaintext: Zeroizing<[u8; 32]>,
    pub wrapped: Vec<u8>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey").field("plaintext", &"<redacted>").finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Wrong context, tampered or foreign ciphertext: the key cannot be unwrapped.
    #[error("the wrapped key cannot be decrypted with this context")]
    InvalidCiphertext,
    #[error("key service failure")]
    Backend(#[source] anyhow::Error),
    /// Throttled or briefly unavailable; nothing was done, and a retry may succeed.
    #[error("key service temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
}

#[async_trait]
pub trait KeyService: Send + Sync {
    async fn generate_data_key(&self, ctx: &EncryptionContext) -> Result<DataKey, KeyError>;
    async fn decrypt_data_key(&self, wrapped: &[u8], ctx: &EncryptionContext) -> Result<Zeroizing<[u8; 32]>, KeyError>;
}
