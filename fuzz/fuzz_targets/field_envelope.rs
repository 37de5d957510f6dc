//! Encrypted fields as stored (version ‖ nonce ‖ ciphertext): parsing and opening arbitrary
//! bytes never panics and never yields plaintext without the key; sealing round-trips.
#![no_main]

use bulwark::domain::crypto;
use libfuzzer_sys::fuzz_target;

const KEY: [u8; 32] = [9; 32];

fuzz_target!(|data: &[u8]| {
    let _ = crypto::key_version(data);
    assert!(crypto::open(&KEY, b"aad", data).is_err(), "forged a field");
    let sealed = crypto::seal(&KEY, 3, b"aad", data);
    assert_eq!(crypto::key_version(&sealed).ok(), Some(3));
    assert_eq!(crypto::open(&KEY, b"aad", &sealed).map(|p| p.to_vec()).ok(), Some(data.to_vec()));
    assert!(crypto::open(&KEY, b"other aad", &sealed).is_err());
});
