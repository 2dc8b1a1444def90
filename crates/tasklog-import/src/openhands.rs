//! OpenHands event streams: a JSON array of events `{id, timestamp, source,
//! action | observation, cause, args, extras, tool_call_metadata}`.
//!
//! - An action is a tool call (`message`, `finish`, `think` and `system`
//!   excepted, and environment events: `change_agent_state`, `recall`, an
//!   action of `source: environment` without tool metadata, which become
//!   `system` events); the observation whose `cause` is the tool call's
//!   `id` ends it. A non-zero exit code (`extras.metadata.exit_code`, or
//!   `extras.exit_code` in older versions) or an `error` observation makes
//!   a `tool.fail`; the duration is the difference of the two timestamps.
//! - Usage sits in `tool_call_metadata.model_response.usage` and is
//!   repeated on every event of one model response (the action and its
//!   observation): one `llm.call` per distinct `model_response.id`.
//!   LiteLLM's `prompt_tokens` already include cache reads and writes
//!   (OpenTelemetry semantics).
//! - Timestamps have no zone; OpenHands writes UTC.
//! - The array has no session id; the file name stands for it (a session
//!   folder's name, assemble.rs).
//! - Evaluation output (`output.jsonl`) holds one `{instance_id,
//!   instruction, history, metrics, test_result}` per line; each line is
//!   its own source (`output.jsonl#<byte offset>`, assemble.rs), read as
//!   its `history` with `instance_id` as the session id and title.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::error::Result;
use crate::model::{Body, LlmUse, Norm, Outcome, Parsed, Usage};
use crate::source::{between_ms, file_stem, norm_ts, parse_document, str_at, u64_at};

/// Parses an event array. `Err` only when the document is not JSON.
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<Parsed> {
    let doc = parse_document(path, bytes)?;
    let mut parsed = Parsed {
        consumed: bytes.len(),
        document: true,
        // A session folder's `events` (assemble.rs) is named by its session.
        session_id: Some(
            crate::assemble::openhands_session(path).unwrap_or_else(|| file_stem(path)),
        ),
        ..Parsed::default()
    };
    // An evaluation output line: its history, named by its instance.
    let instance = doc
        .get("history")
        .filter(|h| h.is_array())
        .and(str_at(&doc, &["instance_id"]));
    if let Some(id) = instance {
        parsed.session_id = Some(id.to_owned());
        parsed.task_fields.insert("title".into(), id.into());
        parsed.task_fields.insert("instance_id".into(), id.into());
        if let Some(m) = doc.get("metrics").filter(|m| !m.is_null()) {
            parsed.task_fields.insert("eval_metrics".into(), m.clone());
        }
    }
    let events = match instance {
        Some(_) => doc.get("history").and_then(Value::as_array),
        None => doc.as_array(),
    };
    let Some(events) = events else {
        return Ok(parsed);
    };
    parsed.units = events.len();
    let mut actions: HashMap<i64, (String, Option<String>)> = HashMap::new();
    let mut responses: HashSet<String> = HashSet::new();
    for (i, ev) in events.iter().enumerate() {
        let line = i + 1;
        let ts_raw = str_at(ev, &["timestamp"]);
        let ts = ts_raw.and_then(norm_ts);
        let id = ev.get("id").and_then(Value::as_i64);
        let mut out = Vec::new();
        let mut key = None;
        if let Some(action) = str_at(ev, &["action"]) {
            parsed.recognized += 1;
            let tool = action_event(ev, action, &mut out, &mut parsed.outcome);
            parsed.ended |= action == "finish";
            if let Some(id) = id.filter(|_| tool) {
                let name = tool_name(ev, action);
                actions.insert(id, (name, ts_raw.map(str::to_owned)));
            }
        } else if let Some(obs) = str_at(ev, &["observation"]) {
            parsed.recognized += 1;
            observation(ev, obs, ts_raw, &actions, &mut out);
        } else {
            *parsed
                .unknown_types
                .entry("(no action or observation)".into())
                .or_default() += 1;
        }
        if let Some((rid, call)) = llm_call(ev) {
            if responses.insert(rid.clone()) {
                key = Some(format!("llm:{rid}"));
                out.push(Body::LlmCall(call));
            }
        }
        for body in out {
            let is_llm = matches!(body, Body::LlmCall(_));
            parsed.events.push(Norm {
                line,
                ts: ts.clone(),
                key: if is_llm { key.clone() } else { None },
                open: false,
                body,
            });
        }
    }
    Ok(parsed)
}

