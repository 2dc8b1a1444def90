//! mini-SWE-agent trajectories (`<instance>.traj.json`,
//! `trajectory_format: mini-swe-agent-1`): one JSON document `{info
//! {exit_status, submission, model_stats {instance_cost, api_calls},
//! config, mini_version}, messages: [{role, content, extra}],
//! instance_id}`.
//!
//! - Each assistant message is one model call; its usage is the
//!   provider's response as LiteLLM returns it, in
//!   `extra.response.usage`: `prompt_tokens` (cache reads included, as
//!   `prompt_tokens_details.cached_tokens`), `completion_tokens`
//!   (reasoning included, as `completion_tokens_details.reasoning_tokens`)
//!   and, through OpenRouter, `cost` in USD. These map to the
//!   OpenTelemetry names as they are. A trajectory without per-message
//!   usage (older versions) gets one aggregate call from `model_stats`,
//!   like SWE-agent.
//! - The agent acts by one shell command per turn, in a ```` ```bash ````
//!   block of the assistant message: `tool.start` (`bash`); the next user
//!   message is its observation, `<returncode>N</returncode><output>...`:
//!   `tool.complete`, or `tool.fail` when N ≠ 0.
//! - `info.exit_status` `Submitted` → `result.json` `completed`, else
//!   `failed`, with the submission (the patch).
//! - Element *k* (for re-imports) is message *k*; no times are recorded.

use std::path::Path;

use serde_json::{json, Map, Value};

use crate::error::Result;
use crate::model::{Body, LlmUse, Norm, Outcome, Parsed, Usage};
use crate::source::{file_stem, parse_document, str_at, u64_at};

/// Parses a trajectory. `Err` only when the document is not JSON.
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<Parsed> {
    let doc = parse_document(path, bytes)?;
    let mut parsed = Parsed {
        consumed: bytes.len(),
        document: true,
        ..Parsed::default()
    };
    let Some(messages) = doc.get("messages").and_then(Value::as_array) else {
        return Ok(parsed);
    };
    let info = doc.get("info").cloned().unwrap_or(Value::Null);
    parsed.recognized = 1;
    parsed.units = messages.len();
    parsed.session_id = Some(file_stem(path));
    parsed.format_version = str_at(&info, &["mini_version"]).map(str::to_owned);
    if let Some(id) = str_at(&doc, &["instance_id"]) {
        parsed.task_fields.insert("title".into(), id.into());
    }
    let config_model = str_at(&info, &["config", "model", "model_name"]).map(str::to_owned);
    let mut open_call: Option<String> = None;
    let mut calls = 0usize;
    for (i, m) in messages.iter().enumerate() {
        parsed.recognized += 1;
        let line = i + 1;
        let role = str_at(m, &["role"]).unwrap_or("user").to_owned();
        let content = m.get("content").cloned().unwrap_or(Value::Null);
        let text = content.as_str().unwrap_or_default().to_owned();
        if let Some(response) = m.pointer("/extra/response").filter(|_| role == "assistant") {
            if let Some(call) = llm_call(response, config_model.as_deref()) {
                calls += 1;
                parsed
                    .events
                    .push(Norm::new(line, None, Body::LlmCall(call)));
            }
        }
        parsed.events.push(Norm::new(
            line,
            None,
            Body::Message {
                role: role.clone(),
                content,
                extra: Map::new(),
            },
        ));
        match role.as_str() {
            "assistant" => {
                if let Some(command) = bash_block(&text) {
                    let call_id = format!("step-{line}");
                    open_call = Some(call_id.clone());
                    parsed.events.push(Norm::new(
                        line,
                        None,
                        Body::ToolStart {
                            call_id,
                            name: "bash".into(),
                            input: json!({ "command": command }),
                        },
                    ));
                }
            }
            "user" => {
                if let (Some(call_id), Some(code)) = (open_call.take(), return_code(&text)) {
                    let mut extra = Map::new();
                    extra.insert("exit_code".into(), code.into());
                    parsed.events.push(Norm::new(
                        line,
                        None,
                        Body::ToolEnd {
                            call_id,
                            name: "bash".into(),
                            ok: code == 0,
                            output: text.into(),
                            duration_ms: None,
                            extra,
                        },
                    ));
                }
            }
            _ => {}
        }
    }
    if calls == 0 {
        if let Some(stats) = info.get("model_stats").filter(|s| s.is_object()) {
            let mut extra = Map::new();
            extra.insert(
                "api_calls".into(),
                stats.get("api_calls").cloned().unwrap_or(Value::Null),
            );
            parsed.aggregate = Some(LlmUse {
                model: config_model,
                provider: None,
                usage: Usage::default(),
                cache_known: false,
                cost_usd: stats.get("instance_cost").and_then(Value::as_f64),
                raw_usage: stats.clone(),
                extra,
            });
        }
    }
    if let Some(exit) = str_at(&info, &["exit_status"]) {
        parsed.ended = true;
        parsed.outcome = Some(Outcome {
            status: if exit == "Submitted" {
                "completed"
            } else {
                "failed"
            }
            .into(),
            result: json!({
                "exit_status": exit,
                "submission": info.get("submission"),
                "model_stats": info.get("model_stats"),
            }),
        });
    }
    Ok(parsed)
}

