//! Embedded blob store: one file per blob under `$BULWARK_DATA_DIR/blobs/`, written as a temp
//! file that is fsynced and renamed into place, so a reader never sees a partial object and a
//! failed upload leaves nothing behind. Streams in and out in chunks.

use std::path::PathBuf;

use async_trait::async_trait;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::ports::blob::*;

/// File I/O granularity (bytes held per transfer): a few trips to the blocking pool per
/// attachment, and a bounded buffer per request.
const IO_CHUNK: usize = 256 * 1024;

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
        // Every write of a tokio file is a trip to the blocking pool: buffer so a 4 MiB upload
        // makes a handful of them rather than one per 64 KiB segment.
        let file = tokio::fs::File::create(&tmp).await.map_err(be)?;
        let mut file = tokio::io::BufWriter::with_capacity(IO_CHUNK, file);
        let mut written = 0u64;
        let result: Result<(), BlobError> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(BlobError::Body)?;
                file.write_all(&chunk).await.map_err(be)?;
                written += chunk.len() as u64;
            }
            file.flush().await.map_err(be)?;
            file.get_ref().sync_all().await.map_err(be)?;
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
            Ok(f) => Ok(Box::pin(tokio_util::io::ReaderStream::with_capacity(f, IO_CHUNK))),
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
