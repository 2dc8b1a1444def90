//! Gemini CLI chat recordings: the JSON Lines recording
//! (`~/.gemini/tmp/<project>/chats/session-*.jsonl`: a header line
//! `{sessionId, projectHash, startTime, ...}`, then one line per message
//! `{id, timestamp, type, content, thoughts, tokens, model, toolCalls}`,
//! and `{"$set": {...}}` lines updating the header), and the older JSON
//! document (`{sessionId, projectHash, startTime, lastUpdated, messages}`).
//!
//! Rules that make the totals right:
//! - The recording re-writes a message by appending it again with the same
//!   `id` (a response is written when it arrives, then again when its tool
//!   calls have results). Every event is keyed by the message id (and the
//!   tool call id), so each is written once, from its first version; the
//!   model call of a `gemini` message is one `llm.call` per id with the
//!   largest counts of its versions. The last response of the recording is
//!   *open* (a re-write may still come), like Claude Code's.
//! - `tokens` are Gemini's usage metadata: `input` (the prompt, cached
//!   tokens included), `cached`, `output` (candidates, thoughts excluded),
//!   `thoughts`, `tool` (tool-use prompt) and `total` = input + output +
//!   thoughts + tool. OpenTelemetry: `input_tokens` = input + tool,
//!   `output_tokens` = output + thoughts (thoughts are billed as output),
//!   `cache_read.input_tokens` = cached, `reasoning.output_tokens` = thoughts.
//! - Gemini CLI records no cost.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value};

use crate::error::Result;
use crate::model::{Body, LlmUse, Norm, Parsed, Usage};
use crate::source::{
    between_ms, file_stem, norm_ts, parse_document, parse_jsonl, str_at, text_of, u64_at,
};

/// Parses a recording (JSON Lines) or a chat document (one JSON object).
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<Parsed> {
    if is_document(bytes) {
        let doc = parse_document(path, bytes)?;
        let mut parsed = Parsed {
            consumed: bytes.len(),
            document: true,
            ..Parsed::default()
        };
        let mut reader = Reader::default();
        header(&doc, &mut parsed);
        let messages = doc.get("messages").and_then(Value::as_array);
        for (i, m) in messages.into_iter().flatten().enumerate() {
            reader.record(i + 1, m, &mut parsed);
        }
        parsed.units = messages.map_or(0, Vec::len);
        return Ok(reader.finish(path, parsed));
    }
    let (mut parsed, values) = parse_jsonl(bytes);
    let mut reader = Reader::default();
    for (line, v) in values {
        if v.get("$set").is_some() {
            parsed.recognized += 1; // header updates: kept verbatim
        } else if v.get("projectHash").is_some() || v.get("startTime").is_some() {
            header(&v, &mut parsed);
        } else {
            reader.record(line, &v, &mut parsed);
        }
    }
    Ok(reader.finish(path, parsed))
}

/// A chat document is one JSON object with `messages`; a recording is
/// lines. Only the first non-blank line decides, so a recording whose
/// header is its only line still reads as a recording.
fn is_document(bytes: &[u8]) -> bool {
    let first = bytes
        .split(|&b| b == b'\n')
        .find(|l| !l.iter().all(u8::is_ascii_whitespace))
        .unwrap_or_default();
    match serde_json::from_slice::<Value>(first) {
        Ok(v) => v.get("messages").is_some(),
        Err(_) => true, // a pretty-printed document: its first line is `{`
    }
}

fn header(v: &Value, parsed: &mut Parsed) {
    parsed.recognized += 1;
    if let Some(id) = str_at(v, &["sessionId"]) {
        parsed.session_id.get_or_insert_with(|| id.to_owned());
    }
    for (from, to) in [("projectHash", "project_hash"), ("kind", "kind")] {
        if let Some(s) = str_at(v, &[from]) {
            parsed.task_fields.insert(to.into(), s.into());
        }
    }
}

#[derive(Default)]
struct Reader {
    /// Call key → index of its `llm.call` in `Parsed::events`.
    calls: HashMap<String, usize>,
    /// The key of the last response: it may still be re-written.
    last_call: Option<String>,
    /// Keys of events already produced (first version wins).
    emitted: std::collections::HashSet<String>,
    last_text: Option<String>,
}

