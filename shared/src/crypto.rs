//! The crypto module: the only code that touches `aes-gcm`. AES-256-GCM with a random 96-bit
//! nonce; associated data binds every ciphertext to where it belongs (a field's tenant, table,
//! item and name; a wrapped key's encryption context), so a ciphertext moved anywhere else
//! fails to open.
//!
//! Sealed format: `version (1 byte) || key_version (u32 BE) || nonce (12) || ciphertext+tag`.
//! The key version lets data keys rotate while old data stays readable.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use zeroize::Zeroizing;

const FORMAT_V1: u8 = 1;
const HEADER: usize = 1 + 4 + 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// Wrong key, wrong associated data, or tampered/truncated ciphertext.
    #[error("ciphertext failed authentication")]
    Unauthentic,
    #[error("unknown ciphertext format")]
    Format,
}

/// Encrypt `plaintext` under `key`, tagged with `key_version`, bound to `aad`.
pub fn seal(key: &[u8; 32], key_version: u32, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(key.into());
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let mut aad_full = Vec::with_capacity(aad.len() + 5);
    aad_full.push(FORMAT_V1);
    aad_full.extend_from_slice(&key_version.to_be_bytes());
    aad_full.extend_from_slice(aad);
    // AES-GCM encryption cannot fail for inputs below 64 GiB; the API is fallible for
    // generality only.
    let ct = cipher.encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: &aad_full }).unwrap_or_default();
    let mut out = Vec::with_capacity(HEADER + ct.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&key_version.to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// The key version a sealed value names (to pick the key before opening).
pub fn key_version(sealed: &[u8]) -> Result<u32, CryptoError> {
    if sealed.len() < HEADER + 16 || sealed[0] != FORMAT_V1 {
        return Err(CryptoError::Format);
    }
    Ok(u32::from_be_bytes([sealed[1], sealed[2], sealed[3], sealed[4]]))
}

/// Decrypt and authenticate a value made by [`seal`] with the same key and `aad`.
pub fn open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let version = key_version(sealed)?;
    let cipher = Aes256Gcm::new(key.into());
    let mut aad_full = Vec::with_capacity(aad.len() + 5);
    aad_full.push(FORMAT_V1);
    aad_full.extend_from_slice(&version.to_be_bytes());
    aad_full.extend_from_slice(aad);
    cipher
        .decrypt(Nonce::from_slice(&sealed[5..HEADER]), Payload { msg: &sealed[HEADER..], aad: &aad_full })
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Unauthentic)
}

/// Associated data for an encrypted field: tenant, table, item key and field name, each
/// length-prefixed so no two different locations share an encoding.
pub fn field_aad(tenant: &str, table: &str, pk: &str, sk: &str, field: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for part in [tenant, table, pk, sk, field] {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

/// 32 random bytes (keys, tokens).
pub fn random_32() -> Zeroizing<[u8; 32]> {
    let mut k = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(k.as_mut());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer_aes_256_gcm() {
        // NIST GCM test vector (gcmEncryptExtIV256, Count 0 with 128-bit PT): verifies we
        // use AES-256-GCM itself, independent of our framing.
        let key = hex::decode("31bdadd96698c204aa9ce1448ea94ae1fb4a9a0b3c9d773b51bb1822666b8f22").unwrap();
        let iv = hex::decode("0d18e06c7c725ac9e362e1ce").unwrap();
        let pt = hex::decode("2db5168e932556f8089a0622981d017d").unwrap();
        let cipher = Aes256Gcm::new(key.as_slice().into());
        let ct = cipher.encrypt(Nonce::from_slice(&iv), pt.as_slice()).unwrap();
        assert_eq!(hex::encode(&ct[..16]), "fa4362189661d163fcd6a56d8bf0405a");
        assert_eq!(hex::encode(&ct[16..]), "d636ac1bbedd5cc3ee727dc2ab4a9489");
    }

    #[test]
    fn round_trip_and_tamper() {
        let key = random_32();
        let aad = field_aad("t1", "users", "USER#1", "PROFILE", "email");
        let sealed = seal(&key, 7, &aad, b"alice@example.org");
        assert_eq!(key_version(&sealed).unwrap(), 7);
        assert_eq!(open(&key, &aad, &sealed).unwrap().as_slice(), b"alice@example.org");
        // Every single-bit flip is detected, header included.
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 1;
            assert!(open(&key, &aad, &t).is_err(), "flip at {i} not detected");
        }
        // Same ciphertext at another item, field or tenant fails.
        for other in [
            field_aad("t2", "users", "USER#1", "PROFILE", "email"),
            field_aad("t1", "users", "USER#2", "PROFILE", "email"),
            field_aad("t1", "users", "USER#1", "PROFILE", "name"),
        ] {
            assert_eq!(open(&key, &other, &sealed).unwrap_err(), CryptoError::Unauthentic);
        }
        assert_eq!(open(&random_32(), &aad, &sealed).unwrap_err(), CryptoError::Unauthentic);
        assert_eq!(open(&key, &aad, &sealed[..10]).unwrap_err(), CryptoError::Format);
    }
}
