//! Multi-factor authentication: TOTP (RFC 6238: SHA-1, 6 digits, 30 s, ±1 step) with replay
//! protection, single-use recovery codes, and security questions for the email-based
//! recovery. Secrets and answers are stored only encrypted or hashed.

use base64::Engine;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};
use zeroize::Zeroizing;

pub const STEP_SECS: u64 = 30;
pub const RECOVERY_CODES: usize = 10;
/// The `mfa_token` of a half-finished login lives five minutes and survives 5 wrong codes.
pub const CHALLENGE_TTL_SECS: i64 = 300;
pub const CHALLENGE_MAX_FAILURES: i64 = 5;
/// A recovery link lives one hour.
pub use crate::domain::policy::MFA_RECOVERY_LINK_TTL_SECS as RECOVER_TTL_SECS;

/// A fresh 160-bit TOTP secret (RFC 4226's recommended length).
pub fn new_secret() -> Zeroizing<Vec<u8>> {
    Zeroizing::new(crate::domain::crypto::random_32()[..20].to_vec())
}

fn totp(secret: &[u8], issuer: &str, account: &str) -> anyhow::Result<TOTP> {
    // The otpauth label cannot hold ':'; names and addresses rarely do, so replace it.
    let clean = |s: &str| s.replace(':', " ");
    TOTP::new(Algorithm::SHA1, 6, 1, STEP_SECS, secret.to_vec(), Some(clean(issuer)), clean(account))
        .map_err(|e| anyhow::anyhow!("TOTP parameters rejected: {e:?}"))
}

/// The base32 secret and `otpauth://` URI an authenticator app enrols with.
pub fn enrolment(secret: &[u8], issuer: &str, account: &str) -> anyhow::Result<(String, String)> {
    let t = totp(secret, issuer, account)?;
    Ok((t.get_secret_base32(), t.get_url()))
}

/// The time step a 6-digit code is valid for at `now` (±1 step), if any.
pub fn matching_step(secret: &[u8], code: &str, now: i64) -> Option<u64> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) || now < 0 {
        return None;
    }
    let t = totp(secret, "x", "x").ok()?;
    let current = now as u64 / STEP_SECS;
    (current.saturating_sub(1)..=current + 1)
        .find(|step| bool::from(t.generate(step * STEP_SECS).as_bytes().ct_eq(code.as_bytes())))
}

/// Ten recovery codes of 50 random bits each, as `xxxxx-xxxxx` in Crockford's base32 (no
/// i, l, o or u, so nothing is misread).
pub fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    (0..RECOVERY_CODES)
        .map(|_| {
            let bytes = crate::domain::crypto::random_32();
            let mut bits = u64::from_be_bytes(bytes[..8].try_into().unwrap_or_default());
            let mut chars = Vec::with_capacity(11);
            for i in 0..10 {
                if i == 5 {
                    chars.push('-');
                }
                chars.push(ALPHABET[(bits & 31) as usize] as char);
                bits >>= 5;
            }
            chars.into_iter().collect()
        })
        .collect()
}

/// A typed recovery code in canonical form (`None`: not shaped like one).
pub fn canonical_recovery_code(input: &str) -> Option<String> {
    let compact: String = input.chars().filter(|c| !c.is_whitespace() && *c != '-').collect::<String>().to_lowercase();
    (compact.len() == 10 && compact.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| format!("{}-{}", &compact[..5], &compact[5..]))
}

/// Security answers compare case- and whitespace-insensitively.
pub fn normalise_answer(answer: &str) -> String {
    answer.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Encode the two questions for encrypted storage.
pub fn encode_questions(questions: &[String]) -> Vec<u8> {
    serde_json::to_vec(questions).unwrap_or_default()
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vector_and_skew() {
        // RFC 6238 appendix B: secret "12345678901234567890", T=59 → 94287082 (8 digits);
        // the 6-digit code is its last six digits.
        let secret = b"12345678901234567890";
        assert_eq!(matching_step(secret, "287082", 59), Some(1));
        assert_eq!(matching_step(secret, "287082", 59 + 30), Some(1), "one step late is accepted");
        assert_eq!(matching_step(secret, "287082", 59 + 60), None, "two steps late is not");
        assert_eq!(matching_step(secret, "28708", 59), None);
        assert_eq!(matching_step(secret, "abcdef", 59), None);
    }

    #[test]
    fn enrolment_uri_names_the_tenant_as_issuer() {
        let (secret, uri) = enrolment(&new_secret(), "Acme Health", "ada@acme.test").unwrap();
        assert_eq!(secret.len(), 32);
        assert!(uri.starts_with("otpauth://totp/Acme%20Health:ada%40acme.test?secret="), "{uri}");
        assert!(uri.contains("issuer=Acme%20Health"), "{uri}");
    }

    #[test]
    fn recovery_codes_are_distinct_and_canonicalise() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), 10);
        for c in &codes {
            assert_eq!(c.len(), 11);
            assert_eq!(canonical_recovery_code(&c.to_uppercase().replace('-', " ")).as_deref(), Some(c.as_str()));
        }
        assert_eq!(canonical_recovery_code("123456"), None);
        assert_eq!(normalise_answer("  The   Blue\tCat "), "the blue cat");
    }
}
