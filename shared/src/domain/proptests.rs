//! Property tests (proptest) of the round trips everything else relies on: field encryption,
//! the attachment stream cipher under any chunking, and page cursors.

use proptest::prelude::*;

use crate::domain::crypto;
use crate::ports::store::{decode_cursor, encode_cursor, SkRange};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_sealed_field_opens_only_with_its_key_and_aad(
        key in any::<[u8; 32]>(),
        other in any::<[u8; 32]>(),
        version in any::<u32>(),
        aad in proptest::collection::vec(any::<u8>(), 0..64),
        plain in proptest::collection::vec(any::<u8>(), 0..2048),
        flip in any::<prop::sample::Index>(),
    ) {
        let sealed = crypto::seal(&key, version, &aad, &plain);
        prop_assert_eq!(crypto::key_version(&sealed).ok(), Some(version));
        prop_assert_eq!(crypto::open(&key, &aad, &sealed).unwrap().to_vec(), plain);
        if other != key {
            prop_assert!(crypto::open(&other, &aad, &sealed).is_err());
        }
        let mut tampered = sealed.clone();
        let i = flip.index(tampered.len());
        tampered[i] ^= 1;
        prop_assert!(crypto::open(&key, &aad, &tampered).is_err());
    }

    #[test]
    fn the_attachment_cipher_round_trips_under_any_chunking(
        plain in proptest::collection::vec(any::<u8>(), 0..200_000),
        chunk in 1usize..70_000,
    ) {
        use futures::StreamExt;
        use crate::services::messaging::stream_cipher;
        let key = [3u8; 32];
        let chunks = |data: Vec<u8>| -> crate::ports::blob::ByteStream {
            let parts: Vec<Result<bytes::Bytes, std::io::Error>> =
                data.chunks(chunk).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
            Box::pin(futures::stream::iter(parts))
        };
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let drain = |s: crate::ports::blob::ByteStream| rt.block_on(async move {
            let mut s = s;
            let mut out = Vec::new();
            while let Some(c) = s.next().await { out.extend_from_slice(&c.unwrap()); }
            out
        });
        let (sealed, _) = stream_cipher::seal(chunks(plain.clone()), &key, b"aad", 1 << 20);
        let sealed = drain(sealed);
        let opened = drain(stream_cipher::open(chunks(sealed), zeroize::Zeroizing::new(key), b"aad"));
        prop_assert_eq!(opened, plain);
    }

    #[test]
    fn a_cursor_round_trips_within_its_range(suffix in "[ -~]{0,40}") {
        let sk = format!("MSG#{suffix}");
        let range = SkRange::Prefix("MSG#".into());
        prop_assert_eq!(decode_cursor(&encode_cursor(&sk), &range).ok(), Some(sk));
        let elsewhere = format!("READ#{suffix}");
        prop_assert!(decode_cursor(&encode_cursor(&elsewhere), &range).is_err());
    }
}
