//! GitHub Copilot CLI session logs (`~/.copilot/session-state/<id>/events.jsonl`):
//! one event per line, `{type, data, id, timestamp, parentId}` with dotted
//! types (`session.start`, `user.message`, `assistant.message`,
//! `tool.execution_start`, `tool.execution_complete`, `session.shutdown`, ...).
//!
//! - `tool.execution_start` / `tool.execution_complete` share
//!   `data.toolCallId`: `tool.start` and `tool.complete` (`tool.fail` when
//!   `success` is false), with the duration between their timestamps.
//! - Copilot CLI records usage only per session, in `session.shutdown`
//!   `data.modelMetrics.<model>`: `requests.count`, `requests.cost`
//!   (premium requests, not dollars), `usage {inputTokens, outputTokens,
//!   cacheReadTokens, cacheWriteTokens, reasoningTokens}`. Each model of a
//!   shutdown becomes one `llm.call` with `aggregate: true` and
//!   `api_calls` = the request count. `inputTokens` includes the cache
//!   reads (OpenAI semantics, as Copilot's API is), `outputTokens` the
//!   reasoning tokens. The per-message `outputTokens` of
//!   `assistant.message` are kept on the message only: summing them
//!   would count the session's output a second time.
//! - `session.task_complete` gives the final result.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::model::{Body, LlmUse, Norm, Outcome, Parsed, Usage};
use crate::source::{between_ms, file_stem, norm_ts, parse_jsonl, str_at, u64_at};

/// Event types kept verbatim only (UI and session state).
const QUIET: [&str; 6] = [
    "assistant.turn_start",
    "assistant.turn_end",
    "session.mode_changed",
    "session.model_change",
    "session.resume",
    "assistant.reasoning",
];

/// Parses an `events.jsonl`.
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Parsed {
    let (mut parsed, values) = parse_jsonl(bytes);
    let mut tools: HashMap<String, (String, Option<String>)> = HashMap::new();
    let mut last_text = None;
    for (line, v) in values {
        let kind = str_at(&v, &["type"]).unwrap_or("").to_owned();
        let data = v.get("data").cloned().unwrap_or(Value::Null);
        let ts_raw = str_at(&v, &["timestamp"]).map(str::to_owned);
        let ts = ts_raw.as_deref().and_then(norm_ts);
        let mut out = Vec::new();
        match kind.as_str() {
            "session.start" => {
                parsed.session_id = str_at(&data, &["sessionId"]).map(str::to_owned);
                parsed.format_version = str_at(&data, &["copilotVersion"]).map(str::to_owned);
                for (from, to) in [
                    ("cwd", "cwd"),
                    ("branch", "git_branch"),
                    ("headCommit", "git_commit"),
                    ("repository", "git_remote"),
                ] {
                    if let Some(s) = str_at(&data, &["context", from]) {
                        parsed.task_fields.insert(to.into(), s.into());
                    }
                }
            }
            "user.message" | "system.message" => out.push(Body::Message {
                role: if kind == "user.message" {
                    "user"
                } else {
                    "system"
                }
                .into(),
                content: data.get("content").cloned().unwrap_or(Value::Null),
                extra: Map::new(),
            }),
            "assistant.message" => {
                if let Some(text) = str_at(&data, &["reasoningText"]).filter(|t| !t.is_empty()) {
                    out.push(Body::Reasoning { text: text.into() });
                }
                let content = data.get("content").cloned().unwrap_or(Value::Null);
                if content.as_str().is_some_and(|t| !t.trim().is_empty()) {
                    last_text = content.as_str().map(str::to_owned);
                    let mut extra = Map::new();
                    for key in ["messageId", "outputTokens", "requestId"] {
                        if let Some(v) = data.get(key) {
                            extra.insert(key.into(), v.clone());
                        }
                    }
                    out.push(Body::Message {
                        role: "assistant".into(),
                        content,
                        extra,
                    });
                }
            }
            "tool.execution_start" => {
                let call_id = str_at(&data, &["toolCallId"])
                    .unwrap_or_default()
                    .to_owned();
                let name = str_at(&data, &["toolName"]).unwrap_or("unknown").to_owned();
                tools.insert(call_id.clone(), (name.clone(), ts_raw.clone()));
                let input = match data.get("arguments") {
                    Some(Value::String(s)) => {
                        serde_json::from_str(s).unwrap_or(Value::String(s.clone()))
                    }
                    Some(v) => v.clone(),
                    None => Value::Null,
                };
                out.push(Body::ToolStart {
                    call_id,
                    name,
                    input,
                });
            }
            "tool.execution_complete" => {
                let call_id = str_at(&data, &["toolCallId"])
                    .unwrap_or_default()
                    .to_owned();
                let (name, started) = tools
                    .get(&call_id)
                    .cloned()
                    .unwrap_or_else(|| ("unknown".into(), None));
                let ok = data.get("success").and_then(Value::as_bool) != Some(false);
                out.push(Body::ToolEnd {
                    call_id,
                    name,
                    ok,
                    output: data
                        .get(if ok { "result" } else { "error" })
                        .or_else(|| data.get("result"))
                        .cloned()
                        .unwrap_or(Value::Null),
                    duration_ms: match (started.as_deref(), ts_raw.as_deref()) {
                        (Some(a), Some(b)) => between_ms(a, b),
                        _ => None,
                    },
                    extra: Map::new(),
                });
            }
            "session.shutdown" => {
                parsed.ended = true;
                shutdown(&data, &mut out);
            }
            "session.task_complete" => {
                let ok = data.get("success").and_then(Value::as_bool) != Some(false);
                parsed.outcome = Some(Outcome {
                    status: if ok { "completed" } else { "failed" }.into(),
                    result: json!({ "summary": data.get("summary") }),
                });
            }
            "session.info" | "session.error" | "session.warning" => out.push(Body::System {
                severity: if kind == "session.info" {
                    "info"
                } else {
                    "error"
                }
                .into(),
                message: str_at(&data, &["message"]).unwrap_or_default().to_owned(),
                details: data.clone(),
            }),
            k if QUIET.contains(&k) => {}
            other => {
                let label = if other.is_empty() { "(no type)" } else { other };
                *parsed.unknown_types.entry(label.to_owned()).or_default() += 1;
                if !other.contains('.') {
                    continue; // not a Copilot event at all
                }
            }
        }
        parsed.recognized += 1;
        parsed.events.extend(
            out.into_iter()
                .map(|body| Norm::new(line, ts.clone(), body)),
        );
    }
    if parsed.session_id.is_none() {
        parsed.session_id = Some(file_stem(path));
    }
    if parsed.outcome.is_none() {
        if let Some(text) = last_text {
            parsed.outcome = Some(Outcome {
                status: "completed".into(),
                result: json!({ "summary": text }),
            });
        }
    }
    parsed
}

