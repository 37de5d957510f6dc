//! Embedded blob store: one file per blob under `$BULWARK_DATA_DIR/blobs/`, written as a temp
//! file that is fsynced and renamed into place, so a reader never sees a partial object and a
//! failed upload leaves nothing behind. Streams in and out in chunks; each chunk written
//! starts its own writeback, so the fsync at the end waits only for the last of the data.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;

use crate::ports::blob::*;

/// File I/O granularity: a few trips to the blocking pool per attachment, and a bounded
/// buffer per request (two chunks while a download reads ahead).
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

/// File work `f` on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> std::io::Result<T> + Send + 'static) -> Result<T, BlobError> {
    super::blocking(f).await.map_err(BlobError::Backend)?.map_err(be)
}

/// The outcome of a write started with [`write_behind`] on the blocking pool.
async fn landed(w: tokio::task::JoinHandle<std::io::Result<()>>) -> Result<(), BlobError> {
    w.await.map_err(|e| be(e.into()))?.map_err(be)
}

/// Write `pieces` one after another from `at` and start their writeback to the disk without
/// waiting for it.
fn write_behind(f: &std::fs::File, pieces: &[bytes::Bytes], at: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut end = at;
    for piece in pieces {
        f.write_all_at(piece, end)?;
        end += piece.len() as u64;
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // Only a head start: durability still comes from the fsync before the rename, which
        // also reports any error this would have (so this one's result is not needed).
        // SAFETY: a plain syscall on a descriptor `f` keeps open for its duration.
        let _ = unsafe {
            libc::sync_file_range(
                f.as_raw_fd(),
                at as libc::off64_t,
                (end - at) as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            )
        };
    }
    Ok(())
}

/// Exactly `n` bytes of `f` from `at`; a file shorter than that is an error.
fn read_chunk(f: &std::fs::File, at: u64, n: usize) -> std::io::Result<bytes::Bytes> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; n];
    f.read_exact_at(&mut buf, at)?;
    Ok(buf.into())
}

#[async_trait]
impl BlobStore for FileBlobStore {
    async fn put(&self, key: &BlobKey, mut body: ByteStream) -> Result<u64, BlobError> {
        let path = self.path(key);
        let dir = path.parent().map(ToOwned::to_owned).unwrap_or_else(|| self.root.clone());
        tokio::fs::create_dir_all(&dir).await.map_err(be)?;
        let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
        let file = Arc::new(
            blocking({
                let tmp = tmp.clone();
                move || std::fs::File::create(tmp)
            })
            .await?,
        );
        // One write in flight while the next chunk gathers; each starts its own writeback,
        // so the final fsync waits for the tail, not for the whole file.
        let mut in_flight: Option<tokio::task::JoinHandle<std::io::Result<()>>> = None;
        let mut written = 0u64;
        let result: Result<(), BlobError> = async {
            // The pieces as they came (no copy), written together once they reach a chunk.
            let (mut pieces, mut gathered) = (Vec::new(), 0usize);
            loop {
                let next = body.next().await;
                let end = next.is_none();
                if let Some(chunk) = next {
                    let chunk = chunk.map_err(BlobError::Body)?;
                    gathered += chunk.len();
                    pieces.push(chunk);
                }
                if gathered >= IO_CHUNK || (end && gathered > 0) {
                    if let Some(w) = in_flight.take() {
                        landed(w).await?;
                    }
                    let (f, data, at) = (Arc::clone(&file), std::mem::take(&mut pieces), written);
                    written += gathered as u64;
                    gathered = 0;
                    in_flight = Some(tokio::task::spawn_blocking(move || write_behind(&f, &data, at)));
                }
                if end {
                    break;
                }
            }
            if let Some(w) = in_flight.take() {
                landed(w).await?;
            }
            let (f, tmp, path, dir) = (Arc::clone(&file), tmp.clone(), path.clone(), dir.clone());
            blocking(move || {
                f.sync_all()?;
                std::fs::rename(&tmp, &path)?;
                std::fs::File::open(&dir)?.sync_all()
            })
            .await
        }
        .await;
        if result.is_err() {
            if let Some(w) = in_flight.take() {
                let _ = w.await;
            }
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result.map(|()| written)
    }

    async fn get(&self, key: &BlobKey) -> Result<ByteStream, BlobError> {
        let path = self.path(key);
        let opened = super::blocking(move || {
            let f = std::fs::File::open(path)?;
            let len = f.metadata()?.len();
            Ok::<_, std::io::Error>((f, len))
        });
        let (file, len) = match opened.await.map_err(BlobError::Backend)? {
            Ok((f, len)) => (Arc::new(f), len),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(BlobError::NotFound),
            Err(e) => return Err(be(e)),
        };
        // A blob is only ever replaced by a rename, so the open file keeps its length. Each
        // chunk is read straight into a buffer of its own size in one trip to the blocking
        // pool (tokio's file reads into a buffer of its own, then copies), and the next chunk's
        // read starts as this one is handed on, so the reader never waits for a trip it could
        // have overlapped with its own work on the chunk before.
        let read = move |at: u64| {
            let file = Arc::clone(&file);
            let n = (len - at).min(IO_CHUNK as u64) as usize;
            (at + n as u64, tokio::task::spawn_blocking(move || read_chunk(&file, at, n)))
        };
        // Nothing is read until the stream is polled: a caller that only asks whether the
        // blob exists costs no read.
        Ok(Box::pin(futures::stream::try_unfold((0u64, None), move |(at, pending)| {
            let read = read.clone();
            async move {
                let Some((end, chunk)) = pending.or_else(|| (at < len).then(|| read(at))) else { return Ok(None) };
                let chunk = chunk.await.map_err(std::io::Error::other)??;
                Ok(Some((chunk, (end, (end < len).then(|| read(end))))))
            }
        })))
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        match tokio::fs::remove_file(self.path(key)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(be(e)),
        }
    }
}
