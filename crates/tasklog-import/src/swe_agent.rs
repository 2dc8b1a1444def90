//! SWE-agent trajectories (`<instance>.traj`): one JSON document with
//! `trajectory[]` steps `{action, observation, response, thought,
//! execution_time, state}`, `history[]` chat messages, and `info` with
//! `model_stats {instance_cost, tokens_sent, tokens_received, api_calls}`,
//! `exit_status` and `submission`.
//!
//! The trajectory has no per-call usage, only run totals, so the run is one
//! `llm.call` carrying `model_stats` (with `api_calls`). When a trajectory
//! is imported again after it grew, only the difference from the totals
//! already imported is written, so sums over `llm.call` stay right.
//!
//! Element numbers (for re-imports): step *k* of the trajectory is unit
//! *k*; a history message belongs to the step of the assistant message
//! that precedes it (messages before the first one belong to step 1).

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
    let Some(steps) = doc.get("trajectory").and_then(Value::as_array) else {
        return Ok(parsed);
    };
    parsed.recognized = 1 + steps.len();
    let info = doc.get("info").cloned().unwrap_or(Value::Null);
    parsed.session_id = Some(file_stem(path));
    parsed.format_version = str_at(&info, &["swe_agent_version"]).map(str::to_owned);
    let config = replay_config(&doc);
    let model = str_at(&config, &["agent", "model", "name"]).map(str::to_owned);
    if let Some(id) = str_at(&config, &["problem_statement", "id"]) {
        parsed.task_fields.insert("title".into(), id.into());
    }
    if let Some(url) = str_at(&config, &["problem_statement", "github_url"]) {
        parsed.task_fields.insert("issue_url".into(), url.into());
    }
    let mut assistants = 0usize;
    for message in doc
        .get("history")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let role = str_at(message, &["role"]).unwrap_or("user").to_owned();
        if role == "assistant" {
            assistants += 1;
        }
        let mut extra = Map::new();
        for key in ["agent", "message_type"] {
            if let Some(v) = message.get(key) {
                extra.insert(key.into(), v.clone());
            }
        }
        parsed.events.push(Norm {
            line: assistants.max(1),
            ts: None,
            key: None,
            open: false,
            body: Body::Message {
                role,
                content: message.get("content").cloned().unwrap_or(Value::Null),
                extra,
            },
        });
    }
    for (i, step) in steps.iter().enumerate() {
        let k = i + 1;
        let action = str_at(step, &["action"]).unwrap_or_default().to_owned();
        let tool = action
            .split_whitespace()
            .next()
            .unwrap_or("action")
            .to_owned();
        let call_id = format!("step-{k}");
        let duration_ms = step
            .get("execution_time")
            .and_then(Value::as_f64)
            .map(|s| (s * 1e6).round() / 1e3);
        let mut bodies = vec![
            Body::Decision {
                name: "next_action".into(),
                input: json!({ "step": k, "state": step.get("state") }),
                output: json!({ "action": action }),
                reason: str_at(step, &["thought"]).unwrap_or_default().to_owned(),
                duration_ms: None,
            },
            Body::ToolStart {
                call_id: call_id.clone(),
                name: tool.clone(),
                input: json!({ "command": action }),
            },
        ];
        bodies.push(Body::ToolEnd {
            call_id,
            name: tool,
            ok: true,
            output: step.get("observation").cloned().unwrap_or(Value::Null),
            duration_ms,
            extra: Map::new(),
        });
        parsed.events.extend(bodies.into_iter().map(|body| Norm {
            line: k,
            ts: None,
            key: None,
            open: false,
            body,
        }));
    }
    parsed.units = steps.len().max(assistants);
    if let Some(stats) = info.get("model_stats").filter(|s| s.is_object()) {
        let mut extra = Map::new();
        extra.insert(
            "api_calls".into(),
            stats.get("api_calls").cloned().unwrap_or(Value::Null),
        );
        parsed.aggregate = Some(LlmUse {
            model,
            provider: None,
            usage: Usage {
                input: u64_at(stats, &["tokens_sent"]).unwrap_or(0),
                output: u64_at(stats, &["tokens_received"]).unwrap_or(0),
                ..Usage::default()
            },
            cache_known: false,
            cost_usd: stats.get("instance_cost").and_then(Value::as_f64),
            raw_usage: stats.clone(),
            extra,
        });
    }
    if let Some(exit) = str_at(&info, &["exit_status"]) {
        parsed.ended = true;
        let status = if exit.starts_with("submitted") {
            "completed"
        } else {
            "failed"
        };
        parsed.outcome = Some(Outcome {
            status: status.into(),
            result: json!({
                "exit_status": exit,
                "submission": info.get("submission"),
                "model_stats": info.get("model_stats"),
            }),
        });
    }
    Ok(parsed)
}

/// `replay_config` is an object in SWE-agent 1.x and a JSON string in some
/// versions; either way, the configuration as a value.
fn replay_config(doc: &Value) -> Value {
    match doc.get("replay_config") {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
        Some(v) => v.clone(),
        None => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_become_decisions_and_timed_tool_calls() {
        let src = r#"{"trajectory":[{"action":"ls -la","observation":"x","thought":"look","execution_time":0.5,"state":{}}],
            "history":[{"role":"system","content":"s"},{"role":"assistant","content":"a"},{"role":"tool","content":"x"}],
            "info":{"exit_status":"submitted","model_stats":{"instance_cost":0.5,"tokens_sent":10,"tokens_received":2,"api_calls":1}},
            "replay_config":"{\"agent\":{\"model\":{\"name\":\"gpt-4o\"}}}"}"#;
        let p = parse(Path::new("/x/inst-1.traj"), src.as_bytes()).unwrap();
        assert_eq!(p.session_id.as_deref(), Some("inst-1"));
        let agg = p.aggregate.unwrap();
        assert_eq!((agg.usage.input, agg.usage.output), (10, 2));
        assert_eq!(agg.model.as_deref(), Some("gpt-4o"));
        assert!(p.events.iter().any(|n| matches!(&n.body,
            Body::ToolEnd { name, duration_ms: Some(d), .. } if name == "ls" && *d == 500.0)));
        assert_eq!(p.outcome.map(|o| o.status), Some("completed".into()));
    }

    #[test]
    fn not_json_names_the_line() {
        let err = parse(Path::new("t.traj"), b"{\n\"trajectory\": [").unwrap_err();
        assert!(err.to_string().starts_with("t.traj:2:"), "{err}");
    }
}
