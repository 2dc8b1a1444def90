//! Turning normalized events into tasklog records, in the shapes the
//! writer's typed helpers produce (docs/FORMAT.md section 5), with the
//! source's own time as `ts` and the source's ids behind `span_id`.
//!
//! The typed helpers stamp the current time and measure durations
//! themselves, which is right for a live agent and wrong for an import, so
//! the records are built here and written with `Task::append`.

use serde_json::{json, Map, Value};
use tasklog_writer::{Record, Task, EVENTS_STREAM};

use crate::model::{Body, LlmUse, Norm};
use crate::source::span_id;

/// Where a normalized event came from, recorded on every event.
pub(crate) struct Origin<'a> {
    /// The stream (or document) holding the verbatim source.
    pub source: &'a str,
    /// The task id, so span ids of different sessions never collide.
    pub task: &'a str,
}

/// The fields that carry the source's payloads, which can be anything.
const PAYLOADS: [&str; 6] = [
    "content",
    "input",
    "output",
    "error",
    "details",
    "usage_raw",
];

/// Appends one normalized event to `events`.
///
/// A payload the writer refuses (nested deeper than readers accept once
/// wrapped in a record) is written as its JSON text instead: the event
/// still counts, and the source line keeps the original.
pub(crate) fn write(task: &Task, norm: &Norm, origin: &Origin<'_>) -> tasklog_writer::Result<()> {
    write_to(task, EVENTS_STREAM, norm, origin)
}

/// [`write`] to another stream (open model calls go to `<source>-open`).
pub(crate) fn write_to(
    task: &Task,
    stream: &str,
    norm: &Norm,
    origin: &Origin<'_>,
) -> tasklog_writer::Result<()> {
    let record = build(norm, origin);
    match task.append(stream, record.clone()) {
        Err(e) if e.is_refusal() => {
            let mut fields = record.fields().clone();
            for key in PAYLOADS {
                if let Some(v) = fields.get_mut(key) {
                    if !v.is_string() {
                        *v = Value::String(v.to_string());
                    }
                }
            }
            task.append(stream, Record::from_map(fields)).map(drop)
        }
        other => other.map(drop),
    }
}

pub(crate) fn build(norm: &Norm, origin: &Origin<'_>) -> Record {
    let span = |call_id: &str| span_id(&format!("{}/{call_id}", origin.task));
    let mut r = match &norm.body {
        Body::Message {
            role,
            content,
            extra,
        } => with_all(
            Record::event("message")
                .with("role", role.as_str())
                .with("content", content.clone()),
            extra,
        ),
        Body::ToolStart {
            call_id,
            name,
            input,
        } => Record::event("tool.start")
            .with("span_id", span(call_id))
            .with("name", name.as_str())
            .with("status", "running")
            .with(
                "gen_ai",
                json!({"operation": {"name": "execute_tool"}, "tool": {"name": name, "call": {"id": call_id}}}),
            )
            .with("input", input.clone()),
        Body::ToolEnd {
            call_id,
            name,
            ok,
            output,
            duration_ms,
            extra,
        } => {
            let (event, status, field) = if *ok {
                ("tool.complete", "ok", "output")
            } else {
                ("tool.fail", "error", "error")
            };
            with_all(
                Record::event(event)
                    .with("span_id", span(call_id))
                    .with("name", name.as_str())
                    .with("status", status)
                    .with_opt("duration_ms", *duration_ms)
                    .with("gen_ai", json!({"tool": {"name": name, "call": {"id": call_id}}}))
                    .with(field, output.clone()),
                extra,
            )
        }
        Body::LlmCall(call) => llm_record(call, "ok"),
        Body::Reasoning { text } => Record::event("reasoning")
            .with("role", "assistant")
            .with("content", text.clone()),
        Body::Decision {
            name,
            input,
            output,
            reason,
            duration_ms,
        } => Record::event("decision")
            .with("name", name.as_str())
            .with("input", input.clone())
            .with("output", output.clone())
            .with("reason", reason.as_str())
            .with_opt("duration_ms", *duration_ms),
        Body::System {
            severity,
            message,
            details,
        } => Record::event("system")
            .with("severity", severity.as_str())
            .with("component", "import")
            .with("message", message.as_str())
            .with("details", details.clone()),
    };
    // No source time: an explicit `null`, so the writer does not stamp
    // the import time; the index reads it as "time unknown".
    r = match &norm.ts {
        Some(ts) => r.with("ts", ts.as_str()),
        None => r.with("ts", Value::Null),
    };
    r.with("source_stream", origin.source)
        .with("source_line", norm.line as u64)
}

/// The `llm.call` field that says why a call's usage is not counted
/// (a Gemini CLI response with all-zero `tokens`).
pub(crate) const USAGE_ANOMALY: &str = "usage_anomaly";

/// The `llm.call` field that says the source records no token counts at
/// all (VS Code Copilot Chat): the call has none, and stays unpriced.
pub(crate) const USAGE_UNKNOWN: &str = "usage_unknown";

