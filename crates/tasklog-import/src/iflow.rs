//! iFlow CLI transcripts (`~/.iflow/projects/<encoded cwd>/session-<uuid>.jsonl`).
//!
//! iFlow CLI is a Gemini CLI fork that writes Claude Code's line shape:
//! `{type: user|assistant, uuid, parentUuid, sessionId, timestamp, message}`
//! with Anthropic content blocks (`text`, `tool_use`, `tool_result`). What
//! only it writes, and what detection rests on: `sessionId` is
//! `session-<uuid>` (the file's stem), where Claude Code writes a bare UUID.
//! Read as Claude Code it gave the wrong provider, no tokens and every
//! tool call twice; these are its own rules:
//!
//! - **Billing**: one `llm.call` per assistant message with a non-zero
//!   `message.usage` (`input_tokens`, `output_tokens`; Anthropic cache
//!   fields added to the input when present), keyed by `message.id`, else
//!   by the line's tool-call ids (a re-written snapshot repeats them), else
//!   by the line's `uuid`; the largest counts over the key's lines. The
//!   provider is `iflow` (the iFlow platform serves GLM, Qwen, Kimi and
//!   DeepSeek models alike).
//! - **Tool calls**: one `tool.start` per `tool_use` id however many
//!   snapshot lines repeat it; its end comes from the `tool_result` block
//!   (same `tool_use_id`) of a later user line.
//! - **Failures**: `tool_result.is_error`, a `toolUseResult.status` other
//!   than `success`, or an `error` in the result's Gemini-style
//!   `functionResponse.response`.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::model::{Body, LlmUse, Norm, Parsed, Usage};
use crate::source::{between_ms, file_stem, norm_ts, parse_jsonl, str_at, u64_at};

/// Whether `v` is an iFlow CLI line: Claude Code's `user`/`assistant`
/// shape with a `session-` prefixed `sessionId`.
pub(crate) fn is_line(v: &Value) -> bool {
    matches!(
        v.get("type").and_then(Value::as_str),
        Some("user" | "assistant")
    ) && v.get("message").is_some_and(Value::is_object)
        && v.get("sessionId")
            .and_then(Value::as_str)
            .is_some_and(|s| s.starts_with("session-"))
}

