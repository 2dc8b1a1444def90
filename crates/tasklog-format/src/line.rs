//! The line codec: turning a caller's JSON into one stream line, and
//! classifying the lines read back.
//!
//! Writing never re-serializes the caller's JSON: numbers, key order and
//! escapes stay byte-for-byte as given. The envelope fields the caller left
//! out are spliced in front of the caller's first key.

use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::envelope::{check_envelope, Envelope, StampedKeys};
use crate::strict::{find_lone_surrogate, UniqueAny, DUPLICATE_KEY};

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
            has_ts: keys.ts,
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

/// Why a line read from a stream is not a record. The indexer quarantines
/// such lines with this reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The line is not UTF-8.
    #[error("invalid UTF-8 at byte {valid_up_to} of the line")]
    InvalidUtf8 {
        /// Length of the valid prefix.
        valid_up_to: usize,
    },
    /// The line holds NUL bytes, typically from a crashed writer's preallocated tail.
    #[error("NUL byte at byte {at} of the line")]
    Nul {
        /// Offset of the first NUL in the line.
        at: usize,
    },
    /// The line is JSON nested deeper than the parser allows.
    #[error("JSON nested deeper than 128 levels")]
    TooDeep,
    /// The line is not valid JSON.
    #[error("invalid JSON: {message}")]
    InvalidJson {
        /// serde_json's message with the column.
        message: String,
    },
    /// The line is JSON but not an object.
    #[error("JSON value is not an object")]
    NotObject,
    /// A line (not the first of its file) starts with a UTF-8 byte order mark.
    #[error(
        "UTF-8 byte order mark at the start of the line (only a file's first line may have one)"
    )]
    ByteOrderMark,
    /// `NaN`, `Infinity` or `-Infinity`: Python's `json.dumps` writes them by
    /// default, but they are not JSON (RFC 8259 §6).
    #[error("{token} is not valid JSON (RFC 8259 §6) at {at}")]
    NotANumber {
        /// The token found.
        token: &'static str,
        /// Where it starts.
        at: Position,
    },
    /// A `\uXXXX` escape of half a surrogate pair (see `strict.rs`).
    #[error("lone surrogate \\u{unit:04x} at {at}: readers decode it differently (SQLite gives bytes that are not UTF-8)")]
    LoneSurrogate {
        /// The escaped code unit.
        unit: u16,
        /// Where the escape starts.
        at: Position,
    },
    /// An object repeats a key (see `strict.rs`).
    #[error("duplicate key {key} at {at}: readers disagree on which value wins (SQLite takes the first, jq and Python the last)")]
    DuplicateKey {
        /// The key, quoted.
        key: String,
        /// Where the parser noticed it (just after the repeated key).
        at: Position,
    },
}

/// Where in a line or document a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// 1-based line within the text (always 1 for a stream's line).
    pub line: usize,
    /// 0-based byte within that line.
    pub byte: usize,
}

impl Position {
    fn of_byte(text: &[u8], at: usize) -> Position {
        let before = &text[..at.min(text.len())];
        let line = 1 + memchr::memchr_iter(b'\n', before).count();
        let start = memchr::memrchr(b'\n', before).map_or(0, |nl| nl + 1);
        Position {
            line,
            byte: at - start,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 1 {
            write!(f, "byte {}", self.byte)
        } else {
            write!(f, "line {} byte {}", self.line, self.byte)
        }
    }
}

/// The UTF-8 encoding of U+FEFF, which Notepad and PowerShell 5 put at the
/// start of a file. RFC 8259 §8.1 lets a parser ignore it there.
pub const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

/// `bytes` without a leading byte order mark.
pub fn strip_byte_order_mark(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(BYTE_ORDER_MARK).unwrap_or(bytes)
}

/// Decodes one complete line (without its newline) into its envelope.
pub fn decode_line(line: &[u8]) -> Result<Envelope<'_>, DecodeError> {
    let text = precheck(line)?;
    serde_json::from_str::<Envelope<'_>>(text).map_err(|e| json_error(e, text))
}

