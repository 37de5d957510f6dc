//! Streaming encryption and decryption of attachment bodies with the segmented AEAD of
//! `crypto` (`StreamSealer`/`StreamOpener`). Memory stays bounded by about two segments plus
//! one input chunk per stage, whatever the size of the file (stages hand each other pieces of
//! at most a segment); the sealing side also measures the size, computes the SHA-256 of the
//! plaintext and enforces the upload limit as bytes flow.

use std::io;
use std::sync::{Arc, Mutex};

use bytes::{Buf, Bytes, BytesMut};
use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::domain::crypto::{StreamOpener, StreamSealer, SEGMENT, STREAM_HEADER, TAG};
use crate::ports::blob::ByteStream;

/// What the sealing stream saw, readable once it has finished.
#[derive(Default)]
pub struct SealStats {
    pub size: u64,
    pub sha256: Option<[u8; 32]>,
    /// The most bytes buffered at once (for the bounded-memory test and benchmarks).
    pub high_water: usize,
}

fn too_large() -> io::Error {
    io::Error::new(io::ErrorKind::FileTooLarge, "attachment over the size limit")
}

/// Whether an upload failed because of [`seal`]'s size limit.
pub fn is_too_large(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::FileTooLarge
}

struct SealState {
    input: ByteStream,
    sealer: StreamSealer,
    header: Option<Vec<u8>>,
    /// What is left of the last input piece.
    rest: Bytes,
    ended: bool,
    done: bool,
    stats: Arc<Mutex<SealStats>>,
}

struct MeasureState {
    input: ByteStream,
    /// What is left of the last input chunk, handed on a segment at a time.
    rest: Bytes,
    hasher: Sha256,
    size: u64,
    max: u64,
    stats: Arc<Mutex<SealStats>>,
}

