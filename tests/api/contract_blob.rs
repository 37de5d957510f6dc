//! BlobStore contract: streamed, atomic objects from files and from S3.

use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};

use bulwark::ports::blob::*;

use crate::helpers::Backend;
use crate::on_both_backends;

on_both_backends!(Backend:
    small_round_trip_replace_and_delete,
    large_object_streams_through,
    failed_body_leaves_previous_object_intact
);

fn once(data: &'static [u8]) -> ByteStream {
    Box::pin(futures::stream::iter(vec![Ok(Bytes::from_static(data))]))
}

async fn read_all(s: ByteStream) -> Vec<u8> {
    let chunks: Vec<_> = s.collect().await;
    chunks.into_iter().flat_map(|c| c.unwrap().to_vec()).collect()
}

async fn small_round_trip_replace_and_delete(b: &Backend) {
    let blobs = &b.ports.blobs;
    let key = BlobKey::parse("tenants/t1/attachments/a1").unwrap();
    assert_eq!(blobs.put(&key, once(b"hello")).await.unwrap(), 5);
    assert_eq!(read_all(blobs.get(&key).await.unwrap()).await, b"hello");
    blobs.put(&key, once(b"replaced")).await.unwrap();
    assert_eq!(read_all(blobs.get(&key).await.unwrap()).await, b"replaced");
    // Empty objects are objects too.
    let empty = BlobKey::parse("tenants/t1/attachments/empty").unwrap();
    assert_eq!(blobs.put(&empty, Box::pin(futures::stream::empty())).await.unwrap(), 0);
    assert_eq!(read_all(blobs.get(&empty).await.unwrap()).await, b"");
    blobs.delete(&key).await.unwrap();
    assert!(matches!(blobs.get(&key).await.err().unwrap(), BlobError::NotFound));
    blobs.delete(&key).await.unwrap();
    for bad in ["", "../x", "a//b", "/abs", "a/./b", "sp ace"] {
        assert!(BlobKey::parse(bad).is_err(), "{bad:?}");
    }
}

async fn large_object_streams_through(b: &Backend) {
    // 20 MiB in 64 KiB chunks: more than two S3 multipart parts. Once ending on a boundary of
    // the file store's read chunks, once inside one.
    let pattern: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
    for (name, tail) in [("big", 0), ("big-tail", 1234)] {
        let chunk = Bytes::from(pattern.clone());
        let n = 320;
        let last = Bytes::from(vec![9u8; tail]);
        let pieces = (0..n).map(move |_| Ok(chunk.clone())).chain((tail > 0).then(|| Ok(last)));
        let body: ByteStream = Box::pin(futures::stream::iter(pieces));
        let key = BlobKey::parse(&format!("tenants/t1/attachments/{name}")).unwrap();
        let size = 65536 * n + tail;
        assert_eq!(b.ports.blobs.put(&key, body).await.unwrap(), size as u64);
        let mut want = Sha256::new();
        for _ in 0..n {
            want.update(&pattern);
        }
        want.update(vec![9u8; tail]);
        let mut got = Sha256::new();
        let mut total = 0;
        let mut s = b.ports.blobs.get(&key).await.unwrap();
        while let Some(c) = s.next().await {
            let c = c.unwrap();
            total += c.len();
            got.update(&c);
        }
        assert_eq!(total, size, "{name}");
        assert_eq!(got.finalize(), want.finalize(), "{name}");
    }
}

async fn failed_body_leaves_previous_object_intact(b: &Backend) {
    let key = BlobKey::parse("tenants/t1/attachments/x").unwrap();
    b.ports.blobs.put(&key, once(b"original")).await.unwrap();
    let broken: ByteStream = Box::pin(futures::stream::iter(vec![
        Ok(Bytes::from(vec![7u8; 1 << 20])),
        Err(std::io::Error::other("client went away")),
    ]));
    assert!(matches!(b.ports.blobs.put(&key, broken).await.unwrap_err(), BlobError::Body(_)));
    assert_eq!(read_all(b.ports.blobs.get(&key).await.unwrap()).await, b"original");
    let fresh = BlobKey::parse("tenants/t1/attachments/never").unwrap();
    let broken: ByteStream = Box::pin(futures::stream::iter(vec![Err(std::io::Error::other("boom"))]));
    assert!(b.ports.blobs.put(&fresh, broken).await.is_err());
    assert!(matches!(b.ports.blobs.get(&fresh).await.err().unwrap(), BlobError::NotFound));
}
