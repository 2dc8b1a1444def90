//! Cline's `api_conversation_history.json` (Roo Code writes the same
//! shape): one JSON array of Anthropic-style messages `{role, content}`,
//! where assistant messages of recent versions also carry `modelInfo
//! {modelId, providerId, mode}` and `metrics {tokens {prompt, completion,
//! cached}, cost?}`.
//!
//! - `tool_use` blocks are `tool.start`. Cline answers them in the next
//!   user message, either with `tool_result` blocks (by `tool_use_id`) or,
//!   in the text protocol, with text blocks `[<tool> for '...'] Result:
//!   ...`, in the order of the calls: the k-th such block ends the k-th
//!   unanswered call. A result whose text starts with `The tool execution
//!   failed` or contains `[ERROR]`, or `is_error`, is a `tool.fail`.
//! - Each assistant message with `metrics.tokens` is one `llm.call`.
//!   `prompt` is the uncached input when the provider is Anthropic (its
//!   API counts cache reads apart), and `cached` the tokens read from the
//!   cache: `input_tokens` = prompt + cached there; for other providers
//!   `prompt` already includes `cached`. Cache writes are not recorded by
//!   Cline; `completion` includes any reasoning. `metrics.cost` is taken
//!   when present.
//! - The file has no session id or times: the task is named after the
//!   parent folder (Cline names it after the task id) when the file has
//!   Cline's own name, else after the file; events carry the import time.
//! - Element *k* (for re-imports) is message *k*.

use std::collections::VecDeque;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::error::Result;
use crate::model::{Body, LlmUse, Norm, Outcome, Parsed, Usage};
use crate::source::{file_stem, parse_document, str_at, text_of, u64_at};

/// Parses a conversation history. `Err` only when it is not JSON.
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<Parsed> {
    let doc = parse_document(path, bytes)?;
    let mut parsed = Parsed {
        consumed: bytes.len(),
        document: true,
        session_id: Some(session_of(path)),
        ..Parsed::default()
    };
    let Some(messages) = doc.as_array() else {
        return Ok(parsed);
    };
    parsed.units = messages.len();
    // Calls not answered yet, in order: (call id, tool name).
    let mut pending: VecDeque<(String, String)> = VecDeque::new();
    let mut last_text = None;
    for (i, m) in messages.iter().enumerate() {
        let line = i + 1;
        let Some(role) = str_at(m, &["role"]) else {
            *parsed.unknown_types.entry("(no role)".into()).or_default() += 1;
            continue;
        };
        parsed.recognized += 1;
        let blocks = match m.get("content") {
            Some(Value::Array(b)) => b.clone(),
            Some(Value::String(s)) => vec![json!({"type": "text", "text": s})],
            _ => Vec::new(),
        };
        let mut shown = Vec::new();
        for block in blocks {
            match str_at(&block, &["type"]).unwrap_or("") {
                "tool_use" => {
                    let call_id = str_at(&block, &["id"]).unwrap_or_default().to_owned();
                    let name = str_at(&block, &["name"]).unwrap_or("unknown").to_owned();
                    pending.push_back((call_id.clone(), name.clone()));
                    parsed.events.push(Norm::new(
                        line,
                        None,
                        Body::ToolStart {
                            call_id,
                            name,
                            input: block.get("input").cloned().unwrap_or(Value::Null),
                        },
                    ));
                }
                "tool_result" => {
                    let id = str_at(&block, &["tool_use_id"]).unwrap_or_default();
                    let found = pending.iter().position(|(c, _)| c == id);
                    if let Some((call_id, name)) = found.and_then(|p| pending.remove(p)) {
                        let output = block.get("content").cloned().unwrap_or(Value::Null);
                        let failed = block.get("is_error").and_then(Value::as_bool) == Some(true);
                        parsed.events.push(Norm::new(
                            line,
                            None,
                            end(call_id, name, output, failed),
                        ));
                    }
                }
                "text" if role == "user" && is_result(&block) && !pending.is_empty() => {
                    if let Some((call_id, name)) = pending.pop_front() {
                        let text = str_at(&block, &["text"]).unwrap_or_default();
                        let failed = text.contains("[ERROR]")
                            || text.split_once("Result:").is_some_and(|(_, r)| {
                                r.trim_start().starts_with("The tool execution failed")
                            });
                        parsed.events.push(Norm::new(
                            line,
                            None,
                            end(call_id, name, block["text"].clone(), failed),
                        ));
                    }
                }
                _ => shown.push(block),
            }
        }
        if !shown.is_empty() {
            let content = Value::Array(shown);
            if role == "assistant" {
                last_text = text_of(&content).or(last_text);
            }
            parsed.events.push(Norm::new(
                line,
                None,
                Body::Message {
                    role: role.to_owned(),
                    content,
                    extra: Map::new(),
                },
            ));
        }
        if let Some(tokens) = m.pointer("/metrics/tokens").filter(|t| t.is_object()) {
            parsed
                .events
                .push(Norm::new(line, None, Body::LlmCall(llm_call(m, tokens))));
        }
    }
    if let Some(text) = last_text {
        parsed.outcome = Some(Outcome {
            status: "completed".into(),
            result: json!({ "summary": text }),
        });
    }
    Ok(parsed)
}