/// The session's usage, one aggregate call per model.
fn shutdown(data: &Value, out: &mut Vec<Body>) {
    let Some(models) = data.get("modelMetrics").and_then(Value::as_object) else {
        return;
    };
    for (model, m) in models {
        let u = m.get("usage").cloned().unwrap_or(Value::Null);
        let n = |k: &str| u64_at(&u, &[k]).unwrap_or(0);
        let mut extra = Map::new();
        extra.insert("aggregate".into(), true.into());
        extra.insert(
            "api_calls".into(),
            m.pointer("/requests/count").cloned().unwrap_or(Value::Null),
        );
        extra.insert(
            "premium_requests".into(),
            m.pointer("/requests/cost").cloned().unwrap_or(Value::Null),
        );
        out.push(Body::LlmCall(LlmUse {
            model: Some(model.clone()),
            provider: Some("github_copilot"),
            usage: Usage {
                input: n("inputTokens"),
                output: n("outputTokens"),
                cache_read: n("cacheReadTokens"),
                cache_creation: n("cacheWriteTokens"),
                cache_creation_1h: 0,
                reasoning: n("reasoningTokens"),
            },
            cache_known: true,
            cost_usd: None,
            raw_usage: u.clone(),
            extra,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_pair_and_usage_comes_from_shutdown() {
        let src = concat!(
            r#"{"type":"session.start","data":{"sessionId":"c1","copilotVersion":"1.0.0","context":{"cwd":"/w"}},"id":"1","timestamp":"2026-04-23T17:00:00.000Z"}"#,
            "\n",
            r#"{"type":"tool.execution_start","data":{"toolCallId":"t1","toolName":"bash","arguments":{"command":"ls"}},"id":"2","timestamp":"2026-04-23T17:00:01.000Z"}"#,
            "\n",
            r#"{"type":"tool.execution_complete","data":{"toolCallId":"t1","success":false,"result":{"content":"no"}},"id":"3","timestamp":"2026-04-23T17:00:01.400Z"}"#,
            "\n",
            r#"{"type":"session.shutdown","data":{"modelMetrics":{"m1":{"requests":{"count":3,"cost":1},"usage":{"inputTokens":900,"outputTokens":50,"cacheReadTokens":600,"cacheWriteTokens":0,"reasoningTokens":10}}}},"id":"4","timestamp":"2026-04-23T17:01:00.000Z"}"#,
            "\n",
        );
        let p = parse(Path::new("events.jsonl"), src.as_bytes());
        assert_eq!(p.session_id.as_deref(), Some("c1"));
        assert!(p.events.iter().any(|n| matches!(&n.body,
            Body::ToolEnd { ok: false, duration_ms: Some(d), .. } if *d == 400.0)));
        let calls: Vec<_> = p
            .events
            .iter()
            .filter_map(|n| match &n.body {
                Body::LlmCall(c) => Some(c.usage),
                _ => None,
            })
            .collect();
        assert_eq!(calls.len(), 1);
        assert_eq!(
            (calls[0].input, calls[0].cache_read, calls[0].reasoning),
            (900, 600, 10)
        );
    }
}
