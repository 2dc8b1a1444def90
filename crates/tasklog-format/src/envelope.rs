//! A lenient, borrowed view of a record's envelope fields.
//!
//! Any JSON object is a valid record, including lines from agents that never
//! heard of tasklog, so this view never fails because a field has an
//! unexpected type: `"seq": "abc"` simply has no usable seq. Only the fields
//! the index promotes to columns are kept; the rest of the line is parsed
//! (so syntax errors are caught) and dropped without allocating.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::strict::{Key, KeySet, UniqueAny};

/// The largest integer an integer column takes from a record: 2^53 − 1,
/// JavaScript's `Number.MAX_SAFE_INTEGER`.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// A JSON value reduced to what a column can hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    /// A string, borrowed from the line when it has no escapes.
    Str(Cow<'a, str>),
    /// An integer that fits `i64`.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `null`, an array or an object.
    Other,
}

impl Scalar<'_> {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an integer, if it is an integral number within
    /// ±[`MAX_SAFE_INTEGER`]: the integers every reader of the line reads
    /// exactly (a browser's `JSON.parse` rounds larger ones), and small
    /// enough that sums of them in the index cannot overflow 64 bits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Scalar::Int(i) if i.unsigned_abs() <= MAX_SAFE_INTEGER as u64 => Some(i),
            Scalar::Float(f) if f.fract() == 0.0 && f.abs() <= MAX_SAFE_INTEGER as f64 => {
                Some(f as i64)
            }
            _ => None,
        }
    }

    /// The value as a float, if it is a number a double holds exactly as
    /// SQLite reads it: any non-integer literal, and integers within
    /// ±[`MAX_SAFE_INTEGER`] (a larger 64-bit integer would be rounded here
    /// but stays exact in SQLite's `json_extract`).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Scalar::Int(i) if i.unsigned_abs() <= MAX_SAFE_INTEGER as u64 => Some(i as f64),
            Scalar::Float(f) => Some(f),
            _ => None,
        }
    }

    /// The value as a boolean, if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Scalar::Bool(b) => Some(b),
            _ => None,
        }
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(Scalar::Float(v as f64), Scalar::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        UniqueAny.visit_seq(seq).map(|_| Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        UniqueAny.visit_map(map).map(|_| Scalar::Other)
    }
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

/// A small JSON tree of objects and scalars (arrays are dropped), used for
/// the nested `gen_ai` object whose paths the index reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Node<'a> {
    /// A leaf value.
    Leaf(Scalar<'a>),
    /// An object, in the order its keys appeared.
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl<'a> Node<'a> {
    /// Follows `path` through nested objects. A dotted key such as
    /// `"usage.input_tokens"` at any level also matches, so flat OpenTelemetry
    /// attribute names work as well as nested objects.
    pub fn get(&self, path: &[&str]) -> Option<&Scalar<'a>> {
        let Some((first, rest)) = path.split_first() else {
            return match self {
                Node::Leaf(s) => Some(s),
                Node::Object(_) => None,
            };
        };
        let Node::Object(entries) = self else {
            return None;
        };
        // Keys are unique (strict.rs), so the nested key is found at most
        // once; it wins over a flat dotted key, as the SQL of FORMAT.md
        // ("the nested path, else the dotted key") reads it.
        let nested = entries
            .iter()
            .find(|(key, _)| key == first)
            .and_then(|(_, child)| child.get(rest));
        nested.or_else(|| {
            entries.iter().find_map(|(key, child)| {
                dotted_match(key, path).and_then(|suffix| child.get(&path[suffix..]))
            })
        })
    }
}

/// If `key` equals several leading path segments joined by dots, how many.
fn dotted_match(key: &str, path: &[&str]) -> Option<usize> {
    if !key.contains('.') {
        return None;
    }
    let mut rest = key;
    for (i, seg) in path.iter().enumerate() {
        rest = rest.strip_prefix(seg)?;
        if rest.is_empty() {
            return Some(i + 1);
        }
        rest = rest.strip_prefix('.')?;
    }
    None
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        let mut seen = KeySet::default();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            seen.insert(&key)?;
            entries.push((key, map.next_value::<Node<'de>>()?));
        }
        Ok(Node::Object(entries))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        ScalarVisitor.visit_seq(seq).map(Node::Leaf)
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Node::Leaf(Scalar::Str(Cow::Borrowed(v))))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Node::Leaf(Scalar::Str(Cow::Owned(v.to_owned()))))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Node::Leaf(Scalar::Int(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        ScalarVisitor.visit_u64(v).map(Node::Leaf)
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Node::Leaf(Scalar::Float(v)))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Node::Leaf(Scalar::Bool(v)))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Node::Leaf(Scalar::Other))
    }
}

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

