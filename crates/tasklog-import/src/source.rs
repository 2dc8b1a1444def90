//! Reading sources: splitting JSON Lines into complete lines, normalizing
//! the sources' timestamps, and deriving stable ids from the sources' own.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::model::{Parsed, SourceLine};

/// How a last line without its newline that does not parse is reported
/// (the follower drops it: the rest of the line is still being written).
pub(crate) const INCOMPLETE_TAIL: &str = "incomplete last line";

/// A JSON Lines source split into lines.
#[derive(Debug, Default)]
pub(crate) struct Split {
    /// The non-blank lines of the consumed part.
    pub lines: Vec<SourceLine>,
    /// Bytes of the source covered by `lines` (and blank lines between them).
    pub consumed: usize,
    /// Lines (blank ones included) in the consumed part.
    pub units: usize,
    /// An incomplete last line that does not parse: (line, message).
    pub tail_error: Option<(usize, String)>,
    /// The parsed object of each line of `lines` that is one, by line
    /// number (parsed once here; the format parsers read these).
    pub values: Vec<(usize, Value)>,
}

/// Splits a JSON Lines source into complete lines.
///
/// A last line without `\n` that parses is taken (many tools omit the
/// final newline). One that does not parse may still be being written:
/// it is reported but not consumed, so a later import picks it up whole.
pub(crate) fn split_lines(bytes: &[u8]) -> Split {
    let mut lines = Vec::new();
    let mut values = Vec::new();
    let mut start = 0usize;
    let mut number = 0usize;
    let mut consumed = 0usize;
    while start < bytes.len() {
        number += 1;
        let (end, complete) = match bytes[start..].iter().position(|&b| b == b'\n') {
            Some(p) => (start + p, true),
            None => (bytes.len(), false),
        };
        let raw = &bytes[start..end];
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = String::from_utf8_lossy(raw).into_owned();
        let (value, error) = match check_line(raw) {
            Ok(v) => (Some(v), None),
            Err(e) => (None, Some(e)),
        };
        if !complete && error.is_some() {
            let why = error.unwrap_or_default();
            return Split {
                lines,
                consumed,
                units: number - 1,
                tail_error: Some((number, format!("{INCOMPLETE_TAIL}: {why}"))),
                values,
            };
        }
        consumed = if complete { end + 1 } else { end };
        start = consumed;
        if text.trim().is_empty() {
            continue; // blank lines carry nothing; they still count for line numbers
        }
        let has_ts = value.as_ref().is_some_and(|v| v.get("ts").is_some());
        let ts = value
            .as_ref()
            .and_then(|v| v.get("timestamp"))
            .and_then(Value::as_str)
            .and_then(norm_ts);
        if let Some(v) = value {
            values.push((number, v));
        }
        lines.push(SourceLine {
            number,
            text,
            error,
            ts,
            has_ts,
        });
    }
    Split {
        lines,
        consumed,
        units: number,
        tail_error: None,
        values,
    }
}

/// The object `raw` holds, or why it is not one JSON object.
fn check_line(raw: &[u8]) -> Result<Value, String> {
    let text = match std::str::from_utf8(raw) {
        Ok(t) => t,
        Err(e) => return Err(format!("invalid UTF-8 at byte {}", e.valid_up_to())),
    };
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err("JSON value is not an object".into()),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

/// Splits a JSON Lines source and parses its lines: the start of every
/// line-based parser. Lines that do not parse are listed as parse errors
/// (and kept, verbatim, in the split); the others come back as values.
pub(crate) fn parse_jsonl(bytes: &[u8]) -> (Parsed, Vec<(usize, Value)>) {
    let split = split_lines(bytes);
    let mut parsed = Parsed {
        consumed: split.consumed,
        units: split.units,
        ..Parsed::default()
    };
    for line in &split.lines {
        if let Some(e) = &line.error {
            parsed.parse_errors.push((line.number, e.clone()));
        }
    }
    parsed.parse_errors.extend(split.tail_error);
    parsed.lines = split.lines;
    (parsed, split.values)
}

/// A source timestamp as tasklog's `ts` (`YYYY-MM-DDTHH:MM:SS.ffffffZ`).
/// Accepts `Z`, `+00:00` and no zone (OpenHands writes naive UTC times);
/// other offsets are not converted and yield `None` (the record then keeps
/// the import time, and the source time stays in the verbatim stream).
pub(crate) fn norm_ts(value: &str) -> Option<String> {
    to_system_time(value).map(tasklog_format::rfc3339_at)
}

fn to_system_time(value: &str) -> Option<SystemTime> {
    let v = value.trim();
    let v = v
        .strip_suffix("+00:00")
        .map_or_else(|| v.to_owned(), |s| format!("{s}Z"));
    if v.ends_with('Z') {
        humantime::parse_rfc3339(&v).ok()
    } else {
        humantime::parse_rfc3339_weak(&v).ok()
    }
}

/// A time given as milliseconds since the epoch (OpenCode) as tasklog's `ts`.
pub(crate) fn ts_from_ms(ms: &Value) -> Option<String> {
    let ms = ms.as_u64()?;
    let t = UNIX_EPOCH.checked_add(std::time::Duration::from_millis(ms))?;
    Some(tasklog_format::rfc3339_at(t))
}

/// The text of content blocks (`[{text}]`, `[{type:text,text}]` or a
/// string), joined by newlines; `None` when there is none.
pub(crate) fn text_of(content: &Value) -> Option<String> {
    let text = match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => return None,
    };
    (!text.trim().is_empty()).then_some(text)
}

