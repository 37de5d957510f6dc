//! Refresh tokens and single-use link tokens (invitation, reset, MFA): their parsers never
//! panic, and what they accept is well-formed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    if let Some((tenant, sid, secret)) = bulwark::services::identity::sessions::parse_refresh_token(token) {
        assert_eq!(tenant.as_str().len(), 32);
        assert_eq!((sid.len(), secret.len()), (32, 43));
    }
    if let Some(tenant) = bulwark::services::identity::keys::token_tenant(token) {
        assert!(token.starts_with(tenant.as_str()));
    }
    assert_eq!(bulwark::services::identity::keys::token_hash(token).len(), 64);
});
