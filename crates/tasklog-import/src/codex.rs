//! OpenAI Codex rollouts: `~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl`.
//!
//! Lines are `{timestamp, type, payload}` with `type` one of `session_meta`,
//! `turn_context`, `response_item` and `event_msg`.
//!
//! Rules that make the totals right:
//! - `event_msg` / `token_count` carries the cumulative `total_token_usage`
//!   and the per-call `last_token_usage`: one `llm.call` per token_count,
//!   from `last_token_usage` only. A token_count whose cumulative total
//!   equals the previous one is a repeat (Codex re-emits it with rate-limit
//!   updates) and is skipped; one with no `last_token_usage` uses the
//!   difference of the totals.
//! - OpenAI's `input_tokens` already include `cached_input_tokens`
//!   (OpenTelemetry semantics), so they are taken as they are.
//! - `function_call_output.output` is a JSON string embedding
//!   `metadata.exit_code` and `metadata.duration_seconds` (older Codex,
//!   `apply_patch` today), or plain text with `Process exited with code N`
//!   / `Exit code: N` and `Wall time: S seconds` (current Codex), or a
//!   failure message (`apply_patch verification failed: ...`): a non-zero
//!   exit code or such a message makes a `tool.fail`.
//! - `web_search_call` (a search run on OpenAI's side) is a tool call that
//!   starts and ends on its line.
//! - `event_msg` `agent_message`, `agent_reasoning` and `user_message`
//!   mirror `response_item`s for the UI; they are kept verbatim only.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value};

use crate::model::{Body, LlmUse, Norm, Parsed, Usage};
use crate::source::{file_stem, norm_ts, parse_jsonl, str_at, u64_at};

/// `event_msg` payload types that mirror response items or carry UI state.
const QUIET_EVENTS: [&str; 10] = [
    "agent_message",
    "agent_reasoning",
    "agent_reasoning_raw_content",
    "user_message",
    "task_started",
    "task_complete",
    "turn_aborted",
    "exec_command_begin",
    "exec_command_end",
    "turn_diff",
];

/// Parses a Codex rollout.
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Parsed {
    let (mut parsed, values) = parse_jsonl(bytes);
    let mut model: Option<String> = None;
    let mut tools: HashMap<String, String> = HashMap::new();
    let mut last_total: Option<Usage> = None;
    let mut last_text: Option<String> = None;
    for (line, v) in values {
        let kind = str_at(&v, &["type"]).unwrap_or("").to_owned();
        let payload = v.get("payload").cloned().unwrap_or(Value::Null);
        let sub = str_at(&payload, &["type"]).unwrap_or("").to_owned();
        let ts = str_at(&v, &["timestamp"]).and_then(norm_ts);
        let mut out = Vec::new();
        let mut known = true;
        match kind.as_str() {
            "session_meta" => {
                parsed.session_id = str_at(&payload, &["id"]).map(str::to_owned);
                parsed.format_version = str_at(&payload, &["cli_version"]).map(str::to_owned);
                let f = &mut parsed.task_fields;
                for (from, to) in [
                    (&["cwd"][..], "cwd"),
                    (&["originator"][..], "originator"),
                    (&["git", "branch"][..], "git_branch"),
                    (&["git", "commit_hash"][..], "git_commit"),
                    (&["git", "repository_url"][..], "git_remote"),
                ] {
                    if let Some(s) = str_at(&payload, from) {
                        f.insert(to.into(), s.into());
                    }
                }
            }
            "turn_context" => {
                if let Some(m) = str_at(&payload, &["model"]) {
                    model = Some(m.to_owned());
                }
            }
            "response_item" => {
                known = response_item(&payload, line, &mut tools, &mut out, &mut last_text);
            }
            "event_msg" if sub == "token_count" => {
                if let Some(call) = token_count(&payload, &mut last_total, model.as_deref()) {
                    out.push(Body::LlmCall(call));
                }
            }
            "event_msg" => known = QUIET_EVENTS.contains(&sub.as_str()),
            "compacted" => {}
            _ => {
                *parsed.unknown_types.entry(label(&kind, "")).or_default() += 1;
                continue;
            }
        }
        parsed.recognized += 1;
        if !known {
            *parsed.unknown_types.entry(label(&kind, &sub)).or_default() += 1;
        }
        parsed.events.extend(out.into_iter().map(|body| Norm {
            line,
            ts: ts.clone(),
            key: None,
            open: false,
            body,
        }));
    }
    parsed.finish_session(file_stem(path), last_text);
    parsed
}

fn label(kind: &str, sub: &str) -> String {
    match (kind, sub) {
        ("", _) => "(no type)".into(),
        (k, "") => k.to_owned(),
        (k, s) => format!("{k}/{s}"),
    }
}

