//! Access tokens: any bytes as a bearer token must be refused (or, only if genuinely signed by
//! one of the keys, accepted) without a panic.
#![no_main]

use std::sync::OnceLock;

use bulwark::services::identity::keys::KeySet;
use libfuzzer_sys::fuzz_target;

fn keys() -> &'static KeySet {
    static KEYS: OnceLock<KeySet> = OnceLock::new();
    KEYS.get_or_init(|| KeySet::from_seeds(b"fuzz current", b"fuzz previous", &[7; 32]).expect("keys"))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        // A fuzzer cannot forge an Ed25519 signature: every input must be refused.
        assert!(bulwark::services::identity::sessions::verify_signature(keys(), token).is_err());
    }
});