/// One definition of the envelope's top-level scalar fields: the
/// [`Envelope`] struct, the keys its visitor reads, and the keys the
/// writer's check decodes as strictly ([`SCALAR_KEYS`]) all come from this
/// list. Adding a promoted field is one line here, one in `Row` (the index
/// crate's `batch.rs`) and a migration.
macro_rules! envelope_fields {
    ($( $(#[$doc:meta])* $field:ident ),* $(,)?) => {
        /// The envelope fields of one record, as the index promotes them.
        ///
        /// Every field is optional: a foreign line may carry none of them.
        #[derive(Debug, Default, Clone, PartialEq)]
        pub struct Envelope<'a> {
            $( $(#[$doc])* pub $field: Option<Scalar<'a>>, )*
            /// The nested `gen_ai` object.
            pub gen_ai: Option<Node<'a>>,
            /// Whether a `ts` fallback field (not `ts` itself) supplied `ts`.
            pub ts_from_fallback: bool,
            /// Whether the object has a `ts` key at all (of any type).
            pub ts_key_present: bool,
        }

        /// The slot of a top-level key the envelope keeps as a scalar.
        fn scalar_slot<'e, 'a>(env: &'e mut Envelope<'a>, key: &str) -> Option<&'e mut Option<Scalar<'a>>> {
            match key {
                $( stringify!($field) => Some(&mut env.$field), )*
                _ => None,
            }
        }

        /// The top-level keys read as a [`Scalar`] (the envelope's own, and
        /// the foreign fallbacks for `event` and `ts`); every other key but
        /// `gen_ai` is skipped unparsed.
        const SCALAR_KEYS: &[&str] = &[
            $( stringify!($field), )*
            "type", "timestamp", "time", "created_at",
        ];
    };
}

envelope_fields! {
    /// `v`: format version.
    v,
    /// `ts`, or the first of `timestamp`, `time`, `created_at` when `ts` is absent.
    ts,
    /// `seq`: position in the stream.
    seq,
    /// `id`: sortable unique id.
    id,
    /// `event`, or `type` when `event` is absent (common in foreign logs).
    event,
    /// `task_id` as written in the record (the folder name is authoritative).
    task_id,
    /// `trace_id`.
    trace_id,
    /// `span_id`.
    span_id,
    /// `parent_span_id`.
    parent_span_id,
    /// `name`.
    name,
    /// `duration_ms`.
    duration_ms,
    /// `status`.
    status,
    /// `error`: any value; only its presence and string form are promoted.
    error,
    /// `role` of a message.
    role,
    /// `severity` of a system event.
    severity,
    /// `component` of a system event.
    component,
}

impl<'a> Envelope<'a> {
    /// A `gen_ai` leaf by path, e.g. `["usage", "input_tokens"]`.
    pub fn gen_ai(&self, path: &[&str]) -> Option<&Scalar<'a>> {
        self.gen_ai.as_ref()?.get(path)
    }

    /// A string field's value.
    pub fn str_of(field: &'a Option<Scalar<'a>>) -> Option<&'a str> {
        field.as_ref().and_then(Scalar::as_str)
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Envelope<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut env = Envelope::default();
        let mut ts_fallback: Option<Scalar<'de>> = None;
        let mut type_field: Option<Scalar<'de>> = None;
        let mut seen = KeySet::default();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            seen.insert(&key)?;
            match key.as_ref() {
                "type" => type_field = Some(map.next_value::<Scalar<'de>>()?),
                "timestamp" | "time" | "created_at" => {
                    let value = map.next_value::<Scalar<'de>>()?;
                    if ts_fallback.is_none() && value.as_str().is_some() {
                        ts_fallback = Some(value);
                    }
                }
                "gen_ai" => env.gen_ai = Some(map.next_value::<Node<'de>>()?),
                k => {
                    env.ts_key_present |= k == "ts";
                    match scalar_slot(&mut env, k) {
                        Some(slot) => *slot = Some(map.next_value::<Scalar<'de>>()?),
                        None => {
                            map.next_value::<UniqueAny>()?;
                        }
                    }
                }
            }
        }
        if env.ts.as_ref().and_then(Scalar::as_str).is_none() && ts_fallback.is_some() {
            env.ts = ts_fallback;
            env.ts_from_fallback = true;
        }
        if env.event.as_ref().and_then(Scalar::as_str).is_none() {
            if let Some(t) = type_field.filter(|t| t.as_str().is_some()) {
                env.event = Some(t);
            }
        }
        Ok(env)
    }
}

impl<'de> Deserialize<'de> for Envelope<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EnvelopeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Envelope<'_> {
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn reads_our_envelope() {
        let env = parse(
            r#"{"v":1,"ts":"2026-01-01T00:00:00.000000Z","seq":3,"event":"llm.call",
               "gen_ai":{"request":{"model":"m"},"usage":{"input_tokens":10,"cache_read":{"input_tokens":4}}}}"#,
        );
        assert_eq!(env.seq.as_ref().and_then(Scalar::as_i64), Some(3));
        assert_eq!(Envelope::str_of(&env.event), Some("llm.call"));
        assert_eq!(
            env.gen_ai(&["request", "model"]).and_then(Scalar::as_str),
            Some("m")
        );
        assert_eq!(
            env.gen_ai(&["usage", "cache_read", "input_tokens"])
                .and_then(Scalar::as_i64),
            Some(4)
        );
        assert!(!env.ts_from_fallback);
    }

    #[test]
    fn flat_dotted_gen_ai_keys_work() {
        let env = parse(r#"{"gen_ai":{"request.model":"m","usage.input_tokens":5}}"#);
        assert_eq!(
            env.gen_ai(&["request", "model"]).and_then(Scalar::as_str),
            Some("m")
        );
        assert_eq!(
            env.gen_ai(&["usage", "input_tokens"])
                .and_then(Scalar::as_i64),
            Some(5)
        );
    }

    #[test]
    fn foreign_lines_never_fail_on_types() {
        let env = parse(
            r#"{"seq":"abc","ts":42,"timestamp":"2025-01-01T00:00:00Z","type":"user","gen_ai":"x","event":[1]}"#,
        );
        assert_eq!(env.seq.as_ref().and_then(Scalar::as_i64), None);
        assert_eq!(Envelope::str_of(&env.ts), Some("2025-01-01T00:00:00Z"));
        assert!(env.ts_from_fallback);
        assert_eq!(Envelope::str_of(&env.event), Some("user"));
        assert_eq!(env.gen_ai(&["request", "model"]), None);
    }

    #[test]
    fn escaped_strings_are_owned() {
        let env = parse(r#"{"name":"a\"b","big":18446744073709551615,"seq":18446744073709551615}"#);
        assert_eq!(Envelope::str_of(&env.name), Some("a\"b"));
        assert_eq!(env.seq.as_ref().and_then(Scalar::as_i64), None);
    }
}

/// Which of the stamped envelope keys a record already has.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StampedKeys {
    /// `v` is present.
    pub v: bool,
    /// `ts` is present (of any type).
    pub ts: bool,
    /// `seq` is present.
    pub seq: bool,
    /// `id` is present.
    pub id: bool,
    /// `timestamp` is present and a string: the record's own time in the
    /// shape of the reference designs, which the indexer reads as `ts`
    /// when `ts` is absent (so writers need not stamp one).
    pub own_timestamp: bool,
}

/// Checks an object exactly as strictly as [`Envelope`] reads it (keys and
/// the promoted values and `gen_ai` decoded, the rest only parsed) but
/// builds nothing: the writer's validation, on its hot path.
pub fn check_envelope(text: &str) -> Result<StampedKeys, serde_json::Error> {
    serde_json::from_str::<CheckTop>(text).map(|c| c.0)
}

struct CheckTop(StampedKeys);

/// Accepts any value; strings are decoded (escapes checked), containers skipped.
struct CheckScalar;
/// Accepts any value; objects are walked like [`Node`], arrays skipped.
struct CheckNode;

macro_rules! accept_scalars {
    () => {
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
            UniqueAny.visit_seq(seq).map(drop)
        }
    };
}

impl<'de> Visitor<'de> for CheckScalar {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    accept_scalars!();
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        UniqueAny.visit_map(map).map(drop)
    }
}

