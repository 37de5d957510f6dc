//! The local keyring: plays KMS in embedded mode. Its 256-bit master key lives only in a
//! "protected package" (`keyring.json`), sealed with AES-256-GCM under a key derived by
//! argon2id from the operator's passphrase. Data keys are wrapped under the master key with
//! the encryption context as associated data, so — as with KMS — a wrapped key opens only
//! with the exact context it was made under.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use base64::{engine::general_purpose::STANDARD, Engine};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::domain::crypto;
use crate::ports::keys::*;

const FILE: &str = "keyring.json";
const PASS_FILE: &str = "keyring.passphrase";
const PACKAGE_AAD: &[u8] = b"bulwark-keyring-master-v1";
const WRAP_AAD: &[u8] = b"bulwark-data-key-v1";

#[derive(Serialize, Deserialize)]
struct Package {
    format: String,
    kdf: Kdf,
    /// `crypto::seal` of the master key under the passphrase key.
    sealed_master: String,
}

#[derive(Serialize, Deserialize, Clone, Copy)]
struct KdfParams {
    m_kib: u32,
    t: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    alg: String,
    #[serde(flatten)]
    params: KdfParams,
    salt: String,
}

/// OWASP's argon2id recommendation (m=19 MiB, t=2, p=1).
const OWASP: KdfParams = KdfParams { m_kib: 19456, t: 2, p: 1 };

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("the keyring passphrase is wrong (or {0} was tampered with); refusing to start")]
    WrongPassphrase(PathBuf),
    #[error("the keyring at {0} exists but no passphrase was given: set BULWARK_KEYRING_PASSPHRASE")]
    MissingPassphrase(PathBuf),
    #[error("the keyring file {0} is damaged: {1}")]
    Damaged(PathBuf, String),
    #[error("keyring I/O on {0}: {1}")]
    Io(PathBuf, #[source] std::io::Error),
}

pub struct Keyring {
    master: Zeroizing<[u8; 32]>,
}

fn derive(pass: &SecretString, salt: &[u8], p: KdfParams) -> Result<Zeroizing<[u8; 32]>, String> {
    let params = argon2::Params::new(p.m_kib, p.t, p.p, Some(32)).map_err(|e| e.to_string())?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; 32]);
    a.hash_password_into(pass.expose_secret().as_bytes(), salt, out.as_mut()).map_err(|e| e.to_string())?;
    Ok(out)
}

fn seal_package(master: &[u8; 32], pass: &SecretString) -> Result<Vec<u8>, String> {
    let salt = crypto::random_32();
    let kek = derive(pass, &salt[..16], OWASP)?;
    let pkg = Package {
        format: "bulwark-keyring-v1".into(),
        kdf: Kdf { alg: "argon2id".into(), params: OWASP, salt: STANDARD.encode(&salt[..16]) },
        sealed_master: STANDARD.encode(crypto::seal(&kek, 0, PACKAGE_AAD, master)),
    };
    serde_json::to_vec_pretty(&pkg).map_err(|e| e.to_string())
}

impl Keyring {
    /// Open the keyring in `dir`, creating it on first use.
    ///
    /// Passphrase: `passphrase` if given; else the `keyring.passphrase` file (mode 0600) a
    /// fresh development data dir generated. On a fresh dir without a passphrase, one is
    /// generated and stored next to the keyring with a loud warning — fine for a laptop, not
    /// for production, where the operator supplies it.
    pub fn open_or_create(dir: &Path, passphrase: Option<SecretString>) -> Result<Keyring, KeyringError> {
        let path = dir.join(FILE);
        let pass_path = dir.join(PASS_FILE);
        if path.exists() {
            let pass = match passphrase {
                Some(p) => p,
                None => match std::fs::read_to_string(&pass_path) {
                    Ok(s) => SecretString::from(s.trim().to_owned()),
                    Err(_) => return Err(KeyringError::MissingPassphrase(path)),
                },
            };
            return Self::open(&path, &pass);
        }
        std::fs::create_dir_all(dir).map_err(|e| KeyringError::Io(dir.to_owned(), e))?;
        let pass = match passphrase {
            Some(p) => p,
            None => {
                let generated = SecretString::from(hex::encode(*crypto::random_32()));
                super::write_atomic(&pass_path, generated.expose_secret().as_bytes(), Some(0o600))
                    .map_err(|e| KeyringError::Io(pass_path.clone(), e))?;
                tracing::warn!(
                    path = %pass_path.display(),
                    "NEW KEYRING WITH A GENERATED PASSPHRASE STORED NEXT TO IT: fine for development only; \
                     production must set BULWARK_KEYRING_PASSPHRASE and keep the passphrase elsewhere"
                );
                generated
            }
        };
        let master = crypto::random_32();
        let bytes = seal_package(&master, &pass).map_err(|e| KeyringError::Damaged(path.clone(), e))?;
        super::write_atomic(&path, &bytes, Some(0o600)).map_err(|e| KeyringError::Io(path.clone(), e))?;
        Ok(Keyring { master })
    }

