//! pi (the pi-mono coding agent) sessions
//! (`~/.pi/agent/sessions/--<cwd>--/<timestamp>_<uuid>.jsonl`).
//!
//! A header line `{type: "session", version, id, timestamp, cwd}`, then
//! entries `{type, id, parentId, timestamp, ...}` that form a tree (a
//! branch is a new child of an earlier entry, in the same file). Messages
//! are `{type: "message", message: {role, content, ...}}` with roles
//! `user`, `assistant`, `toolResult` and `bashExecution`; other entries
//! (`model_change`, `thinking_level_change`, `compaction`,
//! `branch_summary`, `label`, `session_info`, `custom`, ...) are kept
//! verbatim only.
//!
//! - **Billing**: one `llm.call` per assistant message (keyed by its entry
//!   `id`; every branch's responses were billed) with a non-zero `usage`
//!   `{input, output, cacheRead, cacheWrite, totalTokens, cost}`. pi's
//!   `input` excludes the cache, so `gen_ai.usage.input_tokens = input +
//!   cacheRead + cacheWrite`; `cost.total` (pi's own estimate from its
//!   model catalog) is the call's cost when it is above 0.
//! - **Tool calls**: one `tool.start` per `toolCall` content block (`id`,
//!   `name`, `arguments`), ended by the `toolResult` message with the same
//!   `toolCallId`.
//! - **Failures**: `toolResult.isError` is true. A `bashExecution` (a
//!   command the user ran with `!`) is the user's, not a tool call: it is
//!   a user message carrying its `exitCode`.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::model::{Body, LlmUse, Norm, Parsed, Usage};
use crate::source::{between_ms, file_stem, norm_ts, parse_jsonl, str_at, u64_at};

/// Entry types kept verbatim only.
const QUIET: [&str; 10] = [
    "model_change",
    "thinking_level_change",
    "compaction",
    "branch_summary",
    "label",
    "session_info",
    "custom",
    "custom_message",
    "context_transform",
    "ephemeral",
];

/// Whether `v` is a pi line: the session header, or a `message` entry.
pub(crate) fn is_line(v: &Value) -> bool {
    let Some(obj) = v.as_object() else {
        return false;
    };
    match obj.get("type").and_then(Value::as_str) {
        Some("session") => {
            obj.contains_key("id")
                && obj.contains_key("cwd")
                && !obj.contains_key("payload")
                && !obj.contains_key("sessionId")
        }
        Some("message") => v.pointer("/message/role").is_some_and(Value::is_string),
        _ => false,
    }
}