impl Reader {
    fn record(&mut self, line: usize, v: &Value, parsed: &mut Parsed) {
        let kind = str_at(v, &["type"]).unwrap_or("");
        let id = str_at(v, &["id"]).unwrap_or_default().to_owned();
        let ts_raw = str_at(v, &["timestamp"]);
        let ts = ts_raw.and_then(norm_ts);
        let mut out: Vec<(String, Body)> = Vec::new();
        match kind {
            "user" => out.push((
                format!("gemini:{id}:message"),
                Body::Message {
                    role: "user".into(),
                    content: v.get("content").cloned().unwrap_or(Value::Null),
                    extra: Map::new(),
                },
            )),
            "gemini" => self.response(line, v, &id, ts_raw, parsed, &mut out),
            "info" | "error" | "warning" => out.push((
                format!("gemini:{id}:system"),
                Body::System {
                    severity: kind.into(),
                    message: text_of(v.get("content").unwrap_or(&Value::Null)).unwrap_or_default(),
                    details: Value::Null,
                },
            )),
            other => {
                let label = if other.is_empty() { "(no type)" } else { other };
                *parsed.unknown_types.entry(label.to_owned()).or_default() += 1;
                return;
            }
        }
        parsed.recognized += 1;
        for (key, body) in out {
            if self.emitted.insert(key.clone()) {
                parsed.events.push(Norm {
                    key: Some(key),
                    ..Norm::new(line, ts.clone(), body)
                });
            }
        }
    }

    fn response(
        &mut self,
        line: usize,
        v: &Value,
        id: &str,
        ts_raw: Option<&str>,
        parsed: &mut Parsed,
        out: &mut Vec<(String, Body)>,
    ) {
        if let Some(tokens) = v.get("tokens").filter(|t| t.is_object()) {
            let key = format!("llm:gemini:{id}");
            let call = llm_call(v, tokens);
            self.last_call = Some(key.clone());
            match self.calls.get(&key) {
                Some(&slot) => {
                    if let Some(Body::LlmCall(old)) =
                        parsed.events.get_mut(slot).map(|n| &mut n.body)
                    {
                        old.usage = old.usage.max(&call.usage);
                        old.raw_usage = call.raw_usage;
                        flag_zero_usage(old);
                    }
                }
                None => {
                    self.calls.insert(key.clone(), parsed.events.len());
                    parsed.events.push(Norm {
                        key: Some(key),
                        ..Norm::new(line, ts_raw.and_then(norm_ts), Body::LlmCall(call))
                    });
                }
            }
        }
        for (i, thought) in v
            .get("thoughts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            out.push((
                format!("gemini:{id}:thought:{i}"),
                Body::Reasoning {
                    text: thought.clone(),
                },
            ));
        }
        let content = v.get("content").cloned().unwrap_or(Value::Null);
        if let Some(text) = text_of(&content) {
            self.last_text = Some(text);
            out.push((
                format!("gemini:{id}:message"),
                Body::Message {
                    role: "assistant".into(),
                    content,
                    extra: Map::new(),
                },
            ));
        }
        for call in v
            .get("toolCalls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            tool_call(id, ts_raw, call, out);
        }
    }

    fn finish(self, path: &Path, mut parsed: Parsed) -> Parsed {
        if let Some(slot) = self.last_call.and_then(|k| self.calls.get(&k).copied()) {
            if let Some(norm) = parsed.events.get_mut(slot) {
                norm.open = true;
            }
        }
        parsed.finish_session(file_stem(path), self.last_text);
        parsed
    }
}

/// A tool call of a response: its start, and its end once it has a status.
fn tool_call(message: &str, ts: Option<&str>, call: &Value, out: &mut Vec<(String, Body)>) {
    let call_id = str_at(call, &["id"]).unwrap_or_default().to_owned();
    let name = str_at(call, &["name"]).unwrap_or("unknown").to_owned();
    let args = match call.get("args") {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
        Some(v) => v.clone(),
        None => Value::Null,
    };
    out.push((
        format!("gemini:{message}:tool:{call_id}:start"),
        Body::ToolStart {
            call_id: call_id.clone(),
            name: name.clone(),
            input: args,
        },
    ));
    let Some(status) = str_at(call, &["status"]) else {
        return; // still running
    };
    let output = call
        .get("result")
        .cloned()
        .or_else(|| call.get("resultDisplay").cloned())
        .unwrap_or(Value::Null);
    let duration_ms = match (ts, str_at(call, &["timestamp"])) {
        (Some(a), Some(b)) => between_ms(a, b),
        _ => None,
    };
    let mut extra = Map::new();
    extra.insert("tool_status".into(), status.into());
    out.push((
        format!("gemini:{message}:tool:{call_id}:end"),
        Body::ToolEnd {
            call_id,
            name,
            ok: status == "success",
            output,
            duration_ms,
            extra,
        },
    ));
}