/// Normalizes one `response_item`; false when its type is unknown.
fn response_item(
    p: &Value,
    line: usize,
    tools: &mut HashMap<String, String>,
    out: &mut Vec<Body>,
    last_text: &mut Option<String>,
) -> bool {
    match str_at(p, &["type"]).unwrap_or("") {
        "message" => {
            let role = str_at(p, &["role"]).unwrap_or("assistant").to_owned();
            let content = p.get("content").cloned().unwrap_or(Value::Null);
            if role == "assistant" {
                let text: Vec<&str> = content
                    .as_array()
                    .map(|a| a.iter().filter_map(|b| str_at(b, &["text"])).collect())
                    .unwrap_or_default();
                if !text.is_empty() {
                    *last_text = Some(text.join("\n"));
                }
            }
            out.push(Body::Message {
                role,
                content,
                extra: Map::new(),
            });
        }
        "reasoning" => {
            // The encrypted content stays in the verbatim stream only.
            let summary: Vec<Value> = p
                .get("summary")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|s| s.get("text").cloned()).collect())
                .unwrap_or_default();
            out.push(Body::Reasoning {
                text: Value::Array(summary),
            });
        }
        "function_call" | "custom_tool_call" | "local_shell_call" => {
            let call_id = str_at(p, &["call_id"])
                .or_else(|| str_at(p, &["id"]))
                .unwrap_or_default()
                .to_owned();
            let kind = str_at(p, &["type"]).unwrap_or_default();
            let default = if kind == "local_shell_call" {
                "local_shell"
            } else {
                "unknown"
            };
            let name = str_at(p, &["name"]).unwrap_or(default).to_owned();
            let raw = p
                .get("arguments")
                .or_else(|| p.get("input"))
                .or_else(|| p.get("action"));
            // Arguments are a JSON string; keep the parsed value when it parses.
            let input = match raw {
                Some(Value::String(s)) => {
                    serde_json::from_str(s).unwrap_or(Value::String(s.clone()))
                }
                Some(other) => other.clone(),
                None => Value::Null,
            };
            tools.insert(call_id.clone(), name.clone());
            out.push(Body::ToolStart {
                call_id,
                name,
                input,
            });
        }
        "web_search_call" => {
            // A search the model ran on OpenAI's side: call and answer in
            // one item, without a call id in most versions.
            let call_id =
                str_at(p, &["id"]).map_or_else(|| format!("web_search:{line}"), str::to_owned);
            let status = str_at(p, &["status"]).unwrap_or("completed");
            out.push(Body::ToolStart {
                call_id: call_id.clone(),
                name: "web_search".into(),
                input: p.get("action").cloned().unwrap_or(Value::Null),
            });
            let mut extra = Map::new();
            extra.insert("tool_status".into(), status.into());
            out.push(Body::ToolEnd {
                call_id,
                name: "web_search".into(),
                ok: !matches!(status, "failed" | "incomplete" | "error"),
                output: Value::Null,
                duration_ms: None,
                extra,
            });
        }
        "function_call_output" | "custom_tool_call_output" => {
            let call_id = str_at(p, &["call_id"]).unwrap_or_default().to_owned();
            let name = tools
                .get(&call_id)
                .cloned()
                .unwrap_or_else(|| "unknown".into());
            let end = tool_output(p.get("output").cloned().unwrap_or(Value::Null));
            let mut extra = Map::new();
            if let Some(code) = end.exit_code {
                extra.insert("exit_code".into(), code.into());
            }
            out.push(Body::ToolEnd {
                call_id,
                name,
                ok: !end.failed,
                output: end.output,
                duration_ms: end.duration_ms,
                extra,
            });
        }
        _ => return false,
    }
    true
}

/// What a tool's output says about how the call ended.
struct ToolOutput {
    output: Value,
    exit_code: Option<i64>,
    failed: bool,
    duration_ms: Option<f64>,
}

/// Plain-text outputs that mean the call failed, as current Codex writes
/// them (the start of the text).
const FAILURE_TEXTS: [&str; 8] = [
    "apply_patch verification failed",
    "execution error",
    "failed to parse function arguments",
    "exec command rejected by user",
    "patch rejected by user",
    "unsupported call",
    "unsupported custom tool call",
    "Failed to apply patch",
];

