//! The crypto module: the only code that touches `aes-gcm`. AES-256-GCM with a random 96-bit
//! nonce; associated data binds every ciphertext to where it belongs (a field's tenant, table,
//! item and name; a wrapped key's encryption context), so a ciphertext moved anywhere else
//! fails to open.
//!
//! Sealed format: `version (1 byte) || key_version (u32 BE) || nonce (12) || ciphertext+tag`.
//! The key version lets data keys rotate while old data stays readable.

use aes_gcm::aead::{Aead, AeadInPlace, KeyInit, Payload};
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

/// Plaintext bytes per attachment segment.
pub const SEGMENT: usize = 64 * 1024;
/// Bytes of the authentication tag after each sealed segment.
pub const TAG: usize = 16;
const STREAM_MAGIC: &[u8; 4] = b"BWA1";
/// Stream header: magic, 7-byte random nonce prefix.
pub const STREAM_HEADER: usize = 4 + 7;

/// Segmented AES-256-GCM for streams (the STREAM construction): the input is cut into
/// [`SEGMENT`]-byte pieces, each sealed with nonce `prefix(7) || index(4, BE) || last(1)`,
/// so dropping, reordering or splicing segments, or cutting the stream at a segment
/// boundary, makes decryption fail. The key is used for one stream only.
pub struct StreamSealer {
    cipher: Aes256Gcm,
    prefix: [u8; 7],
    index: u32,
    aad: Vec<u8>,
}

fn stream_nonce(prefix: &[u8; 7], index: u32, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..7].copy_from_slice(prefix);
    n[7..11].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    n
}

impl StreamSealer {
    /// A sealer and the header to write before the first segment.
    pub fn new(key: &[u8; 32], aad: &[u8]) -> (StreamSealer, Vec<u8>) {
        let mut prefix = [0u8; 7];
        rand::rngs::OsRng.fill_bytes(&mut prefix);
        let mut header = STREAM_MAGIC.to_vec();
        header.extend_from_slice(&prefix);
        (StreamSealer { cipher: Aes256Gcm::new(key.into()), prefix, index: 0, aad: aad.to_vec() }, header)
    }

    /// Seal the next segment (at most [`SEGMENT`] bytes; only the last may be shorter) in
    /// place: `segment` becomes its ciphertext, to be followed by the returned tag.
    pub fn seal(&mut self, segment: &mut [u8], last: bool) -> Result<[u8; TAG], CryptoError> {
        if segment.len() > SEGMENT || (!last && segment.len() != SEGMENT) {
            return Err(CryptoError::Format);
        }
        let nonce = stream_nonce(&self.prefix, self.index, last);
        self.index = self.index.checked_add(1).ok_or(CryptoError::Format)?;
        let tag = self
            .cipher
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), &self.aad, segment)
            .map_err(|_| CryptoError::Format)?;
        Ok(tag.into())
    }
}

/// The other half of [`StreamSealer`].
pub struct StreamOpener {
    cipher: Aes256Gcm,
    prefix: [u8; 7],
    index: u32,
    aad: Vec<u8>,
}

impl StreamOpener {
    pub fn new(key: &[u8; 32], aad: &[u8], header: &[u8]) -> Result<StreamOpener, CryptoError> {
        if header.len() != STREAM_HEADER || &header[..4] != STREAM_MAGIC {
            return Err(CryptoError::Format);
        }
        let mut prefix = [0u8; 7];
        prefix.copy_from_slice(&header[4..]);
        Ok(StreamOpener { cipher: Aes256Gcm::new(key.into()), prefix, index: 0, aad: aad.to_vec() })
    }

    /// Ciphertext bytes of a full segment.
    pub const SEALED_SEGMENT: usize = SEGMENT + TAG;

    /// Open the next sealed segment in place (`last` must be true exactly for the final one):
    /// `sealed` ends up holding the plaintext in its first bytes, whose number is returned, so
    /// no buffer is allocated or copied. On an error its content is not plaintext to use.
    pub fn open(&mut self, sealed: &mut [u8], last: bool) -> Result<usize, CryptoError> {
        if sealed.len() > Self::SEALED_SEGMENT || sealed.len() < TAG || (!last && sealed.len() != Self::SEALED_SEGMENT)
        {
            return Err(CryptoError::Unauthentic);
        }
        let nonce = stream_nonce(&self.prefix, self.index, last);
        self.index = self.index.checked_add(1).ok_or(CryptoError::Unauthentic)?;
        let (text, tag) = sealed.split_at_mut(sealed.len() - TAG);
        self.cipher
            .decrypt_in_place_detached(Nonce::from_slice(&nonce), &self.aad, text, aes_gcm::Tag::from_slice(tag))
            .map_err(|_| CryptoError::Unauthentic)?;
        Ok(text.len())
    }
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

    fn seal_all(key: &[u8; 32], data: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
        let (mut s, header) = StreamSealer::new(key, b"att-1");
        let chunks: Vec<&[u8]> = if data.is_empty() { vec![&[]] } else { data.chunks(SEGMENT).collect() };
        let n = chunks.len();
        let segs = chunks
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut seg = c.to_vec();
                let tag = s.seal(&mut seg, i + 1 == n).unwrap();
                seg.extend_from_slice(&tag);
                seg
            })
            .collect();
        (header, segs)
    }

    fn open_all(key: &[u8; 32], header: &[u8], segs: &[Vec<u8>]) -> Result<Vec<u8>, CryptoError> {
        let mut o = StreamOpener::new(key, b"att-1", header)?;
        let mut out = Vec::new();
        for (i, seg) in segs.iter().enumerate() {
            let mut seg = seg.clone();
            let n = o.open(&mut seg, i + 1 == segs.len())?;
            out.extend_from_slice(&seg[..n]);
        }
        Ok(out)
    }

    #[test]
    fn stream_round_trip_and_every_tamper_fails() {
        let key = random_32();
        let data: Vec<u8> = (0..(3 * SEGMENT + 100)).map(|i| (i % 251) as u8).collect();
        let (header, segs) = seal_all(&key, &data);
        assert_eq!(segs.len(), 4);
        assert_eq!(open_all(&key, &header, &segs).unwrap(), data);
        // Exact multiple of the segment size and empty input round-trip too.
        let (h, s) = seal_all(&key, &data[..2 * SEGMENT]);
        assert_eq!(open_all(&key, &h, &s).unwrap(), &data[..2 * SEGMENT]);
        let (h, s) = seal_all(&key, b"");
        assert_eq!(open_all(&key, &h, &s).unwrap(), b"");
        // A flipped byte, a dropped last segment, swapped segments, a segment from another
        // stream, a wrong key or binding: all refused.
        let mut flipped = segs.clone();
        flipped[1][7] ^= 1;
        assert!(open_all(&key, &header, &flipped).is_err());
        assert!(open_all(&key, &header, &segs[..3]).is_err(), "truncation at a boundary");
        let mut swapped = segs.clone();
        swapped.swap(0, 1);
        assert!(open_all(&key, &header, &swapped).is_err());
        let (other_header, other) = seal_all(&key, &data);
        let mut spliced = segs.clone();
        spliced[2] = other[2].clone();
        assert!(open_all(&key, &header, &spliced).is_err());
        assert!(open_all(&key, &other_header, &segs).is_err());
        assert!(open_all(&random_32(), &header, &segs).is_err());
        let mut o = StreamOpener::new(&key, b"att-2", &header).unwrap();
        assert!(o.open(&mut segs[0].clone(), false).is_err(), "bound to its attachment");
    }
}
