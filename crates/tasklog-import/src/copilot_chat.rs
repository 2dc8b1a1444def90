//! VS Code GitHub Copilot Chat sessions
//! (`<VS Code user folder>/workspaceStorage/<hash>/chatSessions/<uuid>.json`):
//! one JSON document `{version, sessionId, creationDate, lastMessageDate,
//! customTitle?, requests: [...]}`, times in milliseconds since the epoch.
//!
//! Each request is one user turn: `message.text`, the `response[]` items
//! (markdown text, `thinking`, `toolInvocationSerialized`, ...),
//! `modelId` (`copilot/<model>`), `timestamp`, `isCanceled`, and `result`
//! (`timings`, `details` such as "Claude Sonnet 4 • 1x", and `metadata`
//! with the agent's `toolCallRounds` and `toolCallResults`).
//!
//! - **Billing**: one `llm.call` per model response: each entry of
//!   `result.metadata.toolCallRounds` (a round is one response, with the
//!   tool calls it asked for), or one per answered request that has no
//!   rounds (chat mode). The file records no token counts, so the calls
//!   carry none (`usage_unknown`): the index lists them as unpriced, never
//!   $0. Copilot bills premium requests; `result.details` is kept.
//! - **Tool calls**: one `tool.start` per `toolCalls[]` entry of a round
//!   (`id`, `name`, `arguments` as JSON text), ended by
//!   `toolCallResults[id]`.
//! - **Failures**: no flag is recorded. A call without a result in a
//!   cancelled request, and a result whose text starts with `ERROR` or
//!   `Error:` (how the agent's tools report one), are failures.

use std::path::Path;

use serde_json::{json, Map, Value};

use crate::error::Result;
use crate::model::{Body, LlmUse, Norm, Outcome, Parsed, Usage};
use crate::source::{file_stem, parse_document, str_at, ts_from_ms};

/// Whether a JSON document is a Copilot Chat session.
pub(crate) fn is_document(doc: &Value) -> bool {
    doc.get("requests").is_some_and(Value::is_array)
        && doc.get("sessionId").is_some_and(Value::is_string)
        && (doc.get("responderUsername").is_some()
            || doc.get("requesterUsername").is_some()
            || doc.get("creationDate").is_some())
}

/// Parses a session document. `Err` only when it is not JSON.
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<Parsed> {
    let doc = parse_document(path, bytes)?;
    let mut parsed = Parsed {
        consumed: bytes.len(),
        document: true,
        session_id: Some(
            str_at(&doc, &["sessionId"]).map_or_else(|| file_stem(path), str::to_owned),
        ),
        format_version: doc.get("version").map(|v| v.to_string()),
        ..Parsed::default()
    };
    if let Some(title) = str_at(&doc, &["customTitle"]).filter(|t| !t.trim().is_empty()) {
        parsed.task_fields.insert("title".into(), title.into());
    }
    let Some(requests) = doc.get("requests").and_then(Value::as_array) else {
        return Ok(parsed);
    };
    parsed.units = requests.len();
    let mut last_text = None;
    for (i, req) in requests.iter().enumerate() {
        parsed.recognized += 1;
        let line = i + 1;
        let ts = req.get("timestamp").and_then(ts_from_ms);
        let rid =
            str_at(req, &["requestId"]).map_or_else(|| format!("request-{line}"), str::to_owned);
        let mut out: Vec<(Option<String>, Body)> = Vec::new();
        if let Some(text) = str_at(req, &["message", "text"]) {
            out.push((
                Some(format!("copilot-chat:{rid}:user")),
                Body::Message {
                    role: "user".into(),
                    content: text.into(),
                    extra: Map::new(),
                },
            ));
        }
        let (text, thinking) = response_text(req);
        for t in thinking {
            out.push((None, Body::Reasoning { text: t.into() }));
        }
        if !text.is_empty() {
            last_text = Some(text.clone());
            out.push((
                Some(format!("copilot-chat:{rid}:assistant")),
                Body::Message {
                    role: "assistant".into(),
                    content: text.into(),
                    extra: Map::new(),
                },
            ));
        }
        let canceled = req.get("isCanceled").and_then(Value::as_bool) == Some(true);
        calls_and_tools(req, &rid, canceled, &mut out);
        if canceled {
            out.push((
                None,
                Body::System {
                    severity: "warning".into(),
                    message: "request cancelled".into(),
                    details: json!({ "requestId": rid }),
                },
            ));
        }
        parsed.events.extend(out.into_iter().map(|(key, body)| {
            let mut norm = Norm::new(line, ts.clone(), body);
            norm.key = key;
            norm
        }));
    }
    if let Some(text) = last_text {
        parsed.outcome = Some(Outcome {
            status: "completed".into(),
            result: json!({ "summary": text }),
        });
    }
    Ok(parsed)
}

