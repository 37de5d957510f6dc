//! KeyService contract: KMS semantics from the keyring and from KMS.

use bulwark::ports::keys::*;

use crate::helpers::Backend;
use crate::on_both_backends;

on_both_backends!(Backend: data_key_unwraps_only_with_its_context);

async fn data_key_unwraps_only_with_its_context(b: &Backend) {
    let keys = &b.ports.keys;
    let ctx = EncryptionContext::new([("tenant", "t-one")]);
    let dk = keys.generate_data_key(&ctx).await.unwrap();
    assert_ne!(*dk.plaintext, [0u8; 32]);
    assert!(!format!("{dk:?}").contains(&hex::encode(*dk.plaintext)));
    // Same context: the same key.
    assert_eq!(*keys.decrypt_data_key(&dk.wrapped, &ctx).await.unwrap(), *dk.plaintext);
    // Another tenant's context, an extra pair, or none at all: refused.
    for other in [
        EncryptionContext::new([("tenant", "t-two")]),
        EncryptionContext::new([("tenant", "t-one"), ("attachment", "a1")]),
        EncryptionContext::default(),
    ] {
        let err = keys.decrypt_data_key(&dk.wrapped, &other).await.unwrap_err();
        assert!(matches!(err, KeyError::InvalidCiphertext), "{err:?}");
    }
    // A tampered wrapped key is refused.
    let mut bad = dk.wrapped.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    assert!(keys.decrypt_data_key(&bad, &ctx).await.is_err());
    // Two data keys differ.
    let dk2 = keys.generate_data_key(&ctx).await.unwrap();
    assert_ne!(*dk2.plaintext, *dk.plaintext);
}