/// Cline's own file name says nothing; its folder is the task id.
fn session_of(path: &Path) -> String {
    let stem = file_stem(path);
    if stem == "api_conversation_history" {
        if let Some(dir) = path.parent().and_then(Path::file_name) {
            return dir.to_string_lossy().into_owned();
        }
    }
    stem
}

/// A text block that answers a tool call: `[name for '...'] Result:`.
fn is_result(block: &Value) -> bool {
    let text = str_at(block, &["text"]).unwrap_or_default();
    text.starts_with('[')
        && text
            .lines()
            .next()
            .is_some_and(|first| first.contains("] Result:"))
}

fn end(call_id: String, name: String, output: Value, failed: bool) -> Body {
    Body::ToolEnd {
        call_id,
        name,
        ok: !failed,
        output,
        duration_ms: None,
        extra: Map::new(),
    }
}

fn llm_call(m: &Value, t: &Value) -> LlmUse {
    let provider = str_at(m, &["modelInfo", "providerId"]);
    let prompt = u64_at(t, &["prompt"]).unwrap_or(0);
    let cached = u64_at(t, &["cached"]).unwrap_or(0);
    // Anthropic counts cache reads apart from the prompt; OpenAI-style
    // APIs include them.
    let input = if provider == Some("anthropic") {
        prompt + cached
    } else {
        prompt
    };
    let mut extra = Map::new();
    if let Some(mode) = m.pointer("/modelInfo/mode") {
        extra.insert("mode".into(), mode.clone());
    }
    LlmUse {
        model: str_at(m, &["modelInfo", "modelId"]).map(str::to_owned),
        provider: provider.map(|p| match p {
            "anthropic" => "anthropic",
            "openai" | "openai-native" => "openai",
            "gemini" => "gcp.gemini",
            "bedrock" => "aws.bedrock",
            "openrouter" => "openrouter",
            _ => "other",
        }),
        usage: Usage {
            input,
            output: u64_at(t, &["completion"]).unwrap_or(0),
            cache_read: cached,
            cache_creation: 0,
            cache_creation_1h: 0,
            reasoning: 0,
        },
        cache_known: true,
        cost_usd: m.pointer("/metrics/cost").and_then(Value::as_f64),
        raw_usage: t.clone(),
        extra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_results_end_calls_in_order() {
        let src = r#"[
          {"role":"user","content":[{"type":"text","text":"<task>go</task>"}]},
          {"role":"assistant","modelInfo":{"modelId":"claude-x","providerId":"anthropic"},"metrics":{"tokens":{"prompt":3,"completion":20,"cached":100}},
           "content":[{"type":"text","text":"reading"},{"type":"tool_use","id":"t1","name":"read_file","input":{"path":"a"}},{"type":"tool_use","id":"t2","name":"execute_command","input":{"command":"x"}}]},
          {"role":"user","content":[{"type":"text","text":"[read_file for 'a'] Result:\nabc"},{"type":"text","text":"[execute_command for 'x'] Result:\nThe tool execution failed with the following error:\nboom"},{"type":"text","text":"<environment_details>"}]}
        ]"#;
        let p = parse(
            Path::new("/t/1770913324799/api_conversation_history.json"),
            src.as_bytes(),
        )
        .unwrap();
        assert_eq!(p.session_id.as_deref(), Some("1770913324799"));
        let ends: Vec<_> = p
            .events
            .iter()
            .filter_map(|n| match &n.body {
                Body::ToolEnd { call_id, ok, .. } => Some((call_id.clone(), *ok)),
                _ => None,
            })
            .collect();
        assert_eq!(ends, vec![("t1".into(), true), ("t2".into(), false)]);
        let call = p.events.iter().find_map(|n| match &n.body {
            Body::LlmCall(c) => Some(c.usage),
            _ => None,
        });
        assert_eq!(
            call.map(|u| (u.input, u.output, u.cache_read)),
            Some((103, 20, 100))
        );
    }
}
