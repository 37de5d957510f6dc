//! The JSON bodies of the anonymous routes and the parsers behind them: any bytes are either
//! refused or parsed, never a panic.
#![no_main]

use bulwark::domain::types::{Email, TenantSlug};
use bulwark::services::identity::{mfa, password, signin};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(b) = serde_json::from_slice::<signin::LoginBody>(data) {
        let _ = (TenantSlug::parse(&b.tenant), Email::parse(&b.email));
        let _ = password::check_policy(&b.password, &[&b.email]);
    }
    let _ = serde_json::from_slice::<signin::AcceptBody>(data);
    let _ = serde_json::from_slice::<signin::ForgotBody>(data);
    let _ = serde_json::from_slice::<signin::ResetBody>(data);
    let _ = serde_json::from_slice::<signin::RefreshBody>(data);
    if let Ok(b) = serde_json::from_slice::<signin::MfaLoginBody>(data) {
        let _ = mfa::canonical_recovery_code(&b.code);
        let _ = mfa::matching_step(b"12345678901234567890", &b.code, 59);
    }
    if let Ok(b) = serde_json::from_slice::<signin::RecoverBody>(data) {
        for a in &b.answers {
            let _ = mfa::normalise_answer(a);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = (Email::parse(text), TenantSlug::parse(text));
    }
});
