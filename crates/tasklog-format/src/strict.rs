//! The JSON that every reader reads the same way.
//!
//! RFC 8259 leaves two things to the reader: which value wins when an object
//! repeats a key (§4: "the behavior ... is unpredictable"), and what a lone
//! UTF-16 surrogate escape means (§8.2). Readers of our files disagree on
//! both: SQLite's `json_extract` takes the first of two equal keys while jq,
//! Python, JavaScript and PostgreSQL's `jsonb` take the last, and SQLite
//! decodes `"\ud83d"` into bytes that are not UTF-8, which Python's `sqlite3`
//! (and so Datasette) then cannot read. A record must give one answer to
//! every reader, so lines and documents with either are refused by the writer
//! and quarantined by the indexer, with the cause named.
//!
//! [`UniqueAny`] walks any JSON value checking that no object repeats a key;
//! it replaces `IgnoredAny` wherever a parser skips what it does not keep.
//! [`find_lone_surrogate`] scans the escapes of a text.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// The message prefix of a duplicate-key error, recognised when serde_json
/// hands the error back with its position.
pub(crate) const DUPLICATE_KEY: &str = "duplicate key ";

/// How many borrowed keys a [`KeySet`] holds without allocating.
const INLINE_KEYS: usize = 16;

/// The keys seen so far in one object. Most objects have a handful of keys
/// borrowed from the line (no escapes), so they live in a small array on
/// the stack and a linear scan finds repeats: the writer validates every
/// record with this, and an allocation per object doubled its cost.
pub(crate) struct KeySet<'de> {
    inline: [&'de str; INLINE_KEYS],
    len: usize,
    /// Borrowed keys past the inline ones.
    spilled: Vec<&'de str>,
    /// Keys that had escapes, decoded.
    owned: Vec<String>,
}

impl Default for KeySet<'_> {
    fn default() -> Self {
        KeySet {
            inline: [""; INLINE_KEYS],
            len: 0,
            spilled: Vec::new(),
            owned: Vec::new(),
        }
    }
}

impl<'de> KeySet<'de> {
    /// Records `key`, or fails naming it when the object already had it.
    /// Takes the `Cow` itself: a borrowed key is kept without copying.
    #[allow(clippy::ptr_arg)]
    pub(crate) fn insert<E: de::Error>(&mut self, key: &Cow<'de, str>) -> Result<(), E> {
        let k: &str = key;
        let seen = self.inline[..self.len].contains(&k)
            || self.spilled.contains(&k)
            || self.owned.iter().any(|o| o == k);
        if seen {
            return Err(E::custom(format_args!("{DUPLICATE_KEY}{k:?}")));
        }
        match key {
            Cow::Borrowed(b) if self.len < INLINE_KEYS => {
                self.inline[self.len] = b;
                self.len += 1;
            }
            Cow::Borrowed(b) => self.spilled.push(b),
            Cow::Owned(o) => self.owned.push(o.clone()),
        }
        Ok(())
    }
}

/// An object key, borrowed from the text when it has no escapes. (serde's
/// own `Cow<str>` always allocates: one `String` per key.)
pub(crate) struct Key<'de>(pub(crate) Cow<'de, str>);

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v)))
    }
}

struct KeyVisitor;

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

/// Any JSON value, walked to its leaves; fails on a repeated key in any
/// object at any depth. Builds nothing but the key lists.
pub(crate) struct UniqueAny;

impl<'de> Visitor<'de> for UniqueAny {
    type Value = UniqueAny;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E>(self, _: &str) -> Result<UniqueAny, E> {
        Ok(UniqueAny)
    }
    fn visit_i64<E>(self, _: i64) -> Result<UniqueAny, E> {
        Ok(UniqueAny)
    }
    fn visit_u64<E>(self, _: u64) -> Result<UniqueAny, E> {
        Ok(UniqueAny)
    }
    fn visit_f64<E>(self, _: f64) -> Result<UniqueAny, E> {
        Ok(UniqueAny)
    }
    fn visit_bool<E>(self, _: bool) -> Result<UniqueAny, E> {
        Ok(UniqueAny)
    }
    fn visit_unit<E>(self) -> Result<UniqueAny, E> {
        Ok(UniqueAny)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueAny, A::Error> {
        while seq.next_element::<UniqueAny>()?.is_some() {}
        Ok(UniqueAny)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueAny, A::Error> {
        let mut seen = KeySet::default();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            seen.insert(&key)?;
            map.next_value::<UniqueAny>()?;
        }
        Ok(UniqueAny)
    }
}

impl<'de> Deserialize<'de> for UniqueAny {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueAny)
    }
}

