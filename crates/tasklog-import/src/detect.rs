//! Telling the formats apart from content, for `auto` and for naming the
//! real format when the wrong one was asked for.
//!
//! A whole-file JSON document is SWE-agent when it has a `trajectory`
//! array, OpenHands when it is an array of events with `action` or
//! `observation`. JSON Lines are Codex when a line has `payload` and a
//! Codex `type`, Claude Code when a line has `sessionId`, a Claude type,
//! or an assistant `message` with `usage`. Only the first 50 lines are read.

use serde_json::Value;

use crate::model::Format;

/// The format of `bytes`, if it looks like one of ours.
pub fn detect(bytes: &[u8]) -> Option<Format> {
    let head = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    if matches!(bytes[head], b'[' | b'{') {
        if let Ok(doc) = serde_json::from_slice::<Value>(bytes) {
            if let Some(found) = detect_document(&doc) {
                return Some(found);
            }
        }
    }
    for line in bytes.split(|&b| b == b'\n').take(50) {
        let Ok(v) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        if let Some(found) = detect_line(&v) {
            return Some(found);
        }
    }
    None
}

fn detect_document(doc: &Value) -> Option<Format> {
    if doc.get("trajectory").is_some_and(Value::is_array) {
        return Some(Format::SweAgent);
    }
    let events = doc.as_array()?;
    events
        .iter()
        .any(|e| e.get("action").is_some() || e.get("observation").is_some())
        .then_some(Format::OpenHands)
}

fn detect_line(v: &Value) -> Option<Format> {
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
    if v.get("payload").is_some()
        && matches!(
            kind,
            "session_meta" | "turn_context" | "response_item" | "event_msg"
        )
    {
        return Some(Format::Codex);
    }
    let claude_type = matches!(
        kind,
        "user" | "assistant" | "summary" | "file-history-snapshot" | "queue-operation"
    );
    let assistant_usage = v.pointer("/message/usage").is_some() && v.get("requestId").is_some();
    (v.get("sessionId").is_some() || claude_type || assistant_usage).then_some(Format::ClaudeCode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_format() {
        for (src, want) in [
            (
                r#"{"type":"session_meta","payload":{"id":"x"}}"#,
                Some(Format::Codex),
            ),
            (
                r#"{"type":"user","sessionId":"s","message":{}}"#,
                Some(Format::ClaudeCode),
            ),
            (r#"{"trajectory":[],"info":{}}"#, Some(Format::SweAgent)),
            (
                r#"[{"id":0,"source":"user","action":"message"}]"#,
                Some(Format::OpenHands),
            ),
            (r#"{"hello":"world"}"#, None),
            ("", None),
            (
                "garbage\n{\"type\":\"event_msg\",\"payload\":{}}",
                Some(Format::Codex),
            ),
        ] {
            assert_eq!(detect(src.as_bytes()), want, "{src}");
        }
    }
}
