//! OpenCode sessions, as `opencode export <session>` writes them: one JSON
//! document `{info: {id, slug, version, directory, title, time}, messages:
//! [{info: {id, role, modelID, providerID, tokens, cost, time}, parts:
//! [...]}]}`; times are milliseconds since the epoch.
//!
//! - Parts: `text` → `message`, `reasoning` → `reasoning`, `tool` (one part
//!   per call, `state {status, input, output | error, time {start, end}}`)
//!   → `tool.start` + `tool.complete`/`tool.fail`, `step-finish` (one per
//!   model request, with its `tokens` and `cost`) → `llm.call`. A message
//!   without `step-finish` parts is one call from `info.tokens`.
//! - `tokens`: `input` excludes the cache (`cache.read`, `cache.write` are
//!   apart), `output` excludes `reasoning`, which OpenCode prices at the
//!   output rate. OpenTelemetry: `input_tokens` = input + cache.read +
//!   cache.write, `output_tokens` = output + reasoning,
//!   `reasoning.output_tokens` = reasoning. `cost` is OpenCode's own
//!   estimate in USD (0 for subscription providers); it is imported when
//!   it is not zero.
//! - Element *k* (for re-imports) is message *k*.

use std::path::Path;

use serde_json::{json, Map, Value};

use crate::error::Result;
use crate::model::{Body, LlmUse, Norm, Outcome, Parsed, Usage};
use crate::source::{file_stem, parse_document, str_at, text_of, ts_from_ms, u64_at};

