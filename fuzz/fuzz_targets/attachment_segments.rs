//! Attachment ciphertext (header and 64 KiB segments): opening arbitrary bytes, in arbitrary
//! chunks, ends in an error, never a panic nor unauthenticated bytes; sealing round-trips.
#![no_main]

use bulwark::ports::blob::ByteStream;
use bulwark::services::messaging::stream_cipher;
use futures::StreamExt;
use libfuzzer_sys::fuzz_target;

const KEY: [u8; 32] = [5; 32];

fn chunked(data: Vec<u8>, size: usize) -> ByteStream {
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
        data.chunks(size.max(1)).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
    Box::pin(futures::stream::iter(chunks))
}

fn drain(s: ByteStream) -> Result<Vec<u8>, std::io::Error> {
    futures::executor::block_on(async move {
        let mut out = Vec::new();
        let mut s = s;
        while let Some(chunk) = s.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let size = usize::from(split) * 97 + 1;
    let opened = drain(stream_cipher::open(chunked(rest.to_vec(), size), zeroize::Zeroizing::new(KEY), b"aad"));
    assert!(opened.is_err() || opened.as_ref().is_ok_and(|p| p.is_empty() && rest.is_empty()), "forged ciphertext opened");
    let (sealed, _) = stream_cipher::seal(chunked(rest.to_vec(), size), &KEY, b"aad", 1 << 22);
    let sealed = drain(sealed).expect("seal");
    let plain = drain(stream_cipher::open(chunked(sealed, size), zeroize::Zeroizing::new(KEY), b"aad")).expect("open");
    assert_eq!(plain, rest);
});
