//! Reading a line or a document back: what the indexer accepts, what it
//! quarantines and why, named so that a reader of `ingest_errors` knows the
//! cause (a repeated key, a lone surrogate, `NaN`, a byte order mark, ...).
//! The writer calls the same checks ([`validate_str`]), so it refuses
//! exactly what the indexer would quarantine.

use std::fmt;

use serde::de::IgnoredAny;

use crate::envelope::{check_envelope, Envelope, StampedKeys};
use crate::strict::{find_lone_surrogate, UniqueAny, DUPLICATE_KEY};

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