fn tool_name(ev: &Value, action: &str) -> String {
    str_at(ev, &["tool_call_metadata", "function_name"])
        .unwrap_or(action)
        .to_owned()
}

fn role_of(ev: &Value) -> String {
    match str_at(ev, &["source"]) {
        Some("agent") => "assistant".into(),
        Some(s) => s.to_owned(),
        None => "user".into(),
    }
}

/// Actions that are not tool calls: the environment's and the
/// controller's own events (an agent-state change, a memory recall).
const NOT_TOOLS: [&str; 5] = ["change_agent_state", "recall", "null", "", "system"];

/// Whether an action is a tool call: not one of [`NOT_TOOLS`], and not an
/// environment event without tool metadata.
fn is_tool(ev: &Value, action: &str) -> bool {
    let environment = str_at(ev, &["source"]) == Some("environment")
        && ev.get("tool_call_metadata").is_none_or(Value::is_null);
    !NOT_TOOLS.contains(&action) && !environment
}

/// Normalizes one action; true when it is a tool call (its observation ends it).
fn action_event(
    ev: &Value,
    action: &str,
    out: &mut Vec<Body>,
    outcome: &mut Option<Outcome>,
) -> bool {
    let args = ev.get("args").cloned().unwrap_or(Value::Null);
    let message = str_at(ev, &["message"]).unwrap_or_default().to_owned();
    if let Some(thought) = str_at(&args, &["thought"]).filter(|t| !t.is_empty()) {
        if action != "think" {
            out.push(Body::Reasoning {
                text: thought.into(),
            });
        }
    }
    match action {
        "message" | "system" => out.push(Body::Message {
            role: if action == "system" {
                "system".into()
            } else {
                role_of(ev)
            },
            content: args
                .get("content")
                .cloned()
                .unwrap_or_else(|| message.into()),
            extra: Map::new(),
        }),
        "think" => out.push(Body::Reasoning {
            text: args.get("thought").cloned().unwrap_or(Value::Null),
        }),
        "finish" => {
            out.push(Body::Message {
                role: role_of(ev),
                content: message.clone().into(),
                extra: Map::new(),
            });
            *outcome = Some(Outcome {
                status: "completed".into(),
                result: json!({ "summary": message, "outputs": args.get("outputs") }),
            });
        }
        _ if is_tool(ev, action) => {
            out.push(Body::ToolStart {
                call_id: format!("oh-{}", ev.get("id").unwrap_or(&Value::Null)),
                name: tool_name(ev, action),
                input: args,
            });
            return true;
        }
        _ => out.push(Body::System {
            severity: "info".into(),
            message: if message.is_empty() {
                action.to_owned()
            } else {
                message
            },
            details: json!({ "action": action, "source": ev.get("source"), "args": args }),
        }),
    }
    false
}

fn observation(
    ev: &Value,
    obs: &str,
    ts: Option<&str>,
    actions: &HashMap<i64, (String, Option<String>)>,
    out: &mut Vec<Body>,
) {
    let cause = ev.get("cause").and_then(Value::as_i64);
    let started = cause.and_then(|c| actions.get(&c));
    let Some((name, start_ts)) = started else {
        // Not the answer to an action: a state change (agent_state_changed,
        // user_rejected, ...), kept as a system event.
        out.push(Body::System {
            severity: if obs == "error" { "error" } else { "info" }.into(),
            message: str_at(ev, &["message"]).unwrap_or(obs).to_owned(),
            details: json!({ "observation": obs, "extras": ev.get("extras") }),
        });
        return;
    };
    // Older versions write `extras.exit_code`; current ones
    // `extras.metadata.exit_code`.
    let exit_code = ev
        .pointer("/extras/metadata/exit_code")
        .and_then(Value::as_i64)
        .or_else(|| ev.pointer("/extras/exit_code").and_then(Value::as_i64));
    let mut extra = Map::new();
    extra.insert("observation".into(), obs.into());
    if let Some(code) = exit_code {
        extra.insert("exit_code".into(), code.into());
    }
    out.push(Body::ToolEnd {
        call_id: format!("oh-{}", cause.unwrap_or_default()),
        name: name.clone(),
        ok: obs != "error" && exit_code.is_none_or(|c| c == 0),
        output: ev.get("content").cloned().unwrap_or(Value::Null),
        duration_ms: match (start_ts.as_deref(), ts) {
            (Some(a), Some(b)) => between_ms(a, b),
            _ => None,
        },
        extra,
    });
}