/// Reads a `function_call_output` / `custom_tool_call_output` `output`:
/// - a JSON string embedding `{output, metadata: {exit_code, duration_seconds}}`
///   (Codex up to 0.4x, and `apply_patch` results today);
/// - plain text (current Codex): `Process exited with code N` (unified
///   exec), `Exit code: N` (shell), `Wall time: S seconds`, or one of
///   [`FAILURE_TEXTS`];
/// - an object `{content, success}` (some versions): `success: false` fails.
fn tool_output(raw: Value) -> ToolOutput {
    let text = match &raw {
        Value::String(s) => s.clone(),
        Value::Object(o) => {
            let failed = o.get("success").and_then(Value::as_bool) == Some(false);
            return ToolOutput {
                output: o.get("content").cloned().unwrap_or_else(|| raw.clone()),
                exit_code: None,
                failed,
                duration_ms: None,
            };
        }
        _ => {
            return ToolOutput {
                output: raw,
                exit_code: None,
                failed: false,
                duration_ms: None,
            }
        }
    };
    if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(&text) {
        let meta = v.get("metadata");
        let exit_code = meta
            .and_then(|m| m.get("exit_code"))
            .and_then(Value::as_i64);
        let duration_ms = meta
            .and_then(|m| m.get("duration_seconds"))
            .and_then(Value::as_f64)
            .map(|s| (s * 1e6).round() / 1e3);
        if exit_code.is_some() || v.get("output").is_some() {
            return ToolOutput {
                output: v.get("output").cloned().unwrap_or(raw),
                exit_code,
                failed: exit_code.is_some_and(|c| c != 0),
                duration_ms,
            };
        }
    }
    let mut exit_code = None;
    let mut duration_ms = None;
    // The header lines come before `Output:`; the command's own output
    // (which may contain anything) is not searched.
    for line in text.lines().take_while(|l| l.trim() != "Output:").take(8) {
        let line = line.trim();
        if let Some(n) = line
            .strip_prefix("Process exited with code ")
            .or_else(|| line.strip_prefix("Exit code: "))
        {
            exit_code = n.trim().parse::<i64>().ok().or(exit_code);
        } else if let Some(w) = line.strip_prefix("Wall time: ") {
            duration_ms = w
                .trim_end_matches("seconds")
                .trim()
                .parse::<f64>()
                .ok()
                .map(|s| (s * 1e6).round() / 1e3);
        }
    }
    let failed_text = FAILURE_TEXTS
        .iter()
        .any(|t| text.trim_start().starts_with(t));
    ToolOutput {
        output: raw,
        exit_code,
        failed: failed_text || exit_code.is_some_and(|c| c != 0),
        duration_ms,
    }
}

fn usage_of(u: &Value) -> Usage {
    Usage {
        input: u64_at(u, &["input_tokens"]).unwrap_or(0),
        output: u64_at(u, &["output_tokens"]).unwrap_or(0),
        cache_read: u64_at(u, &["cached_input_tokens"]).unwrap_or(0),
        cache_creation: 0,
        cache_creation_1h: 0,
        reasoning: u64_at(u, &["reasoning_output_tokens"]).unwrap_or(0),
    }
}

