//! Blob store port: opaque byte objects (attachment ciphertext) streamed in and out, so no
//! caller has to hold a whole object in memory.

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

/// A stream of chunks. Errors are I/O errors so producers (a cipher, a request body) and
/// consumers (a response body) compose without conversion.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// A blob's key: `/`-separated segments of `[A-Za-z0-9._-]`, so it is a safe relative file
/// path (no `..`, no absolute path) and a safe S3 key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    pub fn parse(s: &str) -> Result<Self, BlobError> {
        let ok = !s.is_empty()
            && s.len() <= 512
            && s.split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            });
        if ok {
            Ok(BlobKey(s.to_owned()))
        } else {
            Err(BlobError::InvalidKey)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob not found")]
    NotFound,
    #[error("invalid blob key")]
    InvalidKey,
    /// The body stream failed while uploading; nothing was stored.
    #[error("body stream failed")]
    Body(#[source] std::io::Error),
    #[error("blob backend failure")]
    Backend(#[source] anyhow::Error),
    /// Throttled or briefly unavailable; nothing was done, and a retry may succeed.
    #[error("blob temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
}

#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Store the whole stream under `key`, replacing any previous object. Atomic: a reader
    /// sees the old object or the complete new one, never a partial write; a failed body
    /// leaves nothing behind. Returns the number of bytes stored.
    async fn put(&self, key: &BlobKey, body: ByteStream) -> Result<u64, BlobError>;
    async fn get(&self, key: &BlobKey) -> Result<ByteStream, BlobError>;
    /// Delete; deleting a missing object is not an error.
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError>;
}