/// `input`, driven by a task of its own up to `depth` items ahead of the reader, so the work
/// behind it (the cipher, the network) runs on another core beside the reader's (the disk,
/// the socket). The task stops when the reader goes away.
pub fn ahead(mut input: ByteStream, depth: usize) -> ByteStream {
    let (tx, rx) = tokio::sync::mpsc::channel(depth);
    let task = tokio::spawn(async move {
        loop {
            // A reader that went away stops the task even while the input stalls (a client
            // that stopped sending): it must not hold the body, the connection or the key.
            let item = tokio::select! {
                item = input.next() => item,
                () = tx.closed() => break,
            };
            let Some(item) = item else { break };
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
    });
    // The channel also closes if the task panicked: that is an error, never a short stream.
    Box::pin(futures::stream::unfold((rx, Some(task)), |(mut rx, task)| async move {
        match rx.recv().await {
            Some(item) => Some((item, (rx, task))),
            None => match task?.await {
                Ok(()) => None,
                Err(_) => Some((Err(io::Error::other("a stream stage failed")), (rx, None))),
            },
        }
    }))
}

/// Encrypt `input` under `key` (bound to `aad`), refusing more than `max` plaintext bytes.
pub fn seal(input: ByteStream, key: &[u8; 32], aad: &[u8], max: u64) -> (ByteStream, Arc<Mutex<SealStats>>) {
    let (measured, stats) = measure(input, max);
    (encrypt(measured, key, aad, Arc::clone(&stats)), stats)
}

/// [`seal`] in two stages on two cores: the plaintext's size, limit and SHA-256 in a task of
/// their own (with whatever produces `input`, the network) up to `depth` chunks ahead of the
/// encryption, which runs where the result is read. The same bytes and errors as [`seal`].
pub fn seal_in_stages(
    input: ByteStream,
    key: &[u8; 32],
    aad: &[u8],
    max: u64,
    depth: usize,
) -> (ByteStream, Arc<Mutex<SealStats>>) {
    let (measured, stats) = measure(input, max);
    (encrypt(ahead(measured, depth), key, aad, Arc::clone(&stats)), stats)
}

/// `input` unchanged, in pieces of at most a segment (so a stage queued behind this one holds
/// a few segments, not a few network chunks), its size limited to `max`; its size and
/// SHA-256 go into the stats as it ends.
fn measure(input: ByteStream, max: u64) -> (ByteStream, Arc<Mutex<SealStats>>) {
    let stats = Arc::new(Mutex::new(SealStats::default()));
    let state =
        MeasureState { input, rest: Bytes::new(), hasher: Sha256::new(), size: 0, max, stats: Arc::clone(&stats) };
    let stream = futures::stream::try_unfold(state, |mut st| async move {
        while st.rest.is_empty() {
            match st.input.next().await {
                Some(chunk) => {
                    let chunk = chunk?;
                    st.size += chunk.len() as u64;
                    if st.size > st.max {
                        return Err(too_large());
                    }
                    st.hasher.update(&chunk);
                    st.rest = chunk;
                }
                None => {
                    if let Ok(mut s) = st.stats.lock() {
                        s.size = st.size;
                        s.sha256 = Some(std::mem::take(&mut st.hasher).finalize().into());
                    }
                    return Ok(None);
                }
            }
        }
        let piece = st.rest.split_to(st.rest.len().min(SEGMENT));
        Ok(Some((piece, st)))
    });
    (Box::pin(stream), stats)
}

/// The segmented AEAD over `input`, a segment at a time: each is gathered into a buffer of
/// its own with room for its tag, and encrypted there.
fn encrypt(input: ByteStream, key: &[u8; 32], aad: &[u8], stats: Arc<Mutex<SealStats>>) -> ByteStream {
    let (sealer, header) = StreamSealer::new(key, aad);
    let state = SealState { input, sealer, header: Some(header), rest: Bytes::new(), ended: false, done: false, stats };
    let stream = futures::stream::try_unfold(state, |mut st| async move {
        if let Some(h) = st.header.take() {
            return Ok(Some((Bytes::from(h), st)));
        }
        if st.done {
            return Ok(None);
        }
        let mut segment = BytesMut::with_capacity(SEGMENT + TAG);
        // A segment is final only once we know nothing follows it.
        loop {
            if st.rest.is_empty() && !st.ended {
                match st.input.next().await {
                    Some(chunk) => st.rest = chunk?,
                    None => st.ended = true,
                }
                if let Ok(mut s) = st.stats.lock() {
                    s.high_water = s.high_water.max(segment.len() + st.rest.len());
                }
                continue;
            }
            if segment.len() == SEGMENT || st.rest.is_empty() {
                break;
            }
            let n = (SEGMENT - segment.len()).min(st.rest.len());
            segment.extend_from_slice(&st.rest[..n]);
            st.rest.advance(n);
        }
        let last = st.rest.is_empty() && st.ended;
        let tag = st.sealer.seal(&mut segment, last).map_err(|e| io::Error::other(e.to_string()))?;
        segment.extend_from_slice(&tag);
        st.done = last;
        Ok(Some((segment.freeze(), st)))
    });
    Box::pin(stream)
}

struct OpenState {
    input: ByteStream,
    key: zeroize::Zeroizing<[u8; 32]>,
    aad: Vec<u8>,
    opener: Option<StreamOpener>,
    /// The start of a piece whose end is still to come: only a piece that straddles two
    /// input chunks is copied, the others are decrypted where they arrived.
    buf: BytesMut,
    /// What is left of the last input chunk.
    rest: BytesMut,
    ended: bool,
    done: bool,
}

impl OpenState {
    /// The next `need` bytes of the input (fewer only where it ends), and whether more follow.
    async fn take(&mut self, need: usize) -> io::Result<(BytesMut, bool)> {
        // One byte beyond the piece tells whether it is the last.
        while self.buf.len() + self.rest.len() <= need && !self.ended {
            match self.input.next().await {
                Some(chunk) => {
                    let chunk = chunk?;
                    if chunk.is_empty() {
                        continue;
                    }
                    // No copy when the chunk is this stream's alone (as a file's reads are).
                    let chunk = BytesMut::from(chunk);
                    let earlier = std::mem::replace(&mut self.rest, chunk);
                    self.buf.extend_from_slice(&earlier);
                }
                None => self.ended = true,
            }
        }
        let piece = if self.buf.is_empty() {
            self.rest.split_to(need.min(self.rest.len()))
        } else {
            let n = (need - self.buf.len()).min(self.rest.len());
            self.buf.extend_from_slice(&self.rest[..n]);
            self.rest.advance(n);
            self.buf.split()
        };
        Ok((piece, !self.rest.is_empty()))
    }
}

/// Decrypt a stream made by [`seal`]. Only authenticated plaintext is ever yielded; any
/// tampering (or truncation) ends the stream with an error. Each segment is decrypted in
/// place: in the buffer its ciphertext came in when that buffer is this stream's alone (a
/// file's reads), else in a copy; only a segment split between two chunks is gathered.
pub fn open(input: ByteStream, key: zeroize::Zeroizing<[u8; 32]>, aad: &[u8]) -> ByteStream {
    let state = OpenState {
        input,
        key,
        aad: aad.to_vec(),
        opener: None,
        buf: BytesMut::new(),
        rest: BytesMut::new(),
        ended: false,
        done: false,
    };
    let stream = futures::stream::try_unfold(state, |mut st| async move {
        if st.done {
            return Ok(None);
        }
        let tampered = || io::Error::new(io::ErrorKind::InvalidData, "attachment ciphertext failed authentication");
        if st.opener.is_none() {
            let (header, _) = st.take(STREAM_HEADER).await?;
            st.opener = Some(StreamOpener::new(&st.key, &st.aad, &header).map_err(|_| tampered())?);
        }
        let (mut piece, more) = st.take(StreamOpener::SEALED_SEGMENT).await?;
        let opener = st.opener.as_mut().ok_or_else(tampered)?;
        let n = opener.open(&mut piece, !more).map_err(|_| tampered())?;
        piece.truncate(n);
        st.done = !more;
        Ok(Some((piece.freeze(), st)))
    });
    Box::pin(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(total: usize, chunk: usize) -> ByteStream {
        let n = total.div_ceil(chunk);
        Box::pin(futures::stream::iter((0..n).map(move |i| {
            let len = chunk.min(total - i * chunk);
            Ok(Bytes::from(vec![(i % 251) as u8; len]))
        })))
    }

    async fn collect(s: ByteStream) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut s = s;
        while let Some(c) = s.next().await {
            out.extend_from_slice(&c?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn hundred_mib_streams_through_in_bounded_memory() {
        // 100 MiB in 64 KiB chunks through seal and open, without ever collecting it.
        let key = crate::domain::crypto::random_32();
        let total = 100 * 1024 * 1024;
        let (sealed, stats) = seal(chunks(total, 64 * 1024), &key, b"a1", u64::MAX);
        let mut opened = open(sealed, key.clone(), b"a1");
        let (mut n, mut hasher) = (0usize, Sha256::new());
        while let Some(c) = opened.next().await {
            let c = c.unwrap();
            n += c.len();
            hasher.update(&c);
        }
        assert_eq!(n, total);
        let stats = stats.lock().unwrap();
        assert_eq!(stats.size, total as u64);
        assert_eq!(stats.sha256, Some(hasher.finalize().into()));
        assert!(stats.high_water <= SEGMENT + 64 * 1024, "buffered {} bytes", stats.high_water);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stream_run_ahead_delivers_the_same_bytes_and_its_error() {
        // GIVEN a sealed stream run ahead in its own task WHEN read THEN the same ciphertext
        let key = crate::domain::crypto::random_32();
        let plain = collect(chunks(3 * SEGMENT + 5, 4096)).await.unwrap();
        let (direct, _) = seal(chunks(3 * SEGMENT + 5, 4096), &key, b"a1", u64::MAX);
        let (sealed, _) = seal(chunks(3 * SEGMENT + 5, 4096), &key, b"a1", u64::MAX);
        let ahead_ct = collect(ahead(sealed, 2)).await.unwrap();
        assert_eq!(ahead_ct.len(), collect(direct).await.unwrap().len());
        let opened =
            ahead(open(Box::pin(futures::stream::iter(vec![Ok(Bytes::from(ahead_ct))])), key.clone(), b"a1"), 2);
        assert_eq!(collect(opened).await.unwrap(), plain);
        // AND an error in the stream reaches the reader as the same error, and ends it
        let (sealed, _) = seal(chunks(1000, 100), &key, b"a1", 999);
        let mut s = ahead(sealed, 2);
        let mut saw = None;
        while let Some(item) = s.next().await {
            if let Err(e) = item {
                saw = Some(e);
                assert!(s.next().await.is_none());
                break;
            }
        }
        assert!(saw.is_some_and(|e| is_too_large(&e)));
        // AND a stage that dies ends its stream with an error, not as if it were complete
        let dying: ByteStream = Box::pin(futures::stream::iter([1, 2]).map(|i| {
            assert!(i < 2, "the stage dies");
            Ok(Bytes::from_static(b"x"))
        }));
        let mut s = ahead(dying, 2);
        assert!(s.next().await.unwrap().is_ok());
        assert!(s.next().await.unwrap().is_err());
        assert!(s.next().await.is_none());
        // AND a reader that goes away stops the stage even while its input never answers
        let (held_tx, held_rx) = tokio::sync::oneshot::channel::<()>();
        let stalled: ByteStream =
            Box::pin(futures::stream::pending::<io::Result<Bytes>>().chain(futures::stream::once(async move {
                drop(held_tx);
                Ok(Bytes::new())
            })));
        drop(ahead(stalled, 2));
        // the stage dropped its input (and so the sender it held) once the reader was gone
        tokio::time::timeout(std::time::Duration::from_secs(5), held_rx).await.unwrap().unwrap_err();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sealing_in_stages_is_sealing() {
        // GIVEN a body sealed in two stages WHEN opened THEN the same bytes, size and digest
        let key = crate::domain::crypto::random_32();
        let plain = collect(chunks(5 * SEGMENT + 17, 10_000)).await.unwrap();
        let (sealed, stats) = seal_in_stages(chunks(5 * SEGMENT + 17, 10_000), &key, b"a1", u64::MAX, 2);
        let ct = collect(sealed).await.unwrap();
        let (direct, _) = seal(chunks(5 * SEGMENT + 17, 10_000), &key, b"a1", u64::MAX);
        assert_eq!(ct.len(), collect(direct).await.unwrap().len());
        let opened = open(Box::pin(futures::stream::iter(vec![Ok(Bytes::from(ct))])), key.clone(), b"a1");
        assert_eq!(collect(opened).await.unwrap(), plain);
        {
            let stats = stats.lock().unwrap();
            assert_eq!(stats.size, plain.len() as u64);
            assert_eq!(stats.sha256, Some(Sha256::digest(&plain).into()));
        }
        // AND one byte over the limit is the limit's error, whichever stage sees it
        let (sealed, stats) = seal_in_stages(chunks(1000, 100), &key, b"a1", 999, 2);
        assert!(is_too_large(&collect(sealed).await.unwrap_err()));
        assert_eq!(stats.lock().unwrap().sha256, None);
    }

    #[tokio::test]
    async fn limit_and_tamper_end_the_stream_with_an_error() {
        let key = crate::domain::crypto::random_32();
        let (sealed, _) = seal(chunks(1000, 100), &key, b"a1", 999);
        let err = collect(sealed).await.unwrap_err();
        assert!(is_too_large(&err));
        let (sealed, _) = seal(chunks(3 * SEGMENT + 5, 4096), &key, b"a1", u64::MAX);
        let mut ct = collect(sealed).await.unwrap();
        let full = ct.clone();
        ct[STREAM_HEADER + 10] ^= 1;
        assert!(collect(open(Box::pin(futures::stream::iter(vec![Ok(Bytes::from(ct))])), key.clone(), b"a1"))
            .await
            .is_err());
        // Dropping the last segment is detected.
        let cut = full[..STREAM_HEADER + 3 * StreamOpener::SEALED_SEGMENT].to_vec();
        assert!(collect(open(Box::pin(futures::stream::iter(vec![Ok(Bytes::from(cut))])), key.clone(), b"a1"))
            .await
            .is_err());
        // Intact, it opens, in chunks of any size.
        let pieces: Vec<io::Result<Bytes>> = full.chunks(777).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        assert_eq!(
            collect(open(Box::pin(futures::stream::iter(pieces)), key, b"a1")).await.unwrap().len(),
            3 * SEGMENT + 5
        );
    }

    #[tokio::test]
    async fn opening_in_place_gives_the_plaintext_whatever_the_chunking() {
        // GIVEN a stream of a few segments and a short one
        let key = crate::domain::crypto::random_32();
        let plain = collect(chunks(4 * SEGMENT + 333, 5000)).await.unwrap();
        let (sealed, _) = seal(chunks(4 * SEGMENT + 333, 5000), &key, b"a1", u64::MAX);
        let ct = Bytes::from(collect(sealed).await.unwrap());
        let original = ct.to_vec();
        let sealed_seg = StreamOpener::SEALED_SEGMENT;
        for size in [1, 7, STREAM_HEADER, sealed_seg - 1, sealed_seg, sealed_seg + 1, 256 * 1024, ct.len()] {
            // WHEN its ciphertext arrives in chunks of `size`, each its own buffer or all
            // slices of one shared buffer (which must be copied, never written in place)
            let own: Vec<io::Result<Bytes>> = ct.chunks(size).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
            let shared: Vec<io::Result<Bytes>> =
                (0..ct.len()).step_by(size).map(|at| Ok(ct.slice(at..(at + size).min(ct.len())))).collect();
            for input in [own, shared] {
                // THEN it opens to the same bytes
                let opened = open(Box::pin(futures::stream::iter(input)), key.clone(), b"a1");
                assert_eq!(collect(opened).await.unwrap(), plain, "chunks of {size}");
            }
        }
        // AND the shared buffer was left as it was
        assert_eq!(ct[..], original[..]);
        // AND empty chunks between the others, an empty plaintext and one of whole segments
        // open too
        for len in [0, 2 * SEGMENT, 3 * SEGMENT + 1] {
            let plain = collect(chunks(len, 4096)).await.unwrap();
            let (sealed, _) = seal(chunks(len, 4096), &key, b"a1", u64::MAX);
            let ct = collect(sealed).await.unwrap();
            let with_empties: Vec<io::Result<Bytes>> = ct
                .chunks(1000)
                .flat_map(|c| [Ok(Bytes::new()), Ok(Bytes::copy_from_slice(c))])
                .chain([Ok(Bytes::new())])
                .collect();
            let opened = open(Box::pin(futures::stream::iter(with_empties)), key.clone(), b"a1");
            assert_eq!(collect(opened).await.unwrap(), plain, "plaintext of {len}");
        }
    }
}
