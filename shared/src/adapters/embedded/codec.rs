//! The embedded store's item encoding: a compact binary form of an item's attributes (bytes
//! stay bytes, numbers are varints) instead of JSON with base64. Values written before keep
//! reading: JSON always starts with `{`, the binary forms with their own version byte, so all
//! live side by side and old items convert as they are rewritten.
//!
//! Layout (version `0xB2`; `0xB1` is the same without names from the dictionary and without
//! the `H` and `T` tags): the version byte, then the attribute count, then per attribute its
//! name and value. A name is a varint: `k > 0` is [`NAMES`]`[k - 1]`, `0` is followed by the
//! name itself (length, UTF-8). A value is a tag byte and: `S` length + UTF-8 | `N` zigzag
//! varint | `B` length + bytes | `Bool` one byte | `L` count + values | `H` 16 bytes, a string
//! of 32 lowercase hex digits (the ids) | `T` zigzag seconds and nanoseconds, a string that is
//! exactly the RFC 3339 form Bulwark writes for that instant. Lengths and counts are LEB128
//! varints. A message went from 224 to about 160 bytes (BENCHMARKS.md, issue 21).

use std::collections::BTreeMap;

use crate::ports::store::AttrValue;

/// The first binary form: names spelled out, strings as strings.
const VERSION_1: u8 = 0xB1;
const VERSION: u8 = 0xB2;
const TAG_S: u8 = 1;
const TAG_N: u8 = 2;
const TAG_B: u8 = 3;
const TAG_BOOL: u8 = 4;
const TAG_L: u8 = 5;
const TAG_HEX: u8 = 6;
const TAG_TIME: u8 = 7;

/// Attribute names written as their place in this list. Stored items refer to these
/// positions: names may be appended, never removed or reordered.
const NAMES: &[&str] = &[
    "sender_id",
    "body_enc",
    "sent_at",
    "attachment_ids",
    "expires_at",
    "last_message_at",
    "last_message_id",
    "unread_count",
    "member_ids",
    "created_at",
    "created_by",
    "carries_reads",
    "user_id",
    "updated_at",
    "status",
    "state",
    "version",
];
/// Lists nest rarely and shallowly; a stored value deeper than this is damage, not data.
const MAX_DEPTH: usize = 16;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// The 16 bytes a string of exactly 32 lowercase hex digits spells (every id Bulwark makes).
fn hex16(s: &str) -> Option<[u8; 16]> {
    let b = s.as_bytes();
    if b.len() != 32 || !b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut raw = [0u8; 16];
    hex::decode_to_slice(b, &mut raw).ok()?;
    Some(raw)
}

