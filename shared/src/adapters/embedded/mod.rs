//! Embedded adapters: the default, durable local run mode (a developer's laptop or a small
//! clinic's server), with no AWS account. One redb database file holds the item store (a
//! namespace per tenant), the job queues and the sealed secrets; blobs are files; the keyring
//! plays KMS; mail goes to an outbox folder.
//!
//! Why redb: a pure-Rust, ordered, ACID key-value engine with serializable write
//! transactions and fsync-on-commit durability — ordered keys give DynamoDB-style sort-key
//! queries, its single-writer transactions make conditional writes and multi-item
//! transactions trivially atomic, and it needs no C toolchain (unlike bundled SQLite).

pub mod backup;
pub mod blob;
mod codec;
pub mod keyring;
pub mod outbox;
pub mod queue;
pub mod secrets;
pub mod store;

pub use blob::FileBlobStore;
pub use keyring::{Keyring, KeyringError};
pub use outbox::Outbox;
pub use queue::EmbeddedQueue;
pub use secrets::EmbeddedSecrets;
pub use store::EmbeddedStore;

/// Run blocking database work off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| anyhow::anyhow!("blocking task failed: {e}"))
}

/// Write `bytes` to `path` atomically and durably: temp file in the same directory, fsync,
/// rename over the target, fsync the directory.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().ok_or_else(|| std::io::Error::other("path has no parent"))?;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        if let Some(m) = mode {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(m);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
