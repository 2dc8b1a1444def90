//! The line codec: turning a caller's JSON into one stream line, and
//! classifying the lines read back.
//!
//! Writing never re-serializes the caller's JSON: numbers, key order and
//! escapes stay byte-for-byte as given. The envelope fields the caller left
//! out are spliced in front of the caller's first key.

use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::decode::{validate_str, DecodeError, BYTE_ORDER_MARK};

/// The `v` written on every record by our writers.
pub const FORMAT_VERSION: u32 = 1;

/// Why a caller's JSON cannot become a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The bytes are not UTF-8.
    #[error("not valid UTF-8 (first bad byte at offset {valid_up_to})")]
    InvalidUtf8 {
        /// Length of the valid prefix.
        valid_up_to: usize,
    },
    /// The text is not one JSON value (syntax error or trailing content).
    #[error("not valid JSON: {message}")]
    InvalidJson {
        /// serde_json's message, which names line and column.
        message: String,
    },
    /// The JSON value is not an object.
    #[error("a record must be a JSON object, not {found}")]
    NotObject {
        /// What was found instead.
        found: &'static str,
    },
}

/// The envelope values stamped at append time.
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'a> {
    /// RFC 3339 UTC timestamp with microseconds.
    pub ts: &'a str,
    /// Position in the stream.
    pub seq: u64,
    /// Sortable unique id.
    pub id: &'a str,
}

/// A validated record, ready to be stamped and written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The object as one line, without the trailing newline.
    body: String,
    has_v: bool,
    has_ts: bool,
    has_seq: bool,
    has_id: bool,
}

impl Prepared {
    /// Validates the caller's JSON text: exactly one object, nothing after it.
    pub fn from_json(text: &str) -> Result<Prepared, LineError> {
        // A byte order mark before the JSON (PowerShell 5 pipes one) is not
        // part of the record; the line written never carries one.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace());
        // One parse, the indexer's own: the writer accepts exactly what the
        // indexer accepts (depth limit, promoted fields' decoding).
        let keys = validate_str(trimmed).map_err(|e| match e {
            DecodeError::InvalidJson { message } => LineError::InvalidJson { message },
            DecodeError::NotObject => LineError::NotObject {
                found: match serde_json::from_str::<TopLevel>(trimmed) {
                    Ok(TopLevel::Other(found)) => found,
                    _ => "a non-object value",
                },
            },
            other => LineError::InvalidJson {
                message: other.to_string(),
            },
        })?;
        // Inside valid JSON, CR and LF can only be whitespace between tokens
        // (raw control characters are illegal in strings), so replacing them
        // keeps the value and makes the record one line.
        let body = if memchr::memchr2(b'\n', b'\r', trimmed.as_bytes()).is_some() {
            trimmed.replace(['\n', '\r'], " ")
        } else {
            trimmed.to_owned()
        };
        Ok(Prepared {
            body,
            has_v: keys.v,
            // A string `timestamp` is the record's own time (the reference
            // designs' shape): the indexer reads it as `ts`, and a stamped
            // `ts` would order the line by when it was appended instead.
            has_ts: keys.ts || keys.own_timestamp,
            has_seq: keys.seq,
            has_id: keys.id,
        })
    }

    /// Like [`Prepared::from_json`], for bytes that may not be UTF-8.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Prepared, LineError> {
        let text = std::str::from_utf8(bytes).map_err(|e| LineError::InvalidUtf8 {
            valid_up_to: e.valid_up_to(),
        })?;
        Prepared::from_json(text)
    }

    /// Wraps a compact object that our own serializer produced and that is
    /// known to carry none of the stamped fields.
    pub fn from_trusted_object(body: String) -> Prepared {
        debug_assert!(body.starts_with('{') && body.ends_with('}') && !body.contains('\n'));
        Prepared {
            body,
            has_v: false,
            has_ts: false,
            has_seq: false,
            has_id: false,
        }
    }

    /// Whether the caller supplied its own `seq` (then the writer keeps it).
    pub fn has_seq(&self) -> bool {
        self.has_seq
    }

    /// The line to write: missing envelope fields first, then the caller's
    /// fields in the caller's order, then `\n`.
    pub fn render(&self, stamp: &Stamp<'_>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 96);
        self.render_into(stamp, &mut out);
        out
    }

    /// [`Prepared::render`] into an existing buffer.
    pub fn render_into(&self, stamp: &Stamp<'_>, out: &mut Vec<u8>) {
        out.push(b'{');
        let mut first = true;
        let mut sep = |out: &mut Vec<u8>| {
            if !std::mem::take(&mut first) {
                out.push(b',');
            }
        };
        if !self.has_v {
            sep(out);
            out.extend_from_slice(b"\"v\":");
            push_decimal(out, u64::from(FORMAT_VERSION));
        }
        if !self.has_ts {
            sep(out);
            out.extend_from_slice(b"\"ts\":\"");
            out.extend_from_slice(stamp.ts.as_bytes());
            out.push(b'"');
        }
        if !self.has_seq {
            sep(out);
            out.extend_from_slice(b"\"seq\":");
            push_decimal(out, stamp.seq);
        }
        if !self.has_id {
            sep(out);
            out.extend_from_slice(b"\"id\":\"");
            out.extend_from_slice(stamp.id.as_bytes());
            out.push(b'"');
        }
        let inner =
            self.body[1..self.body.len() - 1].trim_matches(|c: char| c.is_ascii_whitespace());
        if !inner.is_empty() {
            sep(out);
            out.extend_from_slice(inner.as_bytes());
        }
        out.push(b'}');
        out.push(b'\n');
    }
}

