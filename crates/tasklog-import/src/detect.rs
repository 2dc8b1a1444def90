//! Telling the formats apart from content, for `auto` and for naming the
//! real format when the wrong one was asked for.
//!
//! Every rule rests on something only that format writes, so that no two
//! formats can claim one file (a unit test feeds each format's fixture to
//! every rule):
//!
//! | Format | Whole JSON document | JSON Lines (any of the first 50 lines) |
//! | --- | --- | --- |
//! | SWE-agent | object with a `trajectory` array and `info` or `history`, no `trajectory_format` | |
//! | mini-SWE-agent | object with `trajectory_format` `mini-swe-agent*`, or `messages` and `info.mini_version` | |
//! | OpenHands | array whose elements have `action` or `observation` | |
//! | Cline / Roo | array of `{role, content}` messages, no `action`/`observation` | |
//! | OpenCode | object with `info.id` and a `messages` array of `{info, parts}` | |
//! | VS Code Copilot Chat | object with a `requests` array, a `sessionId` string and `responderUsername`, `requesterUsername` or `creationDate` | |
//! | Gemini CLI | object with `sessionId`, `projectHash` and a `messages` array | a line with `projectHash`, a `$set` line, or `type: gemini` |
//! | Codex | | `payload` with a Codex `type` (`session_meta`, `turn_context`, `response_item`, `event_msg`) |
//! | Copilot CLI | | a dotted `type` (`session.start`, `tool.execution_start`, ...) with a `data` object |
//! | iFlow CLI | | `user`/`assistant` with a `message` object and a `sessionId` starting with `session-` (checked before Claude Code) |
//! | pi | | `type: session` with `id` and `cwd` (no `payload`, no `sessionId`), or `type: message` with a `message.role` string |
//! | Claude Code | | `user`/`assistant` with a `message` object; `summary`, `file-history-snapshot`, `queue-operation`, `progress`, `system` with `sessionId`, `uuid`, `leafUuid` or `messageId`; or an Anthropic `message.usage` with `sessionId` or `requestId` (older lines without `type`) |
//!
//! A JSON Lines file is the format of its first line that matches a rule.
//! iFlow CLI copies Claude Code's line shape; its `session-<uuid>` session
//! id decides. One line of OpenHands evaluation output (an object with
//! `instance_id` and a `history` array) is an OpenHands document.

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

/// A format that looks like a supported one but is not imported,
/// recognized by a feature only it has: `(name, the feature)`; such a file
/// fails when named and is skipped in a folder, never imported as the
/// format it resembles. None today: iFlow CLI, once refused here, is a
/// format of its own, and OpenHands evaluation output is read one line
/// per session (assemble.rs). The hook stays for the next look-alike.
pub fn look_alike(_bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    None
}