/// A `\uXXXX` escape of a UTF-16 surrogate that is not half of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoneSurrogate {
    /// Byte offset of the backslash in the text.
    pub at: usize,
    /// The escaped code unit.
    pub unit: u16,
}

/// Finds the first lone surrogate escape in JSON text. Backslashes occur
/// only inside strings in valid JSON, so walking from one escape to the next
/// needs no tokenizer; invalid JSON is left to the parser.
pub fn find_lone_surrogate(text: &[u8]) -> Option<LoneSurrogate> {
    let mut from = 0;
    while let Some(i) = text
        .get(from..)
        .and_then(|rest| memchr::memchr(b'\\', rest))
        .map(|i| from + i)
    {
        let Some(unit) = escaped_unit(text, i) else {
            from = i + 2; // `\"`, `\\`, `\n`, ...: skip the escaped byte
            continue;
        };
        match unit {
            0xD800..=0xDBFF => match escaped_unit(text, i + 6) {
                Some(0xDC00..=0xDFFF) => from = i + 12,
                _ => return Some(LoneSurrogate { at: i, unit }),
            },
            0xDC00..=0xDFFF => return Some(LoneSurrogate { at: i, unit }),
            _ => from = i + 6,
        }
    }
    None
}

/// The code unit of a `\uXXXX` escape starting at `at`, if there is one.
fn escaped_unit(text: &[u8], at: usize) -> Option<u16> {
    let esc = text.get(at..at + 6)?;
    if esc[0] != b'\\' || esc[1] != b'u' {
        return None;
    }
    let hex = std::str::from_utf8(&esc[2..]).ok()?;
    u16::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_surrogates_are_found_and_pairs_are_not() {
        let cases: &[(&str, Option<(usize, u16)>)] = &[
            (r#"{"a":"x\ud83d"}"#, Some((7, 0xd83d))),
            (r#"{"a":"\ud83d\ude00"}"#, None),
            (r#"{"a":"\ude00"}"#, Some((6, 0xde00))),
            (r#"{"a":"\ud83dx"}"#, Some((6, 0xd83d))),
            (r#"{"a":"\ud83d\u0041"}"#, Some((6, 0xd83d))),
            (r#"{"a":"\\ud83d"}"#, None), // an escaped backslash, then text
            (r#"{"a":"\\\ud83d"}"#, Some((8, 0xd83d))),
            (r#"{"\udc00":1}"#, Some((2, 0xdc00))),
            (r#"{"a":"\u00e9\n\t"}"#, None),
            (r#"{"a":"\u"#, None),
            ("\\", None),
        ];
        for (text, want) in cases {
            let got = find_lone_surrogate(text.as_bytes()).map(|s| (s.at, s.unit));
            assert_eq!(got, *want, "{text}");
        }
    }

    #[test]
    fn repeated_keys_fail_at_any_depth() {
        let check = |s: &str| serde_json::from_str::<UniqueAny>(s).map(drop);
        assert!(check(r#"{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}"#).is_ok());
        for bad in [
            r#"{"a":1,"a":2}"#,
            r#"{"x":{"a":1,"a":1}}"#,
            r#"[{"a":1,"b":2,"a":3}]"#,
            r#"{"a":1,"\u0061":2}"#,
        ] {
            let err = check(bad).unwrap_err().to_string();
            assert!(err.starts_with("duplicate key \"a\""), "{bad}: {err}");
        }
    }
}