/// Marks a response whose every count is zero: Gemini CLI writes such
/// `tokens` for responses it did not get usage for (an error, a cut
/// stream), so zero is "unknown", not "free". The record then carries no
/// token counts (the index lists it as unpriced, never $0) and says why
/// in `usage_anomaly`; `usage_raw` keeps the zeros.
fn flag_zero_usage(call: &mut LlmUse) {
    if call.usage == Usage::default() {
        call.extra
            .insert(crate::emit::USAGE_ANOMALY.into(), "all-zero usage".into());
    } else {
        call.extra.remove(crate::emit::USAGE_ANOMALY);
    }
}

fn llm_call(v: &Value, t: &Value) -> LlmUse {
    let n = |k: &str| u64_at(t, &[k]).unwrap_or(0);
    let mut call = LlmUse {
        model: str_at(v, &["model"]).map(str::to_owned),
        provider: Some("gcp.gemini"),
        usage: Usage {
            input: n("input") + n("tool"),
            output: n("output") + n("thoughts"),
            cache_read: n("cached"),
            cache_creation: 0,
            cache_creation_1h: 0,
            reasoning: n("thoughts"),
        },
        cache_known: true,
        cost_usd: None,
        raw_usage: t.clone(),
        extra: Map::new(),
    };
    flag_zero_usage(&mut call);
    call
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewritten_messages_count_once_with_their_tools() {
        let src = concat!(
            r#"{"sessionId":"g1","projectHash":"h","startTime":"2026-04-23T12:00:00.000Z"}"#,
            "\n",
            r#"{"id":"u1","timestamp":"2026-04-23T12:00:01.000Z","type":"user","content":[{"text":"hi"}]}"#,
            "\n",
            r#"{"id":"m1","timestamp":"2026-04-23T12:00:02.000Z","type":"gemini","content":"","model":"gemini-x","thoughts":[{"subject":"s"}],"tokens":{"input":100,"output":5,"cached":40,"thoughts":7,"tool":0,"total":112}}"#,
            "\n",
            r#"{"$set":{"lastUpdated":"2026-04-23T12:00:03.000Z"}}"#,
            "\n",
            r#"{"id":"m1","timestamp":"2026-04-23T12:00:02.000Z","type":"gemini","content":"","model":"gemini-x","thoughts":[{"subject":"s"}],"tokens":{"input":100,"output":5,"cached":40,"thoughts":7,"tool":0,"total":112},"toolCalls":[{"id":"c1","name":"read_file","args":{"p":1},"status":"error","timestamp":"2026-04-23T12:00:02.500Z","result":[]}]}"#,
            "\n",
        );
        let p = parse(Path::new("s.jsonl"), src.as_bytes()).unwrap();
        assert_eq!(p.session_id.as_deref(), Some("g1"));
        let calls: Vec<_> = p
            .events
            .iter()
            .filter_map(|n| match &n.body {
                Body::LlmCall(c) => Some((c.usage, n.open)),
                _ => None,
            })
            .collect();
        assert_eq!(calls.len(), 1);
        assert_eq!(
            (calls[0].0.input, calls[0].0.output, calls[0].0.reasoning),
            (100, 12, 7)
        );
        assert!(calls[0].1, "the last response may still be re-written");
        assert!(p.events.iter().any(|n| matches!(&n.body,
            Body::ToolEnd { ok: false, duration_ms: Some(d), .. } if *d == 500.0)));
        assert_eq!(p.recognized, 5);
    }

    #[test]
    fn a_response_with_all_zero_usage_is_flagged_not_free() {
        let src = concat!(
            r#"{"sessionId":"z","projectHash":"h","startTime":"2026-04-23T12:00:00.000Z"}"#,
            "\n",
            r#"{"id":"g1","timestamp":"2026-04-23T12:00:01.000Z","type":"gemini","content":"","model":"gemini-3-pro-preview","tokens":{"input":0,"output":0,"cached":0,"thoughts":0,"tool":0,"total":0}}"#,
            "\n",
        );
        let p = parse(Path::new("session-z.jsonl"), src.as_bytes()).unwrap();
        let call = p
            .events
            .iter()
            .find_map(|n| match &n.body {
                Body::LlmCall(c) => Some(c.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(call.extra["usage_anomaly"], "all-zero usage");
        let record = crate::emit::llm_record(&call, "ok");
        let usage = &record.fields()["gen_ai"]["usage"];
        assert!(usage.get("input_tokens").is_none() && usage.get("output_tokens").is_none());
    }
}