/// The instant an RFC 3339 string names, if formatting that instant gives back exactly the
/// string (anything else, e.g. another offset or precision, stays a string).
fn instant(s: &str) -> Option<(i64, u32)> {
    // Cheap refusal first: most strings are not timestamps.
    if s.len() < 20 || s.len() > 40 || s.as_bytes()[4] != b'-' || !s.ends_with('Z') {
        return None;
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    (crate::ports::clock::rfc3339(t) == s).then(|| (t.unix_timestamp(), t.nanosecond()))
}

fn value(out: &mut Vec<u8>, v: &AttrValue, depth: usize) -> Result<(), String> {
    match v {
        AttrValue::S(s) => {
            if let Some(raw) = hex16(s) {
                out.push(TAG_HEX);
                out.extend_from_slice(&raw);
            } else if let Some((secs, nanos)) = instant(s) {
                out.push(TAG_TIME);
                varint(out, zigzag(secs));
                varint(out, u64::from(nanos));
            } else {
                out.push(TAG_S);
                bytes(out, s.as_bytes());
            }
        }
        AttrValue::N(n) => {
            out.push(TAG_N);
            varint(out, zigzag(*n));
        }
        AttrValue::B(b) => {
            out.push(TAG_B);
            bytes(out, b);
        }
        AttrValue::Bool(b) => {
            out.push(TAG_BOOL);
            out.push(u8::from(*b));
        }
        // What decode would refuse is never written.
        AttrValue::L(_) if depth >= MAX_DEPTH => return Err("lists nested too deep to store".into()),
        AttrValue::L(l) => {
            out.push(TAG_L);
            varint(out, l.len() as u64);
            l.iter().try_for_each(|v| value(out, v, depth + 1))?;
        }
    }
    Ok(())
}

/// The binary form of `attrs`.
pub fn encode(attrs: &BTreeMap<String, AttrValue>) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(64 + attrs.len() * 24);
    out.push(VERSION);
    varint(&mut out, attrs.len() as u64);
    for (name, v) in attrs {
        match NAMES.iter().position(|n| n == name) {
            Some(k) => varint(&mut out, k as u64 + 1),
            None => {
                out.push(0);
                bytes(&mut out, name.as_bytes());
            }
        }
        value(&mut out, v, 0)?;
    }
    Ok(out)
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, String> {
        let (&b, rest) = self.buf.split_first().ok_or("truncated item")?;
        self.buf = rest;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("overlong varint".into())
    }

    fn take(&mut self) -> Result<&'a [u8], String> {
        let n = usize::try_from(self.varint()?).map_err(|_| "length out of range")?;
        if n > self.buf.len() {
            return Err("truncated item".into());
        }
        let (b, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(b)
    }

    fn string(&mut self) -> Result<String, String> {
        String::from_utf8(self.take()?.to_vec()).map_err(|_| "attribute is not UTF-8".into())
    }

    fn name(&mut self, version: u8) -> Result<String, String> {
        if version == VERSION_1 {
            return self.string();
        }
        match self.varint()? {
            0 => self.string(),
            k => usize::try_from(k - 1)
                .ok()
                .and_then(|i| NAMES.get(i))
                .map(|n| (*n).to_owned())
                .ok_or_else(|| "unknown attribute name".into()),
        }
    }

    fn value(&mut self, depth: usize) -> Result<AttrValue, String> {
        Ok(match self.byte()? {
            TAG_S => AttrValue::S(self.string()?),
            TAG_N => AttrValue::N(unzigzag(self.varint()?)),
            TAG_HEX => {
                let raw = self.buf.get(..16).ok_or("truncated item")?;
                self.buf = &self.buf[16..];
                AttrValue::S(hex::encode(raw))
            }
            TAG_TIME => {
                let secs = unzigzag(self.varint()?);
                let nanos = u32::try_from(self.varint()?).map_err(|_| "bad instant")?;
                let t = time::OffsetDateTime::from_unix_timestamp(secs)
                    .ok()
                    .and_then(|t| t.replace_nanosecond(nanos).ok())
                    .ok_or("bad instant")?;
                // Only instants that formatted are ever written: one that does not is damage.
                match crate::ports::clock::rfc3339(t) {
                    s if s.is_empty() => return Err("bad instant".into()),
                    s => AttrValue::S(s),
                }
            }
            TAG_B => AttrValue::B(self.take()?.to_vec()),
            TAG_BOOL => AttrValue::Bool(self.byte()? != 0),
            TAG_L if depth < MAX_DEPTH => {
                let n = self.varint()?;
                // Each value takes at least two bytes: a count beyond that is damage.
                if n > self.buf.len() as u64 {
                    return Err("truncated list".into());
                }
                (0..n).map(|_| self.value(depth + 1)).collect::<Result<_, _>>().map(AttrValue::L)?
            }
            _ => return Err("unknown value tag".into()),
        })
    }
}

