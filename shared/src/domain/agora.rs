//! Agora AccessToken2 (the `007` token format) for RTC, written from Agora's published
//! reference implementation (AgoraIO/Tools `DynamicKey/AgoraDynamicKey`, the npm package
//! `agora-token`): there is no maintained Rust crate. The tests in `tests/api/api_events.rs`
//! check it against that npm package, pinned in `tests/agora/`.
//!
//! Layout: `"007" + base64(zlib(pack_bytes(signature) + signing_info))`, where
//! `signing_info = pack_string(app_id) u32(issue_ts) u32(expire) u32(salt) u16(#services)
//! services…`, the RTC service is `u16(1) map<u16,u32>(privileges) pack_string(channel)
//! pack_string(uid)`, and `signature = HMAC-SHA256(HMAC-SHA256(u32(salt),
//! HMAC-SHA256(u32(issue_ts), certificate)), signing_info)`. Integers are little-endian;
//! `pack_string` is a u16 length and the bytes; expiries are seconds after `issue_ts`.

use std::io::{Read, Write};

use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

const VERSION: &str = "007";
const SERVICE_RTC: u16 = 1;

/// RTC privileges (AccessToken2's `ServiceRtc`).
pub const JOIN_CHANNEL: u16 = 1;
pub const PUBLISH_AUDIO: u16 = 2;
pub const PUBLISH_VIDEO: u16 = 3;
pub const PUBLISH_DATA: u16 = 4;

/// What an RTC token grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtcGrant {
    pub channel: String,
    /// The user account (a string uid); empty means "any uid".
    pub account: String,
    /// (privilege, seconds after issue) in ascending privilege order.
    pub privileges: Vec<(u16, u32)>,
}

/// The fields of a token that are not the grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenHeader {
    pub app_id: String,
    pub issue_ts: u32,
    /// Seconds after `issue_ts`.
    pub expire: u32,
    pub salt: u32,
}

/// An app id or certificate: 32 hex digits, as Agora issues them.
pub fn is_credential(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

fn signing_key(certificate: &str, issue_ts: u32, salt: u32) -> Zeroizing<[u8; 32]> {
    let first = Zeroizing::new(hmac(&issue_ts.to_le_bytes(), certificate.as_bytes()));
    Zeroizing::new(hmac(&salt.to_le_bytes(), &*first))
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) -> Result<(), String> {
    let len = u16::try_from(b.len()).map_err(|_| "a token field is too long".to_owned())?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(b);
    Ok(())
}

fn signing_info(h: &TokenHeader, g: &RtcGrant) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(128);
    put_bytes(&mut out, h.app_id.as_bytes())?;
    out.extend_from_slice(&h.issue_ts.to_le_bytes());
    out.extend_from_slice(&h.expire.to_le_bytes());
    out.extend_from_slice(&h.salt.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&SERVICE_RTC.to_le_bytes());
    let mut privileges = g.privileges.clone();
    privileges.sort_by_key(|(p, _)| *p);
    privileges.dedup_by_key(|(p, _)| *p);
    out.extend_from_slice(&(privileges.len() as u16).to_le_bytes());
    for (p, exp) in privileges {
        out.extend_from_slice(&p.to_le_bytes());
        out.extend_from_slice(&exp.to_le_bytes());
    }
    put_bytes(&mut out, g.channel.as_bytes())?;
    put_bytes(&mut out, g.account.as_bytes())?;
    Ok(out)
}

/// The token's content before compression: the signature, then what it signs.
pub fn content(certificate: &str, h: &TokenHeader, g: &RtcGrant) -> Result<Vec<u8>, String> {
    if !is_credential(&h.app_id) || !is_credential(certificate) {
        return Err("the Agora app id and certificate must be 32 hex digits".into());
    }
    let info = signing_info(h, g)?;
    let signature = hmac(&*signing_key(certificate, h.issue_ts, h.salt), &info);
    let mut out = Vec::with_capacity(info.len() + 34);
    put_bytes(&mut out, &signature)?;
    out.extend_from_slice(&info);
    Ok(out)
}