/// Parses one session file.
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Parsed {
    let (mut parsed, values) = parse_jsonl(bytes);
    let mut emitted: HashSet<String> = HashSet::new();
    // Call key -> index of its event in `parsed.events`.
    let mut calls: HashMap<String, usize> = HashMap::new();
    let mut last_call: Option<usize> = None;
    // Tool id -> (name, start time).
    let mut tools: HashMap<String, (String, Option<String>)> = HashMap::new();
    let mut last_text: Option<String> = None;
    for (line, v) in values {
        let kind = str_at(&v, &["type"]).unwrap_or("");
        if !matches!(kind, "user" | "assistant") || !v.get("message").is_some_and(Value::is_object)
        {
            let label = if kind.is_empty() { "(no type)" } else { kind };
            *parsed.unknown_types.entry(label.to_owned()).or_default() += 1;
            continue;
        }
        parsed.recognized += 1;
        if parsed.session_id.is_none() {
            parsed.session_id = str_at(&v, &["sessionId"]).map(str::to_owned);
        }
        if parsed.format_version.is_none() {
            parsed.format_version = str_at(&v, &["version"]).map(str::to_owned);
        }
        for (from, to) in [("cwd", "cwd"), ("gitBranch", "git_branch")] {
            if let Some(s) = str_at(&v, &[from]).filter(|s| !s.is_empty()) {
                parsed.task_fields.entry(to).or_insert_with(|| s.into());
            }
        }
        let ts_raw = str_at(&v, &["timestamp"]).map(str::to_owned);
        let ts = ts_raw.as_deref().and_then(norm_ts);
        let uuid = str_at(&v, &["uuid"]).unwrap_or_default().to_owned();
        let message = &v["message"];
        let blocks: Vec<Value> = match message.get("content") {
            Some(Value::String(s)) => vec![json!({"type": "text", "text": s})],
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        };
        let mut push = |key: String, body: Body, parsed: &mut Parsed| {
            if emitted.insert(key.clone()) {
                let mut norm = Norm::new(line, ts.clone(), body);
                norm.key = Some(key);
                parsed.events.push(norm);
            }
        };
        let role = if kind == "user" { "user" } else { "assistant" };
        let mut tool_ids = Vec::new();
        for (i, block) in blocks.iter().enumerate() {
            match str_at(block, &["type"]).unwrap_or("") {
                "text" => {
                    let text = str_at(block, &["text"]).unwrap_or_default();
                    if text.trim().is_empty() {
                        continue;
                    }
                    if role == "assistant" {
                        last_text = Some(text.to_owned());
                    }
                    let content = Value::String(text.to_owned());
                    let key = match str_at(message, &["id"]) {
                        Some(id) => format!("iflow:{id}:text:{i}"),
                        None => format!("iflow:{uuid}:text:{i}"),
                    };
                    let body = Body::Message {
                        role: role.into(),
                        content,
                        extra: Map::new(),
                    };
                    push(key, body, &mut parsed);
                }
                "tool_use" if role == "assistant" => {
                    let id = str_at(block, &["id"]).unwrap_or_default().to_owned();
                    let name = str_at(block, &["name"]).unwrap_or("unknown").to_owned();
                    tool_ids.push(id.clone());
                    tools
                        .entry(id.clone())
                        .or_insert_with(|| (name.clone(), ts_raw.clone()));
                    let body = Body::ToolStart {
                        call_id: id.clone(),
                        name,
                        input: block.get("input").cloned().unwrap_or(Value::Null),
                    };
                    push(format!("iflow:tool:{id}:start"), body, &mut parsed);
                }
                "tool_result" => {
                    let id = str_at(block, &["tool_use_id"])
                        .unwrap_or_default()
                        .to_owned();
                    let (name, started) = tools.get(&id).cloned().unwrap_or_else(|| {
                        let name = str_at(&v, &["toolUseResult", "toolName"]).unwrap_or("unknown");
                        (name.to_owned(), None)
                    });
                    let ok = !failed(block, &v);
                    let body = Body::ToolEnd {
                        call_id: id.clone(),
                        name,
                        ok,
                        output: block.get("content").cloned().unwrap_or(Value::Null),
                        duration_ms: match (started.as_deref(), ts_raw.as_deref()) {
                            (Some(a), Some(b)) => between_ms(a, b),
                            _ => None,
                        },
                        extra: Map::new(),
                    };
                    push(format!("iflow:tool:{id}:end"), body, &mut parsed);
                }
                _ => {}
            }
        }
        if role != "assistant" {
            continue;
        }
        let Some((key, call)) = llm_call(&v, &uuid, &tool_ids) else {
            continue;
        };
        match calls.get(&key) {
            Some(&slot) => {
                if let Some(Body::LlmCall(acc)) = parsed.events.get_mut(slot).map(|n| &mut n.body) {
                    acc.usage = acc.usage.max(&call.usage);
                }
                last_call = Some(slot);
            }
            None => {
                let mut norm = Norm::new(line, ts.clone(), Body::LlmCall(call));
                norm.key = Some(key.clone());
                calls.insert(key, parsed.events.len());
                last_call = Some(parsed.events.len());
                parsed.events.push(norm);
            }
        }
    }
    // The file's last call may still gain a snapshot: kept open (import.rs).
    if let Some(norm) = last_call.and_then(|slot| parsed.events.get_mut(slot)) {
        norm.open = true;
    }
    parsed.finish_session(file_stem(path), last_text);
    parsed
}

/// Whether a `tool_result` block (of line `v`) reports a failure.
fn failed(block: &Value, v: &Value) -> bool {
    if block.get("is_error").and_then(Value::as_bool) == Some(true) {
        return true;
    }
    if str_at(v, &["toolUseResult", "status"]).is_some_and(|s| s != "success") {
        return true;
    }
    let content = block.get("content").unwrap_or(&Value::Null);
    [
        "/responseParts/functionResponse/response/error",
        "/functionResponse/response/error",
    ]
    .iter()
    .any(|p| content.pointer(p).is_some_and(|e| !e.is_null()))
}