/// The command of the first ```` ```bash ```` block.
fn bash_block(text: &str) -> Option<String> {
    let start = text.find("```bash")? + "```bash".len();
    let rest = &text[start..];
    let end = rest.find("```")?;
    Some(rest[..end].trim().to_owned())
}

/// N of `<returncode>N</returncode>`.
fn return_code(text: &str) -> Option<i64> {
    let start = text.find("<returncode>")? + "<returncode>".len();
    let end = text[start..].find("</returncode>")? + start;
    text[start..end].trim().parse().ok()
}

fn llm_call(response: &Value, config_model: Option<&str>) -> Option<LlmUse> {
    let usage = response.get("usage").filter(|u| u.is_object())?;
    let n = |p: &[&str]| u64_at(usage, p).unwrap_or(0);
    let mut extra = Map::new();
    if let Some(id) = str_at(response, &["id"]) {
        extra.insert("response_id".into(), id.into());
    }
    if let Some(p) = str_at(response, &["provider"]) {
        extra.insert("upstream_provider".into(), p.into());
    }
    Some(LlmUse {
        model: str_at(response, &["model"])
            .or(config_model)
            .map(str::to_owned),
        provider: None,
        usage: Usage {
            input: n(&["prompt_tokens"]),
            output: n(&["completion_tokens"]),
            cache_read: n(&["prompt_tokens_details", "cached_tokens"]),
            cache_creation: n(&["prompt_tokens_details", "cache_write_tokens"]),
            cache_creation_1h: 0,
            reasoning: n(&["completion_tokens_details", "reasoning_tokens"]),
        },
        cache_known: true,
        cost_usd: usage.get("cost").and_then(Value::as_f64),
        raw_usage: usage.clone(),
        extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_are_calls_and_commands() {
        let src = r#"{"trajectory_format":"mini-swe-agent-1","instance_id":"i-1",
          "info":{"exit_status":"Submitted","submission":"diff","mini_version":"1.15.0","model_stats":{"instance_cost":0.5,"api_calls":1},"config":{"model":{"model_name":"m"}}},
          "messages":[{"role":"system","content":"s"},{"role":"user","content":"task"},
            {"role":"assistant","content":"THOUGHT: x\n\n```bash\nls -la\n```","extra":{"response":{"id":"r1","model":"m","usage":{"prompt_tokens":100,"completion_tokens":20,"cost":0.5,"prompt_tokens_details":{"cached_tokens":30},"completion_tokens_details":{"reasoning_tokens":5}}}}},
            {"role":"user","content":"<returncode>2</returncode>\n<output>\nno\n</output>"}]}"#;
        let p = parse(Path::new("/x/i-1.traj.json"), src.as_bytes()).unwrap();
        assert_eq!(p.session_id.as_deref(), Some("i-1"));
        assert!(p.aggregate.is_none());
        assert!(p.events.iter().any(|n| matches!(&n.body,
            Body::ToolStart { input, .. } if input["command"] == "ls -la")));
        assert!(p
            .events
            .iter()
            .any(|n| matches!(&n.body, Body::ToolEnd { ok: false, .. })));
        let call = p.events.iter().find_map(|n| match &n.body {
            Body::LlmCall(c) => Some(c.clone()),
            _ => None,
        });
        let call = call.unwrap();
        assert_eq!(
            (
                call.usage.input,
                call.usage.cache_read,
                call.usage.reasoning
            ),
            (100, 30, 5)
        );
        assert_eq!(call.cost_usd, Some(0.5));
        assert_eq!(p.outcome.map(|o| o.status), Some("completed".into()));
    }
}