/// Parses an export. `Err` only when the document is not JSON.
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<Parsed> {
    let doc = parse_document(path, bytes)?;
    let mut parsed = Parsed {
        consumed: bytes.len(),
        document: true,
        // An export is a snapshot taken by the user, not a live log.
        ended: true,
        ..Parsed::default()
    };
    let Some(messages) = doc.get("messages").and_then(Value::as_array) else {
        return Ok(parsed);
    };
    let info = doc.get("info").cloned().unwrap_or(Value::Null);
    parsed.recognized = 1;
    parsed.units = messages.len();
    parsed.session_id = Some(
        str_at(&info, &["id"])
            .map(str::to_owned)
            .unwrap_or_else(|| file_stem(path)),
    );
    parsed.format_version = str_at(&info, &["version"]).map(str::to_owned);
    for (from, to) in [("title", "title"), ("directory", "cwd"), ("slug", "slug")] {
        if let Some(s) = str_at(&info, &[from]) {
            parsed.task_fields.insert(to.into(), s.into());
        }
    }
    let mut last_text = None;
    for (i, message) in messages.iter().enumerate() {
        parsed.recognized += 1;
        let line = i + 1;
        let minfo = message.get("info").cloned().unwrap_or(Value::Null);
        let role = str_at(&minfo, &["role"]).unwrap_or("user").to_owned();
        let ts = minfo.pointer("/time/created").and_then(ts_from_ms);
        let mut steps = 0;
        for part in message
            .get("parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let before = parsed.events.len();
            let part_id = str_at(part, &["id"]).map(str::to_owned);
            let part_ts = part
                .pointer("/time/start")
                .and_then(ts_from_ms)
                .or(ts.clone());
            match str_at(part, &["type"]).unwrap_or("") {
                "text" => {
                    let text = part.get("text").cloned().unwrap_or(Value::Null);
                    if role == "assistant" {
                        last_text = text_of(&text).or(last_text);
                    }
                    parsed.events.push(Norm::new(
                        line,
                        part_ts,
                        Body::Message {
                            role: role.clone(),
                            content: text,
                            extra: Map::new(),
                        },
                    ));
                }
                "reasoning" => parsed.events.push(Norm::new(
                    line,
                    part_ts,
                    Body::Reasoning {
                        text: part.get("text").cloned().unwrap_or(Value::Null),
                    },
                )),
                "tool" => tool(line, part, &mut parsed),
                "step-finish" => {
                    steps += 1;
                    let call = llm_call(&minfo, part);
                    parsed
                        .events
                        .push(Norm::new(line, ts.clone(), Body::LlmCall(call)));
                }
                "step-start" | "patch" | "file" | "snapshot" | "agent" | "subtask"
                | "compaction" | "retry" => {}
                other => {
                    *parsed
                        .unknown_types
                        .entry(format!("part/{other}"))
                        .or_default() += 1;
                }
            }
            // Parts have ids: a re-exported session whose last message
            // gained parts (or whose tool call finished) adds just those.
            if let Some(id) = part_id {
                for (i, norm) in parsed.events[before..].iter_mut().enumerate() {
                    let prefix = if matches!(norm.body, Body::LlmCall(_)) {
                        "llm:opencode"
                    } else {
                        "opencode"
                    };
                    norm.key = Some(format!("{prefix}:{id}#{}", end_or_start(&norm.body, i)));
                }
            }
        }
        if steps == 0 && role == "assistant" && minfo.get("tokens").is_some_and(Value::is_object) {
            let call = llm_call(&minfo, &minfo);
            parsed.events.push(Norm::new(line, ts, Body::LlmCall(call)));
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

/// The key suffix of one event of a part: a tool part yields a start and
/// (once finished) an end; other parts yield one event.
fn end_or_start(body: &Body, i: usize) -> String {
    match body {
        Body::ToolEnd { .. } => "end".into(),
        _ => i.to_string(),
    }
}

fn tool(line: usize, part: &Value, parsed: &mut Parsed) {
    let call_id = str_at(part, &["callID"])
        .or_else(|| str_at(part, &["id"]))
        .unwrap_or_default()
        .to_owned();
    let name = str_at(part, &["tool"]).unwrap_or("unknown").to_owned();
    let state = part.get("state").cloned().unwrap_or(Value::Null);
    let start = state.pointer("/time/start");
    let end = state.pointer("/time/end");
    parsed.events.push(Norm::new(
        line,
        start.and_then(ts_from_ms),
        Body::ToolStart {
            call_id: call_id.clone(),
            name: name.clone(),
            input: state.get("input").cloned().unwrap_or(Value::Null),
        },
    ));
    let status = str_at(&state, &["status"]).unwrap_or("");
    if !matches!(status, "completed" | "error") {
        return; // pending or running: no end yet
    }
    let ok = status == "completed";
    let output = state
        .get(if ok { "output" } else { "error" })
        .cloned()
        .unwrap_or(Value::Null);
    let duration_ms = match (start.and_then(Value::as_f64), end.and_then(Value::as_f64)) {
        (Some(a), Some(b)) if b >= a => Some(b - a),
        _ => None,
    };
    let mut extra = Map::new();
    if let Some(title) = state.get("title") {
        extra.insert("title".into(), title.clone());
    }
    parsed.events.push(Norm::new(
        line,
        end.and_then(ts_from_ms),
        Body::ToolEnd {
            call_id,
            name,
            ok,
            output,
            duration_ms,
            extra,
        },
    ));
}

/// One model request: `holder` has `tokens` and `cost` (a `step-finish`
/// part, or the message info itself).
fn llm_call(info: &Value, holder: &Value) -> LlmUse {
    let t = holder.get("tokens").cloned().unwrap_or(Value::Null);
    let n = |p: &[&str]| u64_at(&t, p).unwrap_or(0);
    let (read, write) = (n(&["cache", "read"]), n(&["cache", "write"]));
    let mut extra = Map::new();
    if let Some(id) = str_at(info, &["id"]) {
        extra.insert("message_id".into(), id.into());
    }
    if let Some(reason) = str_at(holder, &["reason"]) {
        extra.insert("finish_reason".into(), reason.into());
    }
    LlmUse {
        model: str_at(info, &["modelID"]).map(str::to_owned),
        provider: str_at(info, &["providerID"]).map(provider),
        usage: Usage {
            input: n(&["input"]) + read + write,
            output: n(&["output"]) + n(&["reasoning"]),
            cache_read: read,
            cache_creation: write,
            cache_creation_1h: 0,
            reasoning: n(&["reasoning"]),
        },
        cache_known: true,
        cost_usd: holder
            .get("cost")
            .and_then(Value::as_f64)
            .filter(|c| *c > 0.0),
        raw_usage: t,
        extra,
    }
}

/// OpenCode's provider id as an OpenTelemetry provider name, where one fits.
fn provider(id: &str) -> &'static str {
    match id {
        "anthropic" => "anthropic",
        "openai" => "openai",
        "google" => "gcp.gemini",
        "amazon-bedrock" => "aws.bedrock",
        "azure" => "azure.ai.openai",
        "github-copilot" => "github_copilot",
        "openrouter" => "openrouter",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_calls_and_tool_parts_are_pairs() {
        let src = r#"{"info":{"id":"ses_1","version":"1.1.0","title":"t"},"messages":[
          {"info":{"id":"m0","role":"user","time":{"created":1769203363105}},"parts":[{"type":"text","text":"go"}]},
          {"info":{"id":"m1","role":"assistant","modelID":"gpt-x","providerID":"openai","time":{"created":1769203364000},
                   "tokens":{"input":10,"output":5,"reasoning":3,"cache":{"read":100,"write":0}},"cost":0},
           "parts":[{"type":"step-start"},{"type":"reasoning","text":"hm"},
             {"type":"tool","callID":"c1","tool":"bash","state":{"status":"error","input":{"command":"x"},"error":"boom","time":{"start":1769203364100,"end":1769203364350}}},
             {"type":"step-finish","reason":"tool-calls","cost":0.25,"tokens":{"input":10,"output":5,"reasoning":3,"cache":{"read":100,"write":0}}},
             {"type":"text","text":"done"}]}]}"#;
        let p = parse(Path::new("x.json"), src.as_bytes()).unwrap();
        assert_eq!(p.session_id.as_deref(), Some("ses_1"));
        let calls: Vec<_> = p
            .events
            .iter()
            .filter_map(|n| match &n.body {
                Body::LlmCall(c) => Some(c.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(calls.len(), 1);
        assert_eq!((calls[0].usage.input, calls[0].usage.output), (110, 8));
        assert_eq!(calls[0].cost_usd, Some(0.25));
        assert!(p.events.iter().any(|n| matches!(&n.body,
            Body::ToolEnd { ok: false, duration_ms: Some(d), .. } if *d == 250.0)));
        assert_eq!(
            p.outcome.map(|o| o.result["summary"].clone()),
            Some("done".into())
        );
    }
}