impl<'de> Visitor<'de> for CheckNode {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    accept_scalars!();
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = KeySet::default();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            seen.insert(&key)?;
            map.next_value::<CheckNode>()?;
        }
        Ok(())
    }
}

macro_rules! deserialize_with {
    ($ty:ident, $how:ident) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.$how($ty).map(|()| $ty)
            }
        }
    };
}
deserialize_with!(CheckScalar, deserialize_any);

/// Like [`CheckScalar`], and says whether the value was a string.
struct CheckString(bool);

impl<'de> Visitor<'de> for CheckString {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<bool, A::Error> {
        UniqueAny.visit_seq(seq).map(|_| false)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<bool, A::Error> {
        UniqueAny.visit_map(map).map(|_| false)
    }
}

impl<'de> Deserialize<'de> for CheckString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CheckString(false)).map(CheckString)
    }
}
deserialize_with!(CheckNode, deserialize_any);

struct CheckTopVisitor;

impl<'de> Visitor<'de> for CheckTopVisitor {
    type Value = StampedKeys;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StampedKeys, A::Error> {
        let mut keys = StampedKeys::default();
        let mut seen = KeySet::default();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            seen.insert(&key)?;
            match key.as_ref() {
                "gen_ai" => map.next_value::<CheckNode>().map(drop)?,
                "timestamp" => keys.own_timestamp = map.next_value::<CheckString>()?.0,
                k if SCALAR_KEYS.contains(&k) => {
                    match k {
                        "v" => keys.v = true,
                        "ts" => keys.ts = true,
                        "seq" => keys.seq = true,
                        "id" => keys.id = true,
                        _ => {}
                    }
                    map.next_value::<CheckScalar>().map(drop)?
                }
                _ => map.next_value::<UniqueAny>().map(drop)?,
            }
        }
        Ok(keys)
    }
}

impl<'de> Deserialize<'de> for CheckTop {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(CheckTopVisitor).map(CheckTop)
    }
}