/// Parses one session file.
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Parsed {
    let (mut parsed, values) = parse_jsonl(bytes);
    let mut tools: HashMap<String, (String, Option<String>)> = HashMap::new();
    let mut last_text = None;
    for (line, v) in values {
        let kind = str_at(&v, &["type"]).unwrap_or("");
        let ts_raw = str_at(&v, &["timestamp"]).map(str::to_owned);
        let ts = ts_raw.as_deref().and_then(norm_ts);
        let id = str_at(&v, &["id"]).unwrap_or_default().to_owned();
        let mut out: Vec<(Option<String>, Body)> = Vec::new();
        match kind {
            "session" => {
                parsed.session_id = str_at(&v, &["id"]).map(str::to_owned);
                parsed.format_version = v.get("version").map(|n| match n {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
                if let Some(cwd) = str_at(&v, &["cwd"]) {
                    parsed.task_fields.insert("cwd".into(), cwd.into());
                }
            }
            "message" => {
                let m = &v["message"];
                match str_at(m, &["role"]).unwrap_or("") {
                    "user" => out.push((
                        None,
                        Body::Message {
                            role: "user".into(),
                            content: m.get("content").cloned().unwrap_or(Value::Null),
                            extra: Map::new(),
                        },
                    )),
                    "assistant" => assistant(m, &id, &ts_raw, &mut tools, &mut last_text, &mut out),
                    "toolResult" => {
                        let call_id = str_at(m, &["toolCallId"]).unwrap_or_default().to_owned();
                        let (name, started) = tools.get(&call_id).cloned().unwrap_or_else(|| {
                            let name = str_at(m, &["toolName"]).unwrap_or("unknown");
                            (name.to_owned(), None)
                        });
                        let mut extra = Map::new();
                        if let Some(d) = m.get("details").filter(|d| !d.is_null()) {
                            extra.insert("details".into(), d.clone());
                        }
                        out.push((
                            Some(format!("pi:tool:{call_id}:end")),
                            Body::ToolEnd {
                                call_id,
                                name,
                                ok: m.get("isError").and_then(Value::as_bool) != Some(true),
                                output: m.get("content").cloned().unwrap_or(Value::Null),
                                duration_ms: match (started.as_deref(), ts_raw.as_deref()) {
                                    (Some(a), Some(b)) => between_ms(a, b),
                                    _ => None,
                                },
                                extra,
                            },
                        ));
                    }
                    "bashExecution" => {
                        let mut extra = Map::new();
                        for key in ["exitCode", "cancelled"] {
                            if let Some(x) = m.get(key) {
                                extra.insert(key.into(), x.clone());
                            }
                        }
                        out.push((
                            None,
                            Body::Message {
                                role: "user".into(),
                                content: json!({
                                    "command": m.get("command"),
                                    "output": m.get("output"),
                                }),
                                extra,
                            },
                        ));
                    }
                    other => {
                        let label = format!("message:{other}");
                        *parsed.unknown_types.entry(label).or_default() += 1;
                    }
                }
            }
            k if QUIET.contains(&k) => {}
            other => {
                let label = if other.is_empty() { "(no type)" } else { other };
                *parsed.unknown_types.entry(label.to_owned()).or_default() += 1;
                continue;
            }
        }
        parsed.recognized += 1;
        parsed.events.extend(out.into_iter().map(|(key, body)| {
            let mut norm = Norm::new(line, ts.clone(), body);
            norm.key = key;
            norm
        }));
    }
    parsed.finish_session(file_stem(path), last_text);
    parsed
}

/// The events of an assistant message: its text, thinking, tool calls and
/// model call.
fn assistant(
    m: &Value,
    id: &str,
    ts_raw: &Option<String>,
    tools: &mut HashMap<String, (String, Option<String>)>,
    last_text: &mut Option<String>,
    out: &mut Vec<(Option<String>, Body)>,
) {
    let blocks = m.get("content").and_then(Value::as_array);
    let mut text = Vec::new();
    for block in blocks.into_iter().flatten() {
        match str_at(block, &["type"]).unwrap_or("") {
            "text" => {
                if let Some(t) = str_at(block, &["text"]).filter(|t| !t.trim().is_empty()) {
                    text.push(t.to_owned());
                }
            }
            "thinking" => {
                if let Some(t) = str_at(block, &["thinking"]).filter(|t| !t.trim().is_empty()) {
                    out.push((None, Body::Reasoning { text: t.into() }));
                }
            }
            "toolCall" => {
                let call_id = str_at(block, &["id"]).unwrap_or_default().to_owned();
                let name = str_at(block, &["name"]).unwrap_or("unknown").to_owned();
                tools.insert(call_id.clone(), (name.clone(), ts_raw.clone()));
                out.push((
                    Some(format!("pi:tool:{call_id}:start")),
                    Body::ToolStart {
                        call_id,
                        name,
                        input: block.get("arguments").cloned().unwrap_or(Value::Null),
                    },
                ));
            }
            _ => {}
        }
    }
    if !text.is_empty() {
        let joined = text.join("\n");
        *last_text = Some(joined.clone());
        let mut extra = Map::new();
        if let Some(s) = m.get("stopReason") {
            extra.insert("stop_reason".into(), s.clone());
        }
        out.push((
            None,
            Body::Message {
                role: "assistant".into(),
                content: joined.into(),
                extra,
            },
        ));
    }
    if let Some(e) = str_at(m, &["errorMessage"]) {
        out.push((
            None,
            Body::System {
                severity: "error".into(),
                message: e.to_owned(),
                details: json!({ "stopReason": m.get("stopReason") }),
            },
        ));
    }
    let Some(usage) = m.get("usage").filter(|u| u.is_object()) else {
        return;
    };
    let n = |k: &str| u64_at(usage, &[k]).unwrap_or(0);
    let (read, write) = (n("cacheRead"), n("cacheWrite"));
    let total = Usage {
        input: n("input") + read + write,
        output: n("output"),
        cache_read: read,
        cache_creation: write,
        ..Usage::default()
    };
    if total.input == 0 && total.output == 0 {
        return; // an aborted or failed request that reported nothing
    }
    let provider_name = str_at(m, &["provider"]);
    let mut extra = Map::new();
    if let Some(p) = provider_name.filter(|p| provider(p).is_none()) {
        extra.insert("pi_provider".into(), p.into());
    }
    if let Some(api) = str_at(m, &["api"]) {
        extra.insert("pi_api".into(), api.into());
    }
    out.push((
        Some(format!("llm:pi:{id}")),
        Body::LlmCall(LlmUse {
            model: str_at(m, &["model"]).map(str::to_owned),
            provider: provider_name.and_then(provider),
            usage: total,
            cache_known: true,
            cost_usd: usage
                .pointer("/cost/total")
                .and_then(Value::as_f64)
                .filter(|c| *c > 0.0),
            raw_usage: usage.clone(),
            extra,
        }),
    ));
}

/// pi's provider names as OpenTelemetry's `gen_ai.provider.name` values.
fn provider(name: &str) -> Option<&'static str> {
    Some(match name {
        "anthropic" => "anthropic",
        "openai" | "openai-codex" => "openai",
        "google" | "google-gemini-cli" => "gcp.gemini",
        "google-vertex" => "gcp.vertex_ai",
        "mistral" => "mistral_ai",
        "xai" => "x_ai",
        "deepseek" => "deepseek",
        "groq" => "groq",
        "openrouter" => "openrouter",
        "amazon-bedrock" => "aws.bedrock",
        "azure-openai-responses" => "azure.ai.openai",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_tools_and_failures() {
        let src = concat!(
            r#"{"type":"session","version":3,"id":"s1","timestamp":"2026-02-01T10:00:00.000Z","cwd":"/p"}"#,
            "\n",
            r#"{"type":"message","id":"e1","parentId":null,"timestamp":"2026-02-01T10:00:01.000Z","message":{"role":"user","content":"go","timestamp":1}}"#,
            "\n",
            r#"{"type":"message","id":"e2","parentId":"e1","timestamp":"2026-02-01T10:00:02.000Z","message":{"role":"assistant","provider":"anthropic","model":"claude-sonnet-4-5","content":[{"type":"toolCall","id":"c1","name":"bash","arguments":{"command":"false"}}],"usage":{"input":10,"output":5,"cacheRead":100,"cacheWrite":20,"totalTokens":135,"cost":{"total":0.001}},"stopReason":"toolUse"}}"#,
            "\n",
            r#"{"type":"message","id":"e3","parentId":"e2","timestamp":"2026-02-01T10:00:03.000Z","message":{"role":"toolResult","toolCallId":"c1","toolName":"bash","content":[{"type":"text","text":"exit 1"}],"isError":true}}"#,
            "\n",
        );
        let p = parse(Path::new("x.jsonl"), src.as_bytes());
        assert_eq!(p.session_id.as_deref(), Some("s1"));
        assert_eq!(p.format_version.as_deref(), Some("3"));
        let call = p
            .events
            .iter()
            .find_map(|n| match &n.body {
                Body::LlmCall(c) => Some(c),
                _ => None,
            })
            .expect("a call");
        assert_eq!((call.usage.input, call.usage.output), (130, 5));
        assert_eq!(call.cost_usd, Some(0.001));
        assert!(p
            .events
            .iter()
            .any(|n| matches!(n.body, Body::ToolEnd { ok: false, .. })));
    }
}