/// Milliseconds since the epoch of a source timestamp.
pub(crate) fn epoch_ms(value: &str) -> Option<f64> {
    let t = to_system_time(value)?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_secs_f64() * 1e3)
}

/// Milliseconds between two source timestamps, rounded to microseconds.
pub(crate) fn between_ms(start: &str, end: &str) -> Option<f64> {
    let d = epoch_ms(end)? - epoch_ms(start)?;
    (d >= 0.0).then(|| (d * 1e3).round() / 1e3)
}

/// A W3C span id (16 hex) derived from a source id, so a tool call's start
/// and end rows share it across files and re-imports.
pub(crate) fn span_id(key: &str) -> String {
    let h = xxhash_rust::xxh3::xxh3_64(key.as_bytes()).max(1);
    format!("{h:016x}")
}

/// A W3C trace id (32 hex) derived from the task id: one trace per session.
pub(crate) fn trace_id(key: &str) -> String {
    let h = xxhash_rust::xxh3::xxh3_128(key.as_bytes()).max(1);
    format!("{h:032x}")
}

/// `prefix-<id>` made into a valid task id: characters outside
/// `[A-Za-z0-9._-]` become `-`, and the length stays well under the limit.
pub(crate) fn task_id(prefix: &str, id: &str) -> String {
    let mut clean: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    clean.truncate(200);
    if clean.is_empty() {
        clean.push_str("unnamed");
    }
    format!("{prefix}-{clean}")
}

/// The file name without its extensions (`a.traj.json` → `a`).
pub(crate) fn file_stem(path: &std::path::Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut stem = name.as_str();
    for ext in [".json", ".jsonl", ".traj"] {
        stem = stem.strip_suffix(ext).unwrap_or(stem);
    }
    stem.strip_suffix(".traj").unwrap_or(stem).to_owned()
}

/// A string field of a JSON object.
pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_str()
}

/// The largest count taken from a source: 2^53 - 1, what the index keeps
/// (FORMAT.md 4.4). A larger one (`1e30`) is garbage, not a count: taken
/// as absent rather than saturated, so sums cannot overflow.
const MAX_COUNT: u64 = (1 << 53) - 1;

/// A non-negative integer field of a JSON object (accepts integral floats),
/// at most [`MAX_COUNT`].
pub(crate) fn u64_at(v: &Value, path: &[&str]) -> Option<u64> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_u64()
        .or_else(|| {
            cur.as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f <= MAX_COUNT as f64)
                .map(|f| f as u64)
        })
        .filter(|n| *n <= MAX_COUNT)
}

/// Parses a whole-document source (SWE-agent, OpenHands); the error names
/// the line serde_json stopped at.
pub(crate) fn parse_document(path: &std::path::Path, bytes: &[u8]) -> crate::error::Result<Value> {
    serde_json::from_slice(bytes).map_err(|e| crate::error::Error::Parse {
        path: path.to_owned(),
        line: e.line(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_become_ts() {
        for (input, want) in [
            (
                "2026-01-21T06:20:33.873Z",
                Some("2026-01-21T06:20:33.873000Z"),
            ),
            (
                "2025-01-27T22:45:13.764487",
                Some("2025-01-27T22:45:13.764487Z"),
            ),
            (
                "2025-01-27T22:45:13+00:00",
                Some("2025-01-27T22:45:13.000000Z"),
            ),
            ("2025-01-27T22:45:13+02:00", None),
            ("yesterday", None),
        ] {
            assert_eq!(norm_ts(input).as_deref(), want, "{input}");
        }
        assert_eq!(
            between_ms("2026-01-21T06:20:33.873Z", "2026-01-21T06:20:34.156Z"),
            Some(283.0)
        );
    }

    #[test]
    fn lines_split_with_errors_and_a_partial_tail() {
        let s = split_lines(b"{\"a\":1}\n\nnot json\n{\"b\":");
        assert_eq!(s.lines.len(), 2);
        assert_eq!(s.lines[1].number, 3);
        assert!(s.lines[1]
            .error
            .as_deref()
            .unwrap_or("")
            .starts_with("invalid JSON"));
        assert_eq!((s.consumed, s.units), (18, 3));
        assert_eq!(s.tail_error.map(|t| t.0), Some(4));
        let s = split_lines(b"{\"a\":1}");
        assert_eq!(
            (s.lines.len(), s.consumed, s.units, s.tail_error),
            (1, 7, 1, None)
        );
    }

    #[test]
    fn task_ids_are_sanitized() {
        assert_eq!(task_id("claude", "ab/c d"), "claude-ab-c-d");
        assert!(tasklog_format::TaskId::new(&task_id("x", &"é".repeat(300))).is_ok());
        assert_eq!(file_stem(std::path::Path::new("/a/b.traj.json")), "b");
    }
}