/// An `llm.call` record: the writer's `llm_call` shape plus the raw usage.
pub(crate) fn llm_record(call: &LlmUse, status: &str) -> Record {
    let u = &call.usage;
    let mut usage = Map::new();
    // A usage the source got wrong (see USAGE_ANOMALY) has no counts: the
    // index then cannot price the call and lists it as unpriced.
    let counted =
        !call.extra.contains_key(USAGE_ANOMALY) && !call.extra.contains_key(USAGE_UNKNOWN);
    if counted {
        usage.insert("input_tokens".into(), u.input.into());
        usage.insert("output_tokens".into(), u.output.into());
    }
    if call.cache_known && counted {
        usage.insert("cache_read".into(), json!({ "input_tokens": u.cache_read }));
        let mut creation = json!({ "input_tokens": u.cache_creation });
        if u.cache_creation_1h > 0 {
            // docs/FORMAT.md 4.3: the one-hour part, priced at its own
            // rate by the index; the rest is the five-minute rate.
            creation["ephemeral_1h"] = json!({ "input_tokens": u.cache_creation_1h });
        }
        usage.insert("cache_creation".into(), creation);
    }
    if u.reasoning > 0 {
        // Already part of output_tokens; kept apart because it is billed
        // as output but never shown (docs/IMPORT.md, "Token semantics").
        usage.insert("reasoning".into(), json!({ "output_tokens": u.reasoning }));
    }
    if let Some(cost) = call.cost_usd {
        usage.insert("cost".into(), json!({"amount": cost, "currency": "USD"}));
    }
    let model = call.model.clone().unwrap_or_else(|| "unknown".into());
    let mut gen_ai = Map::new();
    gen_ai.insert("operation".into(), json!({"name": "chat"}));
    if let Some(p) = call.provider {
        gen_ai.insert("provider".into(), json!({ "name": p }));
    }
    gen_ai.insert("request".into(), json!({ "model": model }));
    gen_ai.insert("usage".into(), Value::Object(usage));
    let record = Record::event("llm.call")
        .with("name", model)
        .with("status", status)
        .with("gen_ai", Value::Object(gen_ai))
        .with("usage_raw", call.raw_usage.clone());
    with_all(record, &call.extra)
}

fn with_all(mut record: Record, extra: &Map<String, Value>) -> Record {
    for (k, v) in extra {
        record = record.with(k, v.clone());
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LlmUse, Usage};

    #[test]
    fn records_carry_source_time_line_and_a_shared_span() {
        let origin = Origin {
            source: "source.jsonl",
            task: "t",
        };
        let start = Norm {
            line: 3,
            ts: Some("2026-01-01T00:00:00.000000Z".into()),
            key: None,
            open: false,
            body: Body::ToolStart {
                call_id: "c1".into(),
                name: "Bash".into(),
                input: json!({"command": "ls"}),
            },
        };
        let end = Norm {
            line: 4,
            ts: None,
            key: None,
            open: false,
            body: Body::ToolEnd {
                call_id: "c1".into(),
                name: "Bash".into(),
                ok: false,
                output: "boom".into(),
                duration_ms: Some(1.5),
                extra: Map::new(),
            },
        };
        let (a, b) = (build(&start, &origin), build(&end, &origin));
        assert_eq!(a.fields()["span_id"], b.fields()["span_id"]);
        assert_eq!(a.fields()["ts"], "2026-01-01T00:00:00.000000Z");
        assert_eq!(a.fields()["source_line"], 3);
        assert_eq!(b.fields()["event"], "tool.fail");
        assert_eq!(b.fields()["error"], "boom");
    }

    #[test]
    fn a_payload_too_deep_for_readers_is_kept_as_text() {
        let dir = tempfile::tempdir().unwrap();
        let writer = tasklog_writer::Writer::open(dir.path(), Default::default()).unwrap();
        let task = writer.task("t").unwrap();
        // 127 levels parse as a source line, but not inside a record.
        let deep: Value = serde_json::from_str(&("[".repeat(127) + &"]".repeat(127))).unwrap();
        let norm = Norm {
            line: 1,
            ts: Some("2026-01-01T00:00:00.000000Z".into()),
            key: None,
            open: false,
            body: Body::Message {
                role: "user".into(),
                content: json!({ "a": deep }),
                extra: Map::new(),
            },
        };
        let origin = Origin {
            source: "source.jsonl",
            task: "t",
        };
        write(&task, &norm, &origin).unwrap();
        let text = std::fs::read_to_string(task.dir().join("events.jsonl")).unwrap();
        let v: Value = serde_json::from_str(text.trim()).unwrap();
        assert!(v["content"].as_str().unwrap().starts_with("{\"a\":[[["));
    }

    #[test]
    fn llm_calls_use_otel_names_and_keep_raw_usage() {
        let call = LlmUse {
            model: Some("m".into()),
            provider: Some("anthropic"),
            usage: Usage {
                input: 12,
                output: 3,
                cache_read: 9,
                cache_creation: 2,
                cache_creation_1h: 0,
                reasoning: 0,
            },
            cache_known: true,
            cost_usd: Some(0.5),
            raw_usage: json!({"input_tokens": 1}),
            extra: Map::new(),
        };
        let r = llm_record(&call, "ok");
        let f = r.fields();
        assert_eq!(f["gen_ai"]["usage"]["input_tokens"], 12);
        assert_eq!(f["gen_ai"]["usage"]["cache_read"]["input_tokens"], 9);
        assert_eq!(f["gen_ai"]["usage"]["cost"]["amount"], 0.5);
        assert_eq!(f["usage_raw"]["input_tokens"], 1);
    }
}