/// One model call from a `token_count` event, or `None` for a repeat or an
/// event without usage (rate-limit updates carry `info: null`).
fn token_count(p: &Value, last_total: &mut Option<Usage>, model: Option<&str>) -> Option<LlmUse> {
    let info = p.get("info").filter(|i| !i.is_null())?;
    let total = info.get("total_token_usage").map(usage_of);
    if total.is_some() && total == *last_total {
        return None;
    }
    let (usage, raw) = match info.get("last_token_usage") {
        Some(last) => (usage_of(last), last.clone()),
        None => {
            let total = total?;
            let before = last_total.unwrap_or_default();
            (total.minus(&before), Value::Null)
        }
    };
    if total.is_some() {
        *last_total = total;
    }
    let mut extra = Map::new();
    if let Some(r) = raw.get("reasoning_output_tokens") {
        extra.insert("reasoning_output_tokens".into(), r.clone());
    }
    Some(LlmUse {
        model: str_at(info, &["model"]).or(model).map(str::to_owned),
        provider: Some("openai"),
        usage,
        cache_known: true,
        cost_usd: None,
        raw_usage: raw,
        extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tc(last_in: u64, total_in: u64) -> String {
        format!(
            r#"{{"timestamp":"2026-05-13T09:01:00.000Z","type":"event_msg","payload":{{"type":"token_count","info":{{"last_token_usage":{{"input_tokens":{last_in},"cached_input_tokens":1,"output_tokens":2}},"total_token_usage":{{"input_tokens":{total_in},"cached_input_tokens":1,"output_tokens":2}}}}}}}}"#
        )
    }

    #[test]
    fn per_call_usage_is_summed_and_repeats_skipped() {
        let src = [
            r#"{"timestamp":"2026-05-13T09:00:00.000Z","type":"turn_context","payload":{"model":"gpt-5"}}"#.to_owned(),
            tc(10, 10),
            tc(10, 10), // a repeat: the cumulative total did not move
            tc(30, 40),
            r#"{"timestamp":"x","type":"event_msg","payload":{"type":"token_count","info":null}}"#.to_owned(),
        ]
        .join("\n");
        let p = parse(Path::new("r.jsonl"), src.as_bytes());
        let inputs: Vec<u64> = p
            .events
            .iter()
            .filter_map(|n| match &n.body {
                Body::LlmCall(c) => Some(c.usage.input),
                _ => None,
            })
            .collect();
        assert_eq!(inputs, vec![10, 30]);
        assert_eq!(p.recognized, 5);
    }

    #[test]
    fn function_output_exit_codes_and_durations() {
        let src = concat!(
            r#"{"timestamp":"2025-09-25T21:12:18.169Z","type":"response_item","payload":{"type":"function_call","name":"shell","arguments":"{\"command\":[\"false\"]}","call_id":"c1"}}"#,
            "\n",
            r#"{"timestamp":"2025-09-25T21:12:18.169Z","type":"response_item","payload":{"type":"function_call_output","call_id":"c1","output":"{\"output\":\"\",\"metadata\":{\"exit_code\":1,\"duration_seconds\":0.25}}"}}"#,
            "\n",
            r#"{"timestamp":"2025-09-25T21:12:18.169Z","type":"response_item","payload":{"type":"brand_new"}}"#,
        );
        let p = parse(Path::new("r.jsonl"), src.as_bytes());
        let end = p.events.iter().find_map(|n| match &n.body {
            Body::ToolEnd {
                name,
                ok,
                duration_ms,
                ..
            } => Some((name.clone(), *ok, *duration_ms)),
            _ => None,
        });
        assert_eq!(end, Some(("shell".into(), false, Some(250.0))));
        assert_eq!(p.unknown_types.get("response_item/brand_new"), Some(&1));
    }

    #[test]
    fn plain_text_outputs_of_current_codex_tell_failures() {
        for (output, failed, code, ms) in [
            ("Chunk ID: 1\nWall time: 0.0518 seconds\nProcess exited with code 0\nOriginal token count: 3\nOutput:\nok", false, Some(0), Some(51.8)),
            ("Chunk ID: 2\nWall time: 1.5 seconds\nProcess exited with code 2\nOutput:\nls: x: No such file", true, Some(2), Some(1500.0)),
            ("Exit code: 1\nWall time: 0.2 seconds\nOutput:\nFAILED", true, Some(1), Some(200.0)),
            ("Exit code: 0\nWall time: 0 seconds\nTotal output lines: 1\nOutput:\nProcess exited with code 9", false, Some(0), Some(0.0)),
            ("apply_patch verification failed: Failed to find expected lines in src/a.rs", true, None, None),
            ("execution error: Io(Os { code: 2 })", true, None, None),
            ("exec command rejected by user", true, None, None),
            ("failed to parse function arguments: missing field `cmd`", true, None, None),
            ("Process running with session ID 7\nOutput:\n", false, None, None),
            (r#"{"output":"Success.","metadata":{"exit_code":0,"duration_seconds":0.0}}"#, false, Some(0), Some(0.0)),
            (r#"{"output":"","metadata":{"exit_code":127,"duration_seconds":0.1}}"#, true, Some(127), Some(100.0)),
        ] {
            let end = tool_output(Value::String(output.into()));
            assert_eq!((end.failed, end.exit_code, end.duration_ms), (failed, code, ms), "{output}");
        }
        let end = tool_output(json!({"content": "boom", "success": false}));
        assert!(end.failed);
        assert_eq!(end.output, json!("boom"));
    }

    #[test]
    fn web_searches_are_tool_calls() {
        let src = concat!(
            r#"{"timestamp":"2026-02-01T00:00:00Z","type":"response_item","payload":{"type":"web_search_call","status":"completed","action":{"type":"search","query":"rust 1.90"}}}"#,
            "\n",
            r#"{"timestamp":"2026-02-01T00:00:01Z","type":"response_item","payload":{"type":"web_search_call","id":"ws_1","status":"failed","action":{"type":"search","query":"x"}}}"#,
            "\n",
        );
        let p = parse(Path::new("r.jsonl"), src.as_bytes());
        let ends: Vec<(String, bool)> = p
            .events
            .iter()
            .filter_map(|n| match &n.body {
                Body::ToolEnd { call_id, ok, .. } => Some((call_id.clone(), *ok)),
                _ => None,
            })
            .collect();
        assert_eq!(
            ends,
            vec![("web_search:1".into(), true), ("ws_1".into(), false)]
        );
        assert!(p.unknown_types.is_empty());
    }
}