/// The formats `detect` knows, for messages: `claude-code, codex, ...`.
pub fn tried() -> String {
    Format::ALL
        .iter()
        .map(|f| f.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn detect_document(doc: &Value) -> Option<Format> {
    if let Some(obj) = doc.as_object() {
        let mini = obj
            .get("trajectory_format")
            .and_then(Value::as_str)
            .is_some_and(|f| f.starts_with("mini-swe-agent"))
            || (obj.get("messages").is_some_and(Value::is_array)
                && doc.pointer("/info/mini_version").is_some());
        if mini {
            return Some(Format::MiniSweAgent);
        }
        if obj.get("trajectory").is_some_and(Value::is_array)
            && (obj.contains_key("info") || obj.contains_key("history"))
        {
            return Some(Format::SweAgent);
        }
        // One line of OpenHands evaluation output (assemble.rs).
        if obj.get("history").is_some_and(Value::is_array)
            && obj.get("instance_id").is_some_and(Value::is_string)
            && !obj.contains_key("trajectory")
        {
            return Some(Format::OpenHands);
        }
        if crate::copilot_chat::is_document(doc) {
            return Some(Format::VscodeCopilotChat);
        }
        let messages = obj.get("messages").and_then(Value::as_array);
        if obj.contains_key("sessionId") && obj.contains_key("projectHash") && messages.is_some() {
            return Some(Format::GeminiCli);
        }
        if doc.pointer("/info/id").is_some()
            && messages.is_some_and(|m| {
                m.iter()
                    .all(|e| e.get("info").is_some() && e.get("parts").is_some())
            })
        {
            return Some(Format::OpenCode);
        }
        return None;
    }
    let events = doc.as_array()?;
    if events
        .iter()
        .any(|e| e.get("action").is_some() || e.get("observation").is_some())
    {
        return Some(Format::OpenHands);
    }
    let message = |e: &Value| {
        matches!(
            e.get("role").and_then(Value::as_str),
            Some("user" | "assistant")
        ) && e.get("content").is_some()
    };
    (!events.is_empty() && events.iter().all(message)).then_some(Format::Cline)
}

fn detect_line(v: &Value) -> Option<Format> {
    let obj = v.as_object()?;
    let kind = obj.get("type").and_then(Value::as_str).unwrap_or("");
    if obj.contains_key("payload")
        && matches!(
            kind,
            "session_meta" | "turn_context" | "response_item" | "event_msg"
        )
    {
        return Some(Format::Codex);
    }
    if obj.contains_key("projectHash") || obj.contains_key("$set") || kind == "gemini" {
        return Some(Format::GeminiCli);
    }
    if kind.contains('.') && obj.get("data").is_some_and(Value::is_object) {
        return Some(Format::CopilotCli);
    }
    if crate::iflow::is_line(v) {
        return Some(Format::IflowCli);
    }
    if crate::pi::is_line(v) {
        return Some(Format::Pi);
    }
    let claude = match kind {
        "user" | "assistant" => obj.get("message").is_some_and(Value::is_object),
        "summary" | "file-history-snapshot" | "queue-operation" | "progress" | "system" => {
            obj.contains_key("sessionId")
                || obj.contains_key("uuid")
                || obj.contains_key("leafUuid")
                || obj.contains_key("messageId")
        }
        // Older lines (and ccusage's fixtures) have no `type`: an Anthropic
        // `message.usage` with the line's `sessionId` or `requestId`.
        _ => {
            v.pointer("/message/usage/input_tokens").is_some()
                && (obj.contains_key("sessionId") || obj.contains_key("requestId"))
        }
    };
    claude.then_some(Format::ClaudeCode)
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
            (
                r#"[{"role":"user","content":[{"type":"text","text":"hi"}]}]"#,
                Some(Format::Cline),
            ),
            (
                r#"{"info":{"id":"ses_1"},"messages":[{"info":{},"parts":[]}]}"#,
                Some(Format::OpenCode),
            ),
            (
                r#"{"sessionId":"s","projectHash":"h","messages":[]}"#,
                Some(Format::GeminiCli),
            ),
            (
                r#"{"trajectory_format":"mini-swe-agent-1","messages":[],"info":{}}"#,
                Some(Format::MiniSweAgent),
            ),
            (
                // A Gemini CLI recording starts like a Claude Code line
                // (sessionId) and has `type: user` records: it is not one.
                "{\"sessionId\":\"s\",\"projectHash\":\"h\",\"startTime\":\"t\"}\n{\"id\":\"1\",\"type\":\"user\",\"content\":[]}\n",
                Some(Format::GeminiCli),
            ),
            (
                "{\"id\":\"1\",\"type\":\"user\",\"content\":[]}\n{\"id\":\"2\",\"type\":\"gemini\",\"content\":\"x\"}\n",
                Some(Format::GeminiCli),
            ),
            (
                r#"{"type":"session.start","data":{"sessionId":"s"},"id":"1"}"#,
                Some(Format::CopilotCli),
            ),
            (
                r#"{"sessionId":"s","requestId":"r","message":{"id":"m","usage":{"input_tokens":1}}}"#,
                Some(Format::ClaudeCode),
            ),
            (r#"{"hello":"world"}"#, None),
            (
                r#"{"type":"user","sessionId":"session-5de701fc-7454-4858-a249-95cac4fd3b51","message":{"role":"user","content":"hi"}}"#,
                Some(Format::IflowCli),
            ),
            (
                r#"{"type":"session","version":3,"id":"u","timestamp":"t","cwd":"/p"}"#,
                Some(Format::Pi),
            ),
            (
                r#"{"type":"message","id":"e","message":{"role":"toolResult","toolCallId":"c"}}"#,
                Some(Format::Pi),
            ),
            (r#"{"type":"user","content":"no message object"}"#, None),
            (r#"[]"#, None),
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