/// Build an RTC AccessToken2.
pub fn build(certificate: &str, h: &TokenHeader, g: &RtcGrant) -> Result<String, String> {
    let raw = content(certificate, h, g)?;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&raw)
        .and_then(|()| z.finish())
        .map(|c| format!("{VERSION}{}", STANDARD.encode(c)))
        .map_err(|e| e.to_string())
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if self.0.len() < n {
            return Err("truncated token".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes([self.take(1)?[0], self.take(1)?[0]]))
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, String> {
        let n = self.u16()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    fn string(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?).map_err(|_| "a token string is not UTF-8".into())
    }
}

/// Parse an RTC AccessToken2 and check its signature with `certificate`.
pub fn verify(token: &str, certificate: &str) -> Result<(TokenHeader, RtcGrant), String> {
    let body = token.strip_prefix(VERSION).ok_or("not a 007 token")?;
    let compressed = STANDARD.decode(body).map_err(|_| "not base64")?;
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(compressed.as_slice())
        .take(64 * 1024)
        .read_to_end(&mut raw)
        .map_err(|_| "not a zlib stream")?;
    let mut r = Reader(&raw);
    let signature = r.bytes()?;
    let info = r.0;
    let h = TokenHeader { app_id: r.string()?, issue_ts: r.u32()?, expire: r.u32()?, salt: r.u32()? };
    if r.u16()? != 1 || r.u16()? != SERVICE_RTC {
        return Err("not a single-service RTC token".into());
    }
    let mut privileges = Vec::new();
    for _ in 0..r.u16()? {
        privileges.push((r.u16()?, r.u32()?));
    }
    let g = RtcGrant { channel: r.string()?, account: r.string()?, privileges };
    if !r.0.is_empty() {
        return Err("trailing bytes".into());
    }
    let want = hmac(&*signing_key(certificate, h.issue_ts, h.salt), info);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(want.as_slice(), signature.as_slice())) {
        return Err("bad signature".into());
    }
    Ok((h, g))
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "970ca35de60c44645bbae8a215061b33";
    const CERT: &str = "5cfd2fd1755d40ecb72977518be15d3b";

    /// The inputs of the reference token (a publisher grant with fixed salt and time).
    fn reference(privileges: Vec<(u16, u32)>) -> (TokenHeader, RtcGrant) {
        let h = TokenHeader { app_id: APP.into(), issue_ts: 1_111_111, expire: 3600, salt: 12_345_678 };
        let g =
            RtcGrant { channel: "7d72365eb983485397e3e3f9d460bdda".into(), account: "2882341273".into(), privileges };
        (h, g)
    }

    #[test]
    fn a_token_verifies_with_its_certificate_only() {
        // GIVEN a publisher grant
        let (h, g) = reference(vec![(PUBLISH_AUDIO, 3600), (JOIN_CHANNEL, 3600)]);
        // WHEN it is built
        let token = build(CERT, &h, &g).unwrap();
        // THEN it parses back with the same fields, sorted privileges, and only this certificate
        let (h2, g2) = verify(&token, CERT).unwrap();
        assert_eq!(h2, h);
        assert_eq!(g2.privileges, vec![(JOIN_CHANNEL, 3600), (PUBLISH_AUDIO, 3600)]);
        assert!(verify(&token, &"0".repeat(32)).is_err());
        assert!(build("short", &h, &g).is_err());
    }

    #[test]
    fn the_content_matches_agoras_reference_bytes() {
        // The uncompressed content of the token `agora-token@2.0.6` builds for these inputs
        // (AccessToken2 with salt 12345678, issue_ts 1111111, expire 3600, join + publish audio).
        let (h, g) = reference(vec![(JOIN_CHANNEL, 3600), (PUBLISH_AUDIO, 3600)]);
        let want = include_str!("agora_reference.hex").trim();
        assert_eq!(hex::encode(content(CERT, &h, &g).unwrap()), want);
    }
}