/// The model call an assistant line reports, with its key.
fn llm_call(v: &Value, uuid: &str, tool_ids: &[String]) -> Option<(String, LlmUse)> {
    let usage = v.pointer("/message/usage")?;
    let n = |k: &str| u64_at(usage, &[k]).unwrap_or(0);
    let (read, write) = (
        n("cache_read_input_tokens"),
        n("cache_creation_input_tokens"),
    );
    let total = Usage {
        input: n("input_tokens") + read + write,
        output: n("output_tokens"),
        cache_read: read,
        cache_creation: write,
        ..Usage::default()
    };
    if total.input == 0 && total.output == 0 {
        return None; // a tool-only snapshot: no billed call
    }
    let key = match str_at(v, &["message", "id"]) {
        Some(id) => format!("llm:iflow:{id}"),
        None if !tool_ids.is_empty() => format!("llm:iflow:tools:{}", tool_ids.join(",")),
        None => format!("llm:iflow:uuid:{uuid}"),
    };
    let mut extra = Map::new();
    if let Some(id) = str_at(v, &["message", "id"]) {
        extra.insert("message_id".into(), id.into());
    }
    Some((
        key,
        LlmUse {
            model: str_at(v, &["message", "model"]).map(str::to_owned),
            provider: Some("iflow"),
            usage: total,
            cache_known: usage.get("cache_read_input_tokens").is_some()
                || usage.get("cache_creation_input_tokens").is_some(),
            cost_usd: None,
            raw_usage: usage.clone(),
            extra,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_count_once_and_failures_are_read() {
        let src = concat!(
            r#"{"type":"user","uuid":"u1","sessionId":"session-1","timestamp":"2026-03-07T09:00:00Z","cwd":"/p","version":"0.3.0","message":{"role":"user","content":"go"}}"#,
            "\n",
            r#"{"type":"assistant","uuid":"a1","sessionId":"session-1","timestamp":"2026-03-07T09:00:01Z","message":{"role":"assistant","model":"glm-4.6","content":[{"type":"tool_use","id":"t1","name":"run_shell_command","input":{"command":"false"}}],"usage":{"input_tokens":100,"output_tokens":10}}}"#,
            "\n",
            r#"{"type":"assistant","uuid":"a2","sessionId":"session-1","timestamp":"2026-03-07T09:00:01Z","message":{"role":"assistant","model":"glm-4.6","content":[{"type":"tool_use","id":"t1","name":"run_shell_command","input":{"command":"false"}}],"usage":{"input_tokens":100,"output_tokens":12}}}"#,
            "\n",
            r#"{"type":"user","uuid":"u2","sessionId":"session-1","timestamp":"2026-03-07T09:00:03Z","toolUseResult":{"toolName":"run_shell_command","status":"error"},"message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":{"callId":"t1","responseParts":{"functionResponse":{"id":"t1","name":"run_shell_command","response":{"error":"exit 1"}}}}}]}}"#,
            "\n",
        );
        let p = parse(Path::new("session-1.jsonl"), src.as_bytes());
        let calls: Vec<&LlmUse> = p
            .events
            .iter()
            .filter_map(|n| match &n.body {
                Body::LlmCall(c) => Some(c),
                _ => None,
            })
            .collect();
        assert_eq!(calls.len(), 1);
        assert_eq!((calls[0].usage.input, calls[0].usage.output), (100, 12));
        assert_eq!(calls[0].provider, Some("iflow"));
        let starts = p
            .events
            .iter()
            .filter(|n| matches!(n.body, Body::ToolStart { .. }))
            .count();
        assert_eq!(starts, 1);
        assert!(p
            .events
            .iter()
            .any(|n| matches!(n.body, Body::ToolEnd { ok: false, .. })));
        assert_eq!(p.session_id.as_deref(), Some("session-1"));
        assert_eq!(p.format_version.as_deref(), Some("0.3.0"));
    }
}