/// The markdown text of a request's response, and its thinking parts.
fn response_text(req: &Value) -> (String, Vec<String>) {
    let mut text = String::new();
    let mut thinking = Vec::new();
    for item in req
        .get("response")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let value = item.get("value").and_then(Value::as_str).unwrap_or("");
        match item.get("kind").and_then(Value::as_str) {
            // Markdown parts are written without a kind.
            None | Some("markdownContent") => text.push_str(value),
            Some("thinking") if !value.trim().is_empty() => thinking.push(value.to_owned()),
            _ => {}
        }
    }
    (text.trim().to_owned(), thinking)
}

/// A request's model calls (one per tool-call round) and tool calls.
fn calls_and_tools(req: &Value, rid: &str, canceled: bool, out: &mut Vec<(Option<String>, Body)>) {
    let model =
        str_at(req, &["modelId"]).map(|m| m.strip_prefix("copilot/").unwrap_or(m).to_owned());
    let meta = req.pointer("/result/metadata").unwrap_or(&Value::Null);
    let results = meta.get("toolCallResults").and_then(Value::as_object);
    let rounds: Vec<&Value> = meta
        .get("toolCallRounds")
        .and_then(Value::as_array)
        .map(|r| r.iter().collect())
        .unwrap_or_default();
    let call = |key: String| {
        let mut extra = Map::new();
        extra.insert(
            crate::emit::USAGE_UNKNOWN.into(),
            "Copilot Chat records no token counts".into(),
        );
        if let Some(d) = str_at(req, &["result", "details"]) {
            extra.insert("copilot_details".into(), d.into());
        }
        extra.insert("request_id".into(), rid.into());
        (
            Some(key),
            Body::LlmCall(LlmUse {
                model: model.clone(),
                provider: Some("github_copilot"),
                usage: Usage::default(),
                cache_known: false,
                cost_usd: None,
                raw_usage: Value::Null,
                extra,
            }),
        )
    };
    if rounds.is_empty() {
        let answered = req
            .get("response")
            .and_then(Value::as_array)
            .is_some_and(|r| !r.is_empty());
        if answered {
            out.push(call(format!("llm:copilot-chat:{rid}")));
        }
        return;
    }
    for (n, round) in rounds.into_iter().enumerate() {
        let round_id = str_at(round, &["id"]).map_or_else(|| format!("{rid}:{n}"), str::to_owned);
        out.push(call(format!("llm:copilot-chat:{round_id}")));
        for tc in round
            .get("toolCalls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let id = str_at(tc, &["id"]).unwrap_or_default().to_owned();
            let name = str_at(tc, &["name"]).unwrap_or("unknown").to_owned();
            let input = match tc.get("arguments") {
                Some(Value::String(s)) => {
                    serde_json::from_str(s).unwrap_or(Value::String(s.clone()))
                }
                Some(v) => v.clone(),
                None => Value::Null,
            };
            out.push((
                Some(format!("copilot-chat:tool:{id}:start")),
                Body::ToolStart {
                    call_id: id.clone(),
                    name: name.clone(),
                    input,
                },
            ));
            let result = results.and_then(|r| r.get(&id));
            let ok = match result {
                Some(r) => !result_says_error(r),
                None if canceled => false,
                None => continue, // no answer recorded: the call stays open
            };
            out.push((
                Some(format!("copilot-chat:tool:{id}:end")),
                Body::ToolEnd {
                    call_id: id,
                    name,
                    ok,
                    output: result.cloned().unwrap_or(Value::Null),
                    duration_ms: None,
                    extra: Map::new(),
                },
            ));
        }
    }
}

/// Whether a tool result's text reports an error.
fn result_says_error(result: &Value) -> bool {
    result
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("value").and_then(Value::as_str))
        .any(|t| {
            let t = t.trim_start();
            t.starts_with("ERROR") || t.starts_with("Error:")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_are_calls_and_results_end_tools() {
        let doc = json!({
            "version": 3, "sessionId": "s1", "creationDate": 1, "requesterUsername": "u",
            "requests": [{
                "requestId": "request_1", "timestamp": 1_772_000_000_000_u64,
                "modelId": "copilot/claude-sonnet-4", "message": {"text": "fix"},
                "response": [{"value": "Done."}],
                "result": {"details": "Claude Sonnet 4 • 1x", "metadata": {
                    "toolCallRounds": [
                        {"id": "r1", "response": "", "toolCalls": [{"id": "t1", "name": "run_in_terminal", "arguments": "{\"command\":\"false\"}"}]},
                        {"id": "r2", "response": "Done.", "toolCalls": []}
                    ],
                    "toolCallResults": {"t1": {"content": [{"value": "ERROR: exit 1"}]}}
                }}
            }]
        });
        let p = parse(Path::new("s1.json"), doc.to_string().as_bytes()).unwrap();
        let calls = p
            .events
            .iter()
            .filter(|n| matches!(n.body, Body::LlmCall(_)))
            .count();
        assert_eq!(calls, 2);
        assert!(p
            .events
            .iter()
            .any(|n| matches!(n.body, Body::ToolEnd { ok: false, .. })));
        assert!(is_document(&doc));
    }
}