    fn open(path: &Path, pass: &SecretString) -> Result<Keyring, KeyringError> {
        let damaged = |m: &str| KeyringError::Damaged(path.to_owned(), m.to_owned());
        let bytes = std::fs::read(path).map_err(|e| KeyringError::Io(path.to_owned(), e))?;
        let pkg: Package = serde_json::from_slice(&bytes).map_err(|e| damaged(&e.to_string()))?;
        if pkg.format != "bulwark-keyring-v1" || pkg.kdf.alg != "argon2id" {
            return Err(damaged("unknown keyring format"));
        }
        let salt = STANDARD.decode(&pkg.kdf.salt).map_err(|_| damaged("bad salt"))?;
        let sealed = STANDARD.decode(&pkg.sealed_master).map_err(|_| damaged("bad sealed key"))?;
        let kek = derive(pass, &salt, pkg.kdf.params).map_err(|e| damaged(&e))?;
        let master =
            crypto::open(&kek, PACKAGE_AAD, &sealed).map_err(|_| KeyringError::WrongPassphrase(path.to_owned()))?;
        let master: [u8; 32] = master.as_slice().try_into().map_err(|_| damaged("bad master key length"))?;
        Ok(Keyring { master: Zeroizing::new(master) })
    }

    /// Re-seal the master key under a new passphrase; no data is touched. Removes a generated
    /// passphrase file, since the operator now holds the passphrase.
    pub fn change_passphrase(dir: &Path, old: Option<SecretString>, new: &SecretString) -> Result<(), KeyringError> {
        let path = dir.join(FILE);
        if !path.exists() {
            return Err(KeyringError::Io(path, std::io::Error::from(std::io::ErrorKind::NotFound)));
        }
        let ring = Self::open_or_create(dir, old)?;
        let bytes = seal_package(&ring.master, new).map_err(|e| KeyringError::Damaged(path.clone(), e))?;
        super::write_atomic(&path, &bytes, Some(0o600)).map_err(|e| KeyringError::Io(path.clone(), e))?;
        let pass_path = dir.join(PASS_FILE);
        if pass_path.exists() {
            std::fs::remove_file(&pass_path).map_err(|e| KeyringError::Io(pass_path, e))?;
        }
        Ok(())
    }

    /// Seal a small value (a secret) under the master key, bound to `aad`.
    pub(crate) fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        crypto::seal(&self.master, 0, aad, plaintext)
    }

    pub(crate) fn open_sealed(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, crypto::CryptoError> {
        crypto::open(&self.master, aad, sealed)
    }
}

fn wrap_aad(ctx: &EncryptionContext) -> Vec<u8> {
    let mut aad = WRAP_AAD.to_vec();
    aad.extend_from_slice(&ctx.canonical_bytes());
    aad
}

#[async_trait]
impl KeyService for Keyring {
    async fn generate_data_key(&self, ctx: &EncryptionContext) -> Result<DataKey, KeyError> {
        let plaintext = crypto::random_32();
        let wrapped = crypto::seal(&self.master, 0, &wrap_aad(ctx), plaintext.as_ref());
        Ok(DataKey { plaintext, wrapped })
    }

    async fn decrypt_data_key(&self, wrapped: &[u8], ctx: &EncryptionContext) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        let key = crypto::open(&self.master, &wrap_aad(ctx), wrapped).map_err(|_| KeyError::InvalidCiphertext)?;
        let arr: [u8; 32] = key.as_slice().try_into().map_err(|_| KeyError::InvalidCiphertext)?;
        Ok(Zeroizing::new(arr))
    }
}