/// Appends `n` in decimal; the append path's integers without `fmt`.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// The kind of a top-level JSON value, to say what a non-object was.
enum TopLevel {
    Object,
    Other(&'static str),
}

struct TopLevelVisitor;

impl<'de> Visitor<'de> for TopLevelVisitor {
    type Value = TopLevel;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopLevel, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(TopLevel::Object)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TopLevel, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(TopLevel::Other("an array"))
    }
    fn visit_str<E>(self, _: &str) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("a string"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("a number"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("a number"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("a number"))
    }
    fn visit_bool<E>(self, _: bool) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("a boolean"))
    }
    fn visit_unit<E>(self) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("null"))
    }
}

impl<'de> serde::Deserialize<'de> for TopLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TopLevelVisitor)
    }
}

/// Splits `buf` into complete lines. Returns each line's range (newline
/// excluded) and how many bytes the complete lines span; bytes after the
/// last `\n` are a partial line that must wait.
///
/// A line ends at `\n` or `\r\n`, as Windows writers end it (Fluent Bit and
/// Filebeat read it the same way): the `\r` belongs to the ending, not to
/// the record. When `buf` starts its file (`at_file_start`), a leading byte
/// order mark is skipped (RFC 8259 §8.1). NUL bytes before a line are
/// padding, not part of it: a writer without `O_APPEND` whose file was
/// truncated under it (logrotate's `copytruncate`) writes its next line at
/// its old offset, after a hole that reads as NULs (issue 22); no JSON text
/// starts with one. Each range covers exactly the record's bytes, so a
/// record's offset is where its JSON starts.
pub fn complete_lines(buf: &[u8], at_file_start: bool) -> (Vec<std::ops::Range<usize>>, usize) {
    let mut lines = Vec::new();
    let mut start = if at_file_start && buf.starts_with(BYTE_ORDER_MARK) {
        BYTE_ORDER_MARK.len()
    } else {
        0
    };
    let mut used = 0;
    for nl in memchr::memchr_iter(b'\n', buf) {
        while start < nl && buf[start] == 0 {
            start += 1;
        }
        let end = if nl > start && buf[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        lines.push(start..end);
        start = nl + 1;
        used = start;
    }
    (lines, used)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::*;

    #[test]
    fn decimals_render_like_display() {
        for n in [0, 7, 10, 99, 1_000, 123_456_789, u64::MAX] {
            let mut out = b"x".to_vec();
            push_decimal(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }
    use proptest::prelude::*;

    const STAMP: Stamp<'static> = Stamp {
        ts: "2026-01-01T00:00:00.000000Z",
        seq: 1,
        id: "ID",
    };

    fn render(input: &str) -> Result<String, String> {
        Prepared::from_json(input)
            .map(|p| String::from_utf8(p.render(&STAMP)).unwrap())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn splices_missing_fields_and_keeps_the_rest() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            (
                "{}",
                Ok(r#"{"v":1,"ts":"2026-01-01T00:00:00.000000Z","seq":1,"id":"ID"}"#),
            ),
            (
                r#"  {"ts":"x","seq":9,"id":"mine","v":2,"n":1.50}  "#,
                Ok(r#"{"ts":"x","seq":9,"id":"mine","v":2,"n":1.50}"#),
            ),
            (
                "{\n  \"b\": 1,\n  \"a\": 2\r\n}\n",
                Ok(
                    r#"{"v":1,"ts":"2026-01-01T00:00:00.000000Z","seq":1,"id":"ID","b": 1,   "a": 2}"#,
                ),
            ),
            // The record's own string `timestamp` is its time: no `ts`.
            (
                r#"{"timestamp":"2024-01-01T00:00:00Z","stage":"received"}"#,
                Ok(
                    r#"{"v":1,"seq":1,"id":"ID","timestamp":"2024-01-01T00:00:00Z","stage":"received"}"#,
                ),
            ),
            // Not a string: not a time, so `ts` is stamped.
            (
                r#"{"timestamp":1704067200,"x":{"timestamp":"t"}}"#,
                Ok(
                    r#"{"v":1,"ts":"2026-01-01T00:00:00.000000Z","seq":1,"id":"ID","timestamp":1704067200,"x":{"timestamp":"t"}}"#,
                ),
            ),
            ("[1,2]", Err("a record must be a JSON object, not an array")),
            ("\"s\"", Err("not a string")),
            ("null", Err("not null")),
            ("{\"a\":1} x", Err("trailing characters")),
            ("{\"a\":1}{}", Err("trailing characters")),
            ("{\"a\":", Err("EOF while parsing")),
            ("", Err("EOF while parsing")),
        ];
        for (input, want) in cases {
            let got = render(input);
            match (got, want) {
                (Ok(got), Ok(want)) => assert_eq!(got, format!("{want}\n"), "{input:?}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{input:?}: {got}"),
                (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn the_writer_refuses_what_the_indexer_would_quarantine() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert!(render(&deep).unwrap_err().contains("nested deeper"));
        assert!(render(r#"{"name":"\ud800"}"#)
            .unwrap_err()
            .contains("lone surrogate"));
        assert!(render(r#"{"content":"x\ud83d"}"#)
            .unwrap_err()
            .contains("lone surrogate \\ud83d at byte 13"));
        assert!(render(r#"{"a":1,"a":2}"#)
            .unwrap_err()
            .contains("duplicate key"));
        assert!(
            render("\u{feff}{\"a\":1}").is_ok(),
            "a piped mark is not the record's"
        );
        assert!(
            render(r#"{"nul":"\u0000"}"#).is_ok(),
            "an escaped NUL is valid JSON"
        );
    }

    #[test]
    fn validation_agrees_with_decoding() {
        let cases: &[&[u8]] = &[
            br#"{"a":1}"#,
            br#"{"name":"\ud800"}"#,
            br#"{"content":"\ud800"}"#,
            br#"{"gen_ai":{"request":{"model":"\ud800"}}}"#,
            br#"{"gen_ai":{"x":["\ud800"]}}"#,
            br#"{"\ud800":1}"#,
            br#"{"event":{"deep":["\ud800"]}}"#,
            br#"{"ts":42,"timestamp":"2025-01-01T00:00:00Z"}"#,
            br#"{"seq":"x","gen_ai":"flat"}"#,
            b"[1]",
            b"\"s\"",
            b"{\"a\":\"\xff\"}",
            b"{\"a\":\"\0\"}",
            b"{\"a\":1} x",
            b"",
        ];
        for line in cases {
            assert_eq!(
                decode_line(line).map(drop).map_err(|e| e.to_string()),
                validate_line(line).map(drop).map_err(|e| e.to_string()),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn invalid_utf8_is_refused() {
        let err = Prepared::from_json_bytes(b"{\"a\":\"\xff\"}").unwrap_err();
        assert_eq!(err, LineError::InvalidUtf8 { valid_up_to: 6 });
    }

    #[test]
    fn decode_classifies_bad_lines() {
        assert!(decode_line(br#"{"a":1}"#).is_ok());
        assert_eq!(decode_line(b"[1]").unwrap_err(), DecodeError::NotObject);
        assert_eq!(decode_line(b"42").unwrap_err(), DecodeError::NotObject);
        assert_eq!(
            decode_line(b"{\"a\":\0}").unwrap_err(),
            DecodeError::Nul { at: 5 }
        );
        assert_eq!(
            decode_line(b"\xfe{}").unwrap_err(),
            DecodeError::InvalidUtf8 { valid_up_to: 0 }
        );
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(
            decode_line(deep.as_bytes()).unwrap_err(),
            DecodeError::TooDeep
        );
        assert!(matches!(
            decode_line(b"{\"a\":1"),
            Err(DecodeError::InvalidJson { .. })
        ));
        assert!(matches!(
            decode_line(b"{\"a\":1} {}"),
            Err(DecodeError::InvalidJson { .. })
        ));
        assert!(matches!(
            decode_line(b""),
            Err(DecodeError::InvalidJson { .. })
        ));
    }

    #[test]
    fn complete_lines_leave_the_partial_tail() {
        let (lines, used) = complete_lines(b"a\nbb\n\npart", false);
        assert_eq!(lines, vec![0..1, 2..4, 5..5]);
        assert_eq!(used, 6);
        assert_eq!(complete_lines(b"no newline", false), (vec![], 0));
    }

    #[test]
    fn crlf_endings_and_a_leading_bom_are_framing() {
        let buf = b"\xEF\xBB\xBF{}\r\n{\"a\":1}\r\n\r\n{}\n\xEF\xBB\xBF{}\npart\r";
        let (lines, used) = complete_lines(buf, true);
        let got: Vec<&[u8]> = lines.iter().map(|r| &buf[r.clone()]).collect();
        let want: Vec<&[u8]> = vec![b"{}", b"{\"a\":1}", b"", b"{}", b"\xEF\xBB\xBF{}"];
        assert_eq!(got, want);
        assert_eq!(lines[0].start, 3, "the first record starts after the mark");
        assert_eq!(used, buf.len() - 5);
        // Not at the file start, the mark is the line's (and quarantined).
        assert_eq!(complete_lines(b"\xEF\xBB\xBF{}\n", false).0, vec![0..5]);
        assert_eq!(
            decode_line(b"\xEF\xBB\xBF{}").map(drop),
            Err(DecodeError::ByteOrderMark)
        );
    }

    #[test]
    fn the_causes_readers_trip_on_are_named() {
        let cases: &[(&[u8], &str)] = &[
            (
                br#"{"event":"message","role":"user","content":"x\ud83d"}"#,
                "lone surrogate \\ud83d at byte 45",
            ),
            (br#"{"a":NaN}"#, "NaN is not valid JSON (RFC 8259 §6) at byte 5"),
            (br#"{"a":[1,Infinity]}"#, "Infinity is not valid JSON"),
            (br#"{"a":-Infinity}"#, "-Infinity is not valid JSON (RFC 8259 §6) at byte 5"),
            (
                br#"{"event":"message","content":"hi","event":"tool.fail"}"#,
                "duplicate key \"event\" at byte",
            ),
            (
                br#"{"event":"llm.call","gen_ai":{"usage":{"input_tokens":10,"input_tokens":100000}}}"#,
                "duplicate key \"input_tokens\"",
            ),
            (br#"{"x":{"deep":{"k":1,"k":2}}}"#, "duplicate key \"k\""),
            (br#"{"x":[{"k":1,"\u006b":2}]}"#, "duplicate key \"k\""),
        ];
        for (line, want) in cases {
            let decoded = decode_line(line).map(drop).unwrap_err().to_string();
            assert!(
                decoded.contains(want),
                "{}: {decoded}",
                String::from_utf8_lossy(line)
            );
            let validated = validate_line(line).map(drop).unwrap_err().to_string();
            assert_eq!(
                validated, decoded,
                "the writer refuses what the indexer quarantines"
            );
        }
        let doc = b"{\n  \"a\": 1,\n  \"a\": 2\n}";
        let err = validate_document(doc).unwrap_err().to_string();
        assert!(err.contains("duplicate key \"a\" at line 3"), "{err}");
        let err = validate_document(br#"["\udfff"]"#).unwrap_err().to_string();
        assert!(err.contains("lone surrogate \\udfff at byte 2"), "{err}");
        assert_eq!(strip_byte_order_mark(b"\xEF\xBB\xBF{}"), b"{}");
    }

    fn json_leaf() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            ".*".prop_map(serde_json::Value::from),
        ]
    }

    fn json_object() -> impl Strategy<Value = serde_json::Map<String, serde_json::Value>> {
        let value = json_leaf().prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map(".*", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        });
        prop::collection::btree_map("[a-z_]{1,8}", value, 0..6)
            .prop_map(|m| m.into_iter().collect())
    }

    proptest! {
        /// Encoding a record then decoding the line gives back the caller's
        /// fields unchanged, plus the stamped envelope.
        #[test]
        fn encode_then_decode_is_identity(obj in json_object(), pretty in any::<bool>(), seq in any::<u64>()) {
            let text = if pretty {
                serde_json::to_string_pretty(&obj).unwrap()
            } else {
                serde_json::to_string(&obj).unwrap()
            };
            let line = Prepared::from_json(&text).unwrap().render(&Stamp { seq, ..STAMP });
            prop_assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
            prop_assert_eq!(*line.last().unwrap(), b'\n');
            let body = &line[..line.len() - 1];
            prop_assert!(decode_line(body).is_ok());
            prop_assert!(validate_line(body).is_ok());
            let back: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body).unwrap();
            for (k, v) in &obj {
                prop_assert_eq!(back.get(k), Some(v));
            }
            let added: Vec<&String> = back.keys().filter(|k| !obj.contains_key(*k)).collect();
            for k in added {
                prop_assert!(["v", "ts", "seq", "id"].contains(&k.as_str()));
            }
            if !obj.contains_key("seq") {
                prop_assert_eq!(back["seq"].as_u64(), Some(seq));
            }
        }
    }
}