/// The attributes of a stored value, in either form.
pub fn decode(stored: &[u8]) -> Result<BTreeMap<String, AttrValue>, String> {
    match stored.first() {
        Some(&version @ (VERSION | VERSION_1)) => {
            let mut r = Reader { buf: &stored[1..] };
            let n = r.varint()?;
            let mut attrs = BTreeMap::new();
            for _ in 0..n {
                let name = r.name(version)?;
                attrs.insert(name, r.value(0)?);
            }
            if !r.buf.is_empty() {
                return Err("trailing bytes after the item".into());
            }
            Ok(attrs)
        }
        Some(b'{') => serde_json::from_slice(stored).map_err(|e| e.to_string()),
        _ => Err("unknown item encoding".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn attr() -> impl Strategy<Value = AttrValue> {
        let leaf = prop_oneof![
            any::<String>().prop_map(AttrValue::S),
            // ids, ids that are almost ids, and timestamps in and out of Bulwark's own form
            "[0-9a-f]{32}|[0-9a-fA-F]{31,33}".prop_map(AttrValue::S),
            (-62_000_000_000i64..250_000_000_000, 0u32..1_000_000_000).prop_map(|(s, n)| {
                let t = time::OffsetDateTime::from_unix_timestamp(s).unwrap().replace_nanosecond(n).unwrap();
                AttrValue::S(crate::ports::clock::rfc3339(t))
            }),
            "20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,10})?(Z|\\+01:00|z)"
                .prop_map(AttrValue::S),
            any::<i64>().prop_map(AttrValue::N),
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(AttrValue::B),
            any::<bool>().prop_map(AttrValue::Bool),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| proptest::collection::vec(inner, 0..4).prop_map(AttrValue::L))
    }

    proptest! {
        #[test]
        fn every_item_round_trips_and_json_still_reads(attrs in proptest::collection::btree_map(prop_oneof![any::<String>(), proptest::sample::select(NAMES).prop_map(str::to_owned)], attr(), 0..8)) {
            // GIVEN any attributes WHEN encoded THEN they decode to themselves
            prop_assert_eq!(&decode(&encode(&attrs).unwrap()).unwrap(), &attrs);
            // AND the JSON written by earlier versions still decodes
            prop_assert_eq!(&decode(&serde_json::to_vec(&attrs).unwrap()).unwrap(), &attrs);
        }

        #[test]
        fn damaged_values_are_errors_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut stored = vec![VERSION];
            stored.extend(raw);
            let _ = decode(&stored);
        }
    }

    #[test]
    fn lists_nested_deeper_than_decode_reads_are_not_written() {
        let mut v = AttrValue::N(1);
        for _ in 0..=MAX_DEPTH {
            v = AttrValue::L(vec![v]);
        }
        assert!(encode(&BTreeMap::from([("deep".to_owned(), v)])).is_err());
    }

    #[test]
    fn items_in_the_first_binary_form_still_read() {
        // GIVEN an item as the first binary form (0xB1) wrote it: names and strings spelled out
        let mut v1 = vec![VERSION_1, 2, 9];
        v1.extend(b"sender_id");
        v1.extend([TAG_S, 32]);
        v1.extend(b"01a20ee807cd76bda508bc3fb5d90719");
        v1.push(7);
        v1.extend(b"sent_at");
        v1.extend([TAG_S, 24]);
        v1.extend(b"2026-11-24T23:20:58.123Z");
        // WHEN decoded THEN the same attributes as ever
        let attrs = decode(&v1).unwrap();
        assert_eq!(attrs["sender_id"], AttrValue::S("01a20ee807cd76bda508bc3fb5d90719".into()));
        assert_eq!(attrs["sent_at"], AttrValue::S("2026-11-24T23:20:58.123Z".into()));
        // AND written again, it takes the compact form and reads back the same
        assert_eq!(decode(&encode(&attrs).unwrap()).unwrap(), attrs);
        assert!(encode(&attrs).unwrap().len() < v1.len() - 30);
    }

    #[test]
    fn names_outside_the_dictionary_and_unknown_places_are_handled() {
        // GIVEN a dictionary place that does not exist WHEN decoded THEN an error, no panic
        let stored = [VERSION, 1, NAMES.len() as u8 + 1, TAG_BOOL, 1];
        assert!(decode(&stored).is_err());
        // AND an instant no RFC 3339 string names (a year before 0) is an error, not ""
        let mut stored = vec![VERSION, 1, 1, TAG_TIME];
        varint(&mut stored, zigzag(-70_000_000_000));
        varint(&mut stored, 0);
        assert!(decode(&stored).is_err());
        // AND a name outside the dictionary round-trips spelled out
        let attrs = BTreeMap::from([("read:01a2".to_owned(), AttrValue::N(-3))]);
        assert_eq!(decode(&encode(&attrs).unwrap()).unwrap(), attrs);
    }

    #[test]
    fn a_message_item_is_far_smaller_than_its_json() {
        // GIVEN a message-like item: ids, a timestamp and a 128-byte sealed body
        let mut attrs = BTreeMap::new();
        attrs.insert("sender_id".to_owned(), AttrValue::S("01a20ee807cd76bda508bc3fb5d90719".into()));
        attrs.insert("sent_at".to_owned(), AttrValue::S("2026-11-24T23:20:58.123456789Z".into()));
        attrs.insert("body_enc".to_owned(), AttrValue::B(vec![7; 128]));
        // WHEN encoded THEN the bytes are not base64'd and the framing is a few bytes
        let (binary, json) = (encode(&attrs).unwrap().len(), serde_json::to_vec(&attrs).unwrap().len());
        // the body, the id as 16 bytes, the time as two varints, a few bytes of framing
        assert!(binary <= 128 + 16 + 8 + 12 && binary < json, "binary {binary}, json {json}");
    }
}
