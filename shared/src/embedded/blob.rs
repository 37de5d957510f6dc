//! Embedded blob store: one file per blob under `$BULWARK_DATA_DIR/blobs/`, written as a temp
//! file that is fsynced and renamed into place, so a reader never sees a partial object and a
//! failed upload leaves nothing behind. Streams in and out in chunks.

use std::path::PathBuf;

use async_trait::async_trait;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::ports::blob::*;

pub struct FileBlobStore {
    root: PathBuf,
}

impl FileBlobStore {
    pub fn new(root: PathBuf) -> Self {
        FileBlobStore { root }
    }
    fn path(&self, key: &BlobKey) -> PathBuf {
        // BlobKey guarantees relative, `..`-free segments.
        self.root.join(key.as_str())
    }
}

fn be(e: std::io::Error) -> BlobError {
    BlobError::Backend(e.into())
}

#[async_trait]
impl BlobStore for FileBlobStore {
    async fn put(&self, key: &BlobKey, mut body: ByteStream) -> Result<u64, BlobError> {
        let path = self.path(key);
        let dir = path.parent().map(ToOwned::to_owned).unwrap_or_else(|| self.root.clone());
        tokio::fs::create_dir_all(&dir).await.map_err(be)?;
        let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
        let mut file = tokio::fs::File::create(&tmp).await.map_err(be)?;
        let mut written = 0u64;
        let result: Result<(), BlobError> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(BlobError::Body)?;
                file.write_all(&chunk).await.map_err(be)?;
                written += chunk.len() as u64;
            }
            file.sync_all().await.map_err(be)?;
            tokio::fs::rename(&tmp, &path).await.map_err(be)?;
            tokio::fs::File::open(&dir).await.map_err(be)?.sync_all().await.map_err(be)
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result.map(|()| written)
    }

    async fn get(&self, key: &BlobKey) -> Result<ByteStream, BlobError> {
        match tokio::fs::File::open(self.path(key)).await {
            Ok(f) => Ok(Box::pin(tokio_util::io::ReaderStream::with_capacity(f, 64 * 1024))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BlobError::NotFound),
            Err(e) => Err(be(e)),
        }
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        match tokio::fs::remove_file(self.path(key)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(be(e)),
        }
    }
}