fn llm_call(ev: &Value) -> Option<(String, LlmUse)> {
    let response = ev.pointer("/tool_call_metadata/model_response")?;
    let usage = response.get("usage").filter(|u| u.is_object())?;
    let id = str_at(response, &["id"]).unwrap_or_default().to_owned();
    let cache_read = u64_at(usage, &["cache_read_input_tokens"])
        .or_else(|| u64_at(usage, &["prompt_tokens_details", "cached_tokens"]))
        .unwrap_or(0);
    let mut extra = Map::new();
    extra.insert("response_id".into(), id.clone().into());
    Some((
        id,
        LlmUse {
            model: str_at(response, &["model"]).map(str::to_owned),
            provider: None,
            usage: Usage {
                input: u64_at(usage, &["prompt_tokens"]).unwrap_or(0),
                output: u64_at(usage, &["completion_tokens"]).unwrap_or(0),
                cache_read,
                cache_creation: u64_at(usage, &["cache_creation_input_tokens"]).unwrap_or(0),
                cache_creation_1h: 0,
                reasoning: u64_at(usage, &["completion_tokens_details", "reasoning_tokens"])
                    .unwrap_or(0),
            },
            cache_known: true,
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
    fn actions_pair_with_observations_and_usage_counts_once() {
        let src = r#"[
          {"id":1,"timestamp":"2025-01-27T22:45:13.000000","source":"agent","action":"run","args":{"command":"false"},
           "tool_call_metadata":{"function_name":"bash","model_response":{"id":"r1","model":"m","usage":{"prompt_tokens":100,"completion_tokens":5,"cache_read_input_tokens":40}}}},
          {"id":2,"timestamp":"2025-01-27T22:45:14.250000","source":"agent","observation":"run","cause":1,"content":"","extras":{"exit_code":1},
           "tool_call_metadata":{"function_name":"bash","model_response":{"id":"r1","model":"m","usage":{"prompt_tokens":100,"completion_tokens":5}}}},
          {"id":3,"source":"environment","observation":"agent_state_changed","cause":null},
          {"id":4},
          {"id":5,"timestamp":"2025-01-27T22:45:15","source":"environment","action":"change_agent_state","args":{"agent_state":"running"}},
          {"id":6,"timestamp":"2025-01-27T22:45:16","source":"agent","action":"run","args":{"command":"make"},"tool_call_metadata":{"function_name":"execute_bash"}},
          {"id":7,"timestamp":"2025-01-27T22:45:17","source":"agent","observation":"run","cause":6,"content":"","extras":{"metadata":{"exit_code":2}}},
          {"id":8,"timestamp":"2025-01-27T22:45:18","source":"user","action":"recall","args":{"query":"x"}},
          {"id":9,"timestamp":"2025-01-27T22:45:18","source":"environment","observation":"recall","cause":8}
        ]"#;
        let p = parse(Path::new("basic.json"), src.as_bytes()).unwrap();
        let calls: Vec<_> = p
            .events
            .iter()
            .filter(|n| matches!(n.body, Body::LlmCall(_)))
            .collect();
        assert_eq!(calls.len(), 1);
        assert!(p.events.iter().any(|n| matches!(&n.body,
            Body::ToolEnd { name, ok: false, duration_ms: Some(d), .. } if name == "bash" && *d == 1250.0)));
        assert_eq!(p.unknown_types.values().sum::<u64>(), 1);
        assert_eq!(p.recognized, 8);
        // The state change and the recall are not tool calls; the exit code
        // in `extras.metadata` fails its command.
        let starts = p
            .events
            .iter()
            .filter(|n| matches!(n.body, Body::ToolStart { .. }))
            .count();
        assert_eq!(starts, 2);
        assert!(p.events.iter().any(|n| matches!(&n.body,
            Body::ToolEnd { name, ok: false, extra, .. } if name == "execute_bash" && extra["exit_code"] == 2)));
        let ends = p
            .events
            .iter()
            .filter(|n| matches!(n.body, Body::ToolEnd { .. }))
            .count();
        assert_eq!(ends, 2);
    }
}