/// Accepts exactly the lines [`decode_line`] accepts, building nothing;
/// returns which stamped envelope keys the object has. The writer's check.
pub fn validate_line(line: &[u8]) -> Result<StampedKeys, DecodeError> {
    let text = std::str::from_utf8(line).map_err(|e| DecodeError::InvalidUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    validate_str(text)
}

/// [`validate_line`] for text already known to be UTF-8.
pub fn validate_str(text: &str) -> Result<StampedKeys, DecodeError> {
    let text = precheck_str(text)?;
    check_envelope(text).map_err(|e| json_error(e, text))
}

/// The checks before the parse: NUL, UTF-8, depth, and that the value is
/// an object at all.
fn precheck(line: &[u8]) -> Result<&str, DecodeError> {
    if let Some(at) = memchr::memchr(0, line) {
        return Err(DecodeError::Nul { at });
    }
    let text = std::str::from_utf8(line).map_err(|e| DecodeError::InvalidUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    precheck_str(text)
}

fn precheck_str(text: &str) -> Result<&str, DecodeError> {
    if let Some(at) = memchr::memchr(0, text.as_bytes()) {
        return Err(DecodeError::Nul { at });
    }
    if text.as_bytes().starts_with(BYTE_ORDER_MARK) {
        return Err(DecodeError::ByteOrderMark);
    }
    check_depth(text.as_bytes())?;
    check_surrogates(text.as_bytes())?;
    let first = text
        .trim_start_matches(|c: char| c.is_ascii_whitespace())
        .as_bytes()
        .first();
    if !matches!(first, Some(b'{')) {
        // Distinguish "valid JSON but not an object" from garbage.
        return match serde_json::from_str::<IgnoredAny>(text) {
            Ok(_) => Err(DecodeError::NotObject),
            Err(e) => Err(json_error(e, text)),
        };
    }
    Ok(text)
}

/// Checks that a document is one valid JSON value (any type) that every
/// consumer can read the same way: UTF-8, no deeper than [`MAX_DEPTH`], no
/// repeated key, no lone surrogate, nothing after it. A leading byte order
/// mark is the caller's to strip ([`strip_byte_order_mark`]).
pub fn validate_document(bytes: &[u8]) -> Result<(), DecodeError> {
    let text = std::str::from_utf8(bytes).map_err(|e| DecodeError::InvalidUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    check_depth(bytes)?;
    check_surrogates(bytes)?;
    serde_json::from_str::<UniqueAny>(text)
        .map(drop)
        .map_err(|e| json_error(e, text))
}

fn check_surrogates(text: &[u8]) -> Result<(), DecodeError> {
    match find_lone_surrogate(text) {
        Some(s) => Err(DecodeError::LoneSurrogate {
            unit: s.unit,
            at: Position::of_byte(text, s.at),
        }),
        None => Ok(()),
    }
}

/// Deepest nesting accepted, the same as serde_json's recursion limit.
/// Checked for the whole line, because serde_json skips ignored fields
/// without a limit while SQLite's JSON functions fail a whole query on a row
/// they cannot parse: a line must be readable by every consumer or by none.
pub const MAX_DEPTH: usize = 128;

fn check_depth(line: &[u8]) -> Result<(), DecodeError> {
    // Nesting can never exceed the number of opening brackets, and counting
    // those is a vectorized scan: most lines skip the exact walk below.
    if memchr::memchr2_iter(b'[', b'{', line).count() <= MAX_DEPTH {
        return Ok(());
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in line {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(DecodeError::TooDeep);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Turns serde_json's error into the cause a reader of `ingest_errors`
/// needs: the common mistakes by name, the rest with serde's own words.
fn json_error(e: serde_json::Error, text: &str) -> DecodeError {
    let message = e.to_string();
    if message.starts_with("recursion limit exceeded") {
        return DecodeError::TooDeep;
    }
    // serde_json's column is 1-based and counts bytes.
    let at = Position {
        line: e.line(),
        byte: e.column().saturating_sub(1),
    };
    if let Some(rest) = message.strip_prefix(DUPLICATE_KEY) {
        let key = rest.rsplit_once(" at line ").map_or(rest, |(k, _)| k);
        return DecodeError::DuplicateKey {
            key: key.to_owned(),
            at,
        };
    }
    if e.is_syntax() {
        let line = text.lines().nth(e.line().saturating_sub(1)).unwrap_or("");
        let here = line.get(at.byte..).unwrap_or("");
        // After a minus sign serde points at what follows it.
        let signed = at.byte > 0 && line.as_bytes().get(at.byte - 1) == Some(&b'-');
        for token in ["NaN", "Infinity"] {
            if here.starts_with(token) {
                return match signed {
                    true if token == "Infinity" => DecodeError::NotANumber {
                        token: "-Infinity",
                        at: Position {
                            byte: at.byte - 1,
                            ..at
                        },
                    },
                    _ => DecodeError::NotANumber { token, at },
                };
            }
        }
    }
    DecodeError::InvalidJson { message }
}

/// Splits `buf` into complete lines. Returns each line's range (newline
/// excluded) and how many bytes the complete lines span; bytes after the
/// last `\n` are a partial line that must wait.
///
/// A line ends at `\n` or `\r\n`, as Windows writers end it (Fluent Bit and
/// Filebeat read it the same way): the `\r` belongs to the ending, not to
/// the record. When `buf` starts its file (`at_file_start`), a leading byte
/// order mark is skipped (RFC 8259 §8.1). Each range covers exactly the
/// record's bytes, so a record's offset is where its JSON starts.
pub fn complete_lines(buf: &[u8], at_file_start: bool) -> (Vec<std::ops::Range<usize>>, usize) {
    let mut lines = Vec::new();
    let mut start = if at_file_start && buf.starts_with(BYTE_ORDER_MARK) {
        BYTE_ORDER_MARK.len()
    } else {
        0
    };
    let mut used = 0;
    for nl in memchr::memchr_iter(b'\n', buf) {
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
