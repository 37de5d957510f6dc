//! The embedded store's item encoding: a compact binary form of an item's attributes (bytes
//! stay bytes, numbers are varints) instead of JSON with base64: the content plus a few bytes.
//! Values written before keep reading: JSON always starts with `{`, the binary form with its
//! own version byte, so both live side by side and old items convert as they are rewritten.
//!
//! Layout: `0xB1`, then the attribute count, then per attribute its name (length, UTF-8) and
//! value: a tag byte and `S` length + UTF-8 | `N` zigzag varint | `B` length + bytes | `Bool`
//! one byte | `L` count + values. Lengths and counts are LEB128 varints.

use std::collections::BTreeMap;

use crate::ports::store::AttrValue;

const VERSION: u8 = 0xB1;
const TAG_S: u8 = 1;
const TAG_N: u8 = 2;
const TAG_B: u8 = 3;
const TAG_BOOL: u8 = 4;
const TAG_L: u8 = 5;
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

fn value(out: &mut Vec<u8>, v: &AttrValue, depth: usize) -> Result<(), String> {
    match v {
        AttrValue::S(s) => {
            out.push(TAG_S);
            bytes(out, s.as_bytes());
        }
        AttrValue::N(n) => {
            out.push(TAG_N);
            varint(out, ((n << 1) ^ (n >> 63)) as u64);
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
        bytes(&mut out, name.as_bytes());
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

    fn value(&mut self, depth: usize) -> Result<AttrValue, String> {
        Ok(match self.byte()? {
            TAG_S => AttrValue::S(self.string()?),
            TAG_N => {
                let z = self.varint()?;
                AttrValue::N(((z >> 1) as i64) ^ -((z & 1) as i64))
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
        Some(&VERSION) => {
            let mut r = Reader { buf: &stored[1..] };
            let n = r.varint()?;
            let mut attrs = BTreeMap::new();
            for _ in 0..n {
                let name = r.string()?;
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
            any::<i64>().prop_map(AttrValue::N),
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(AttrValue::B),
            any::<bool>().prop_map(AttrValue::Bool),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| proptest::collection::vec(inner, 0..4).prop_map(AttrValue::L))
    }

    proptest! {
        #[test]
        fn every_item_round_trips_and_json_still_reads(attrs in proptest::collection::btree_map(any::<String>(), attr(), 0..8)) {
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
    fn a_message_item_is_far_smaller_than_its_json() {
        // GIVEN a message-like item: ids, a timestamp and a 128-byte sealed body
        let mut attrs = BTreeMap::new();
        attrs.insert("sender_id".to_owned(), AttrValue::S("01a20ee807cd76bda508bc3fb5d90719".into()));
        attrs.insert("sent_at".to_owned(), AttrValue::N(1_795_392_000_123));
        attrs.insert("body_enc".to_owned(), AttrValue::B(vec![7; 128]));
        // WHEN encoded THEN the bytes are not base64'd and the framing is a few bytes
        let (binary, json) = (encode(&attrs).unwrap().len(), serde_json::to_vec(&attrs).unwrap().len());
        let content = 128 + 32 + "sender_idsent_atbody_enc".len();
        assert!(binary <= content + 20 && binary < json, "binary {binary}, json {json}");
    }
}
