//! Password policy (API.md, reported rule by rule) and argon2id hashing at OWASP parameters
//! (m=19456 KiB, t=2, p=1). Hashing runs on a blocking thread; the parameters live in the PHC
//! string, so they can be raised later and old hashes are upgraded at the next login.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

pub const MIN_LENGTH: usize = 8;
pub const MAX_LENGTH: usize = 128;

fn params() -> Params {
    // Constant, valid parameters: construction cannot fail.
    Params::new(19456, 2, 1, None).unwrap_or_default()
}

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
}

/// The rules a password breaks (empty: acceptable). Rule names are part of the API
/// (`error.details.failed`).
pub fn check_policy(password: &str, context: &[&str]) -> Vec<&'static str> {
    let mut failed = Vec::new();
    let n = password.chars().count();
    if n < MIN_LENGTH {
        failed.push("min_length");
    }
    if n > MAX_LENGTH {
        failed.push("max_length");
    }
    if !password.chars().any(char::is_uppercase) {
        failed.push("require_upper");
    }
    if !password.chars().any(char::is_lowercase) {
        failed.push("require_lower");
    }
    if !password.chars().any(|c| c.is_ascii_digit() || !c.is_alphanumeric()) {
        failed.push("require_digit_or_special");
    }
    // zxcvbn knows the common-password lists, keyboard walks, dates and l33t variants; a score
    // of 0 or 1 means at most 10^6 guesses ("Password1!", "Qwerty123"). Long inputs are not
    // scored (zxcvbn is quadratic), they already fail max_length.
    if n <= MAX_LENGTH && n > 0 && (zxcvbn::zxcvbn(password, context).score() as u8) < 2 {
        failed.push("not_common");
    }
    failed
}

/// Hash a password (argon2id, random salt) on a blocking thread.
pub async fn hash(password: SecretString) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        argon2()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
    })
    .await?
}

/// A hash of a random password at the current parameters, verified against when the account
/// does not exist so that all login failures take the same time.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let pw = hex::encode(*crate::crypto::random_32());
        argon2().hash_password(pw.as_bytes(), &salt).map(|h| h.to_string()).unwrap_or_default()
    })
}

/// The outcome of a verification.
pub struct Verified {
    pub ok: bool,
    /// The stored hash uses older parameters: rehash the (correct) password.
    pub needs_rehash: bool,
}

/// Verify `password` against a PHC hash, or against the dummy hash when `stored` is `None`
/// (always false, same cost). Runs on a blocking thread.
pub async fn verify(password: SecretString, stored: Option<String>) -> anyhow::Result<Verified> {
    tokio::task::spawn_blocking(move || {
        let real = stored.is_some();
        let phc = stored.unwrap_or_else(|| dummy_hash().to_owned());
        let parsed = PasswordHash::new(&phc).map_err(|e| anyhow::anyhow!("stored password hash is invalid: {e}"))?;
        let ok = argon2().verify_password(password.expose_secret().as_bytes(), &parsed).is_ok() && real;
        let current = params();
        let same_cost = Params::try_from(&parsed).is_ok_and(|p| {
            (p.m_cost(), p.t_cost(), p.p_cost()) == (current.m_cost(), current.t_cost(), current.p_cost())
        });
        let needs_rehash = ok && (parsed.algorithm != argon2::ARGON2ID_IDENT || !same_cost);
        Ok(Verified { ok, needs_rehash })
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_reports_every_broken_rule() {
        assert_eq!(check_policy("Tr0ub4dor&3-horse-Staple", &[]), Vec::<&str>::new());
        assert_eq!(check_policy("Ab1", &[]), vec!["min_length", "not_common"]);
        assert_eq!(check_policy("alllowercase-but-long-enough-xq", &[]), vec!["require_upper"]);
        assert_eq!(check_policy("ALLUPPER-BUT-LONG-ENOUGH-XQ", &[]), vec!["require_lower"]);
        assert_eq!(check_policy("NoDigitsOrSpecialsHereAtAllQx", &[]), vec!["require_digit_or_special"]);
        assert_eq!(check_policy("Password1!", &[]), vec!["not_common"]);
        let long = format!("Aa1{}", "x".repeat(130));
        assert_eq!(check_policy(&long, &[]), vec!["max_length"]);
        // Unicode letters count as upper/lower case.
        assert!(check_policy("Ünïcødé-Pässwörd-2026", &[]).is_empty());
    }

    #[tokio::test]
    async fn hash_verify_and_dummy() {
        let h = hash(SecretString::from("Tr0ub4dor&3-horse".to_owned())).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        let good = verify(SecretString::from("Tr0ub4dor&3-horse".to_owned()), Some(h.clone())).await.unwrap();
        assert!(good.ok && !good.needs_rehash);
        assert!(!verify(SecretString::from("wrong".to_owned()), Some(h)).await.unwrap().ok);
        assert!(!verify(SecretString::from("anything".to_owned()), None).await.unwrap().ok);
        // A hash at weaker (older) parameters verifies and asks to be upgraded.
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8192, 1, 1, None).unwrap());
        let old = weak
            .hash_password(b"Tr0ub4dor&3-horse", &SaltString::generate(&mut rand::rngs::OsRng))
            .unwrap()
            .to_string();
        let v = verify(SecretString::from("Tr0ub4dor&3-horse".to_owned()), Some(old)).await.unwrap();
        assert!(v.ok && v.needs_rehash);
    }
}
