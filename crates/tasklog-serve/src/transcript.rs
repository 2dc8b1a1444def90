//! A task as one transcript: its messages, thinking, tool calls (input with
//! result or error), model calls (tokens, cost), decisions, system events
//! and documents, in time order, read from the index a page at a time.
//!
//! One definition serves the dashboard (`GET /api/tasks/{id}/transcript`)
//! and the exports ([`crate::render`], `tasklog export --format
//! markdown|html`), so a page and a file say the same thing.
//!
//! - A tool call is one item: the `tool.start` record, with its
//!   `tool.complete` / `tool.fail` (same `span_id`) folded in. An end record
//!   whose start is missing stays an item of its own.
//! - Verbatim source lines (the streams an importer copied a session into,
//!   named by the `source_stream` of the task's records) are left out
//!   unless asked for: the normalized events already say what they say.
//! - Pages are keyset cursors over `(ts, record_id)`, the order of the
//!   `records_task_ts` index, so page 20 of a big session costs what page 1
//!   does, and records appended meanwhile never shift a page.

use serde::Serialize;
use serde_json::Value;
use tasklog_index::{Questions, Result, TranscriptPage};

/// Longest label of a tool call, in characters.
const LABEL_CHARS: usize = 80;

/// Where a page starts or ends: a record's `(ts, record_id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The record's `ts`.
    pub ts: String,
    /// The record's id.
    pub id: i64,
}

impl Cursor {
    /// Before every record.
    pub fn start() -> Cursor {
        Cursor {
            ts: String::new(),
            id: 0,
        }
    }

    /// `ts~id`, the form the API hands out.
    pub fn encode(&self) -> String {
        format!("{}~{}", self.ts, self.id)
    }

    /// Reads [`Cursor::encode`]'s form; `None` when it is not one.
    pub fn decode(s: &str) -> Option<Cursor> {
        let (ts, id) = s.rsplit_once('~')?;
        Some(Cursor {
            ts: ts.to_owned(),
            id: id.parse().ok()?,
        })
    }
}

/// One piece of a message: a text block, thinking, a tool use or result.
#[derive(Debug, Clone, Serialize)]
pub struct Part {
    /// `text`, `thinking`, `tool_use`, `tool_result`, `image` or `other`.
    pub kind: &'static str,
    /// Markdown text (text, thinking, a tool result given as text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The tool's name (tool_use).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Structured content (a tool's input, a result's JSON, an unknown block).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// A tool result marked as an error.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
}

/// One entry of the transcript.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Item {
    /// Unique in the task: `r<record_id>` or `d:<document name>`.
    pub key: String,
    /// The record (the `tool.start` of a tool call).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_id: Option<i64>,
    /// RFC 3339 UTC.
    pub ts: Option<String>,
    /// `message`, `thinking`, `tool`, `llm`, `decision`, `system`,
    /// `document` or `event` (anything else).
    pub kind: &'static str,
    /// The record's `event`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// `stream:line` of the record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The stream, to tell source lines from events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// Message author.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Tool name, model, decision point, document name, system component.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What a tool call did: its command, file, pattern or address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `running`/`ok`/`error` for tools, the record's status otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Message blocks; thinking, decisions' reasoning, system messages as text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
    /// A tool's or decision's input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// A tool's result, a decision's choice, a document's JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The error of a failed tool or model call, or an error-level event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// The span shared by a tool call's start and end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    /// The end record of a tool call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_record_id: Option<i64>,
    /// Model calls: `gen_ai.request.model`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Model calls: input tokens (cached included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_input: Option<i64>,
    /// Model calls: output tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_output: Option<i64>,
    /// Model calls: USD; `None` with tokens means unpriced, never $0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// The record as written: always for kind `event`, for every item when
    /// source lines were asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// One page of a transcript.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    /// In time order.
    pub items: Vec<Item>,
    /// The cursor before the first record of the page (resume backwards).
    pub first: Option<String>,
    /// The cursor of the last record (resume forwards, or follow live).
    pub last: String,
    /// More records after `last`.
    pub more: bool,
    /// Records before `first`.
    pub more_before: bool,
    /// Streams of verbatim source lines, hidden unless `source` is set.
    pub source_streams: Vec<String>,
}

/// What a page holds.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Include verbatim source lines, and each record's body.
    pub source: bool,
}

/// Where record `id` of `task` sits, as the cursor just before it, so that
/// a page read after it starts with that record. A `tool.complete` or
/// `tool.fail` resolves to its start, which holds it.
pub fn cursor_at(index: &mut dyn Questions, task: &str, id: i64) -> Result<Option<Cursor>> {
    Ok(index
        .transcript_anchor(task, id)?
        .map(|(ts, id)| Cursor { ts, id: id - 1 }))
}

/// Up to `limit` items after `after` (or, with `backwards`, before it, still
/// returned in time order), with the documents updated in that span.
pub fn page(
    index: &mut dyn Questions,
    task: &str,
    after: &Cursor,
    backwards: bool,
    limit: usize,
    options: &Options,
) -> Result<Page> {
    let hidden = index.source_streams(task)?;
    let rows = index.transcript_rows(&TranscriptPage {
        task,
        after_ts: &after.ts,
        after_id: after.id,
        backwards,
        with_sources: options.source,
        hidden: &hidden,
        limit: limit as u64 + 1,
    })?;
    let mut items: Vec<(Cursor, Item)> = Vec::new();
    let mut more = false;
    for row in &rows.rows {
        let Some(id) = int(row, 0) else { continue };
        if items.last().is_some_and(|(c, _)| c.id == id) {
            continue; // a span with two end records: the first one holds
        }
        if items.len() == limit {
            more = true;
            break;
        }
        let cursor = Cursor {
            ts: text(row, 1).unwrap_or_default(),
            id,
        };
        items.push((cursor, item_of(row, options.source)));
    }
    if backwards {
        items.reverse();
    }
    // The span the page covers, for the documents updated within it.
    let (lo, hi) = match (backwards, items.first(), items.last()) {
        (false, _, Some((c, _))) => (Some(after.ts.clone()), more.then(|| c.ts.clone())),
        (false, _, None) => (Some(after.ts.clone()), None),
        (true, Some((c, _)), _) => (more.then(|| c.ts.clone()), Some(after.ts.clone())),
        (true, None, _) => (None, Some(after.ts.clone())),
    };
    let documents = documents(index, task, lo.as_deref(), hi.as_deref(), backwards)?;
    let last = items.last().map(|(c, _)| c.encode()).unwrap_or_else(|| {
        if backwards {
            Cursor::start().encode()
        } else {
            after.encode()
        }
    });
    let first_cursor = items.first().map(|(c, _)| Cursor {
        ts: c.ts.clone(),
        id: c.id - 1,
    });
    let more_before = match (&first_cursor, backwards) {
        (Some(_), true) => more,
        (Some(c), false) => index.has_records_through(task, &c.ts, c.id)?,
        (None, _) => false,
    };
    let more_after = if backwards {
        after.id > 0 || !after.ts.is_empty()
    } else {
        more
    };
    let mut merged: Vec<Item> = Vec::with_capacity(items.len() + documents.len());
    let mut docs = documents.into_iter().peekable();
    // A message with nothing but whitespace (an assistant turn that only
    // called tools) says nothing; its tool calls are items of their own.
    let items = items.into_iter().filter(|(_, i)| !is_empty_message(i));
    for (_, item) in items {
        while let Some(d) = docs.next_if(|d| d.ts <= item.ts) {
            merged.push(d);
        }
        merged.push(item);
    }
    merged.extend(docs);
    Ok(Page {
        items: merged,
        first: first_cursor.map(|c| c.encode()),
        last,
        more: more_after,
        more_before,
        source_streams: hidden,
    })
}

fn is_empty_message(item: &Item) -> bool {
    item.kind == "message"
        && item
            .parts
            .iter()
            .all(|p| p.kind == "text" && p.text.as_deref().is_none_or(|t| t.trim().is_empty()))
}

/// Every item of a task, for the exports.
pub fn all(index: &mut dyn Questions, task: &str, options: &Options) -> Result<Vec<Item>> {
    let mut out = Vec::new();
    let mut after = Cursor::start();
    loop {
        let page = page(index, task, &after, false, 1000, options)?;
        out.extend(page.items);
        match (page.more, Cursor::decode(&page.last)) {
            (true, Some(next)) => after = next,
            _ => return Ok(out),
        }
    }
}

/// Documents of the task updated after `lo` and at or before `hi` (open
/// ends when `None`; an empty `lo` is the start).
fn documents(
    index: &mut dyn Questions,
    task: &str,
    lo: Option<&str>,
    hi: Option<&str>,
    backwards: bool,
) -> Result<Vec<Item>> {
    let rows = index.documents_between(task, lo, hi, backwards)?;
    Ok(rows
        .rows
        .iter()
        .filter_map(|r| {
            let name = text(r, 0)?;
            let body = text(r, 3);
            Some(Item {
                key: format!("d:{name}"),
                ts: text(r, 2),
                kind: "document",
                source: Some(format!("{name}.json")),
                status: int(r, 1).map(|v| format!("version {v}")),
                output: body.map(|b| serde_json::from_str(&b).unwrap_or(Value::String(b))),
                name: Some(name),
                ..Item::default()
            })
        })
        .collect())
}

/// Column `i` of an answer's row as text, an integer or a number.
fn text(row: &[Value], i: usize) -> Option<String> {
    row.get(i)?.as_str().map(str::to_owned)
}

fn int(row: &[Value], i: usize) -> Option<i64> {
    row.get(i)?.as_i64()
}

fn num(row: &[Value], i: usize) -> Option<f64> {
    row.get(i)?.as_f64()
}

/// One row of a transcript page ([`TRANSCRIPT_COLUMNS`]) as an item.
///
/// [`TRANSCRIPT_COLUMNS`]: tasklog_index::TRANSCRIPT_COLUMNS
fn item_of(row: &[Value], with_body: bool) -> Item {
    let id = int(row, 0).unwrap_or_default();
    let event = text(row, 4);
    let stream = text(row, 2).unwrap_or_default();
    let line = int(row, 3).unwrap_or_default();
    let body: Value = text(row, 13)
        .and_then(|b| serde_json::from_str(&b).ok())
        .unwrap_or(Value::Null);
    let mut item = Item {
        key: format!("r{id}"),
        record_id: Some(id),
        ts: text(row, 1),
        kind: "event",
        source: Some(format!("{stream}:{line}")),
        stream: Some(stream),
        name: text(row, 5),
        status: text(row, 6),
        role: text(row, 7),
        error: text(row, 10),
        duration_ms: num(row, 11),
        span_id: text(row, 12),
        ..Item::default()
    };
    if item.error.is_none() {
        item.error = body.get("error").filter(|e| !e.is_null()).map(text_of);
    }
    match event.as_deref() {
        Some("message") => {
            item.kind = "message";
            item.parts = parts(body.get("content").unwrap_or(&Value::Null));
        }
        Some("reasoning" | "thinking") => {
            item.kind = "thinking";
            let text = body.get("content").or_else(|| body.get("text"));
            item.parts = vec![text_part("thinking", text.map(text_of).unwrap_or_default())];
        }
        Some("tool.start") => {
            item.kind = "tool";
            let name = item.name.clone().unwrap_or_default();
            let input = body.get("input").cloned().unwrap_or(Value::Null);
            item.label = tool_label(&input);
            item.input = Some(input);
            item.status = Some("running".into());
            item.name = Some(name);
            if let Some(end_id) = int(row, 18) {
                let end_event = text(row, 19);
                let end: Value = text(row, 20)
                    .and_then(|b| serde_json::from_str(&b).ok())
                    .unwrap_or(Value::Null);
                item.end_record_id = Some(end_id);
                item.duration_ms = num(row, 21);
                if end_event.as_deref() == Some("tool.fail") {
                    item.status = Some("error".into());
                    item.error = text(row, 22)
                        .or_else(|| end.get("error").map(text_of))
                        .or_else(|| Some("failed".into()));
                } else {
                    item.status = Some("ok".into());
                    item.output = end.get("output").cloned();
                }
            }
        }
        Some("tool.complete" | "tool.fail") => {
            item.kind = "tool";
            item.output = body.get("output").cloned();
            if event.as_deref() == Some("tool.fail") && item.error.is_none() {
                item.error = Some("failed".into());
            }
        }
        Some("llm.call") => {
            item.kind = "llm";
            item.model = text(row, 14);
            item.tokens_input = int(row, 15);
            item.tokens_output = int(row, 16);
            item.cost_usd = num(row, 17);
        }
        Some("decision") => {
            item.kind = "decision";
            item.input = body.get("input").cloned();
            item.output = body.get("output").cloned();
            if let Some(reason) = body.get("reason").filter(|r| !r.is_null()) {
                item.parts = vec![text_part("text", text_of(reason))];
            }
        }
        Some("system") => {
            item.kind = "system";
            let severity = text(row, 8);
            let component = text(row, 9);
            item.name = component.or(item.name);
            if matches!(severity.as_deref(), Some("error" | "critical")) && item.error.is_none() {
                item.error = body.get("message").map(text_of).or(severity.clone());
            }
            item.status = severity;
            if let Some(m) = body.get("message").filter(|m| !m.is_null()) {
                item.parts = vec![text_part("text", text_of(m))];
            }
        }
        _ => {}
    }
    item.event = event;
    // An event of no known kind has nothing but its body to show.
    if with_body || item.kind == "event" {
        item.body = Some(body);
    }
    item
}

/// A message's `content`: a string, or an array of content blocks.
fn parts(content: &Value) -> Vec<Part> {
    match content {
        Value::Null => Vec::new(),
        Value::String(s) => vec![text_part("text", s.clone())],
        Value::Array(blocks) => blocks.iter().map(block).collect(),
        other => vec![Part {
            kind: "other",
            text: None,
            name: None,
            value: Some(other.clone()),
            is_error: false,
        }],
    }
}

fn block(b: &Value) -> Part {
    let kind = b.get("type").and_then(Value::as_str).unwrap_or("");
    let str_field = |k: &str| b.get(k).and_then(Value::as_str).map(str::to_owned);
    match kind {
        "text" | "input_text" | "output_text" => {
            text_part("text", str_field("text").unwrap_or_default())
        }
        "thinking" | "reasoning" | "redacted_thinking" => text_part(
            "thinking",
            str_field("thinking")
                .or_else(|| str_field("text"))
                .unwrap_or_else(|| "(redacted)".into()),
        ),
        "tool_use" => Part {
            kind: "tool_use",
            text: None,
            name: str_field("name"),
            value: b.get("input").cloned(),
            is_error: false,
        },
        "tool_result" => {
            let content = b.get("content").cloned().unwrap_or(Value::Null);
            Part {
                kind: "tool_result",
                text: content.as_str().map(str::to_owned),
                name: None,
                value: (!content.is_string()).then_some(content),
                is_error: b.get("is_error").and_then(Value::as_bool) == Some(true),
            }
        }
        "image" | "input_image" => Part {
            kind: "image",
            text: Some("(image)".into()),
            name: None,
            value: None,
            is_error: false,
        },
        _ => match b {
            Value::String(s) => text_part("text", s.clone()),
            _ => Part {
                kind: "other",
                text: str_field("text"),
                name: None,
                value: Some(b.clone()),
                is_error: false,
            },
        },
    }
}

fn text_part(kind: &'static str, text: String) -> Part {
    Part {
        kind,
        text: Some(text),
        name: None,
        value: None,
        is_error: false,
    }
}

/// A string as itself, anything else as compact JSON.
pub fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What a tool call did, from its input: the command, file, pattern, address
/// or query, on one line and at most 80 characters. Inputs come as objects
/// (Claude Code, the writer), argument arrays (Codex `["bash","-lc","ls"]`),
/// plain strings, or JSON text (payloads an importer had to stringify).
pub fn tool_label(input: &Value) -> Option<String> {
    const KEYS: [&str; 12] = [
        "command",
        "cmd",
        "file_path",
        "path",
        "filePath",
        "notebook_path",
        "pattern",
        "url",
        "query",
        "description",
        "prompt",
        "target",
    ];
    let raw = match input {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v @ (Value::Object(_) | Value::Array(_))) => return tool_label(&v),
            _ => s.clone(),
        },
        Value::Array(args) => args.iter().map(text_of).collect::<Vec<_>>().join(" "),
        Value::Object(map) => {
            let found = KEYS
                .iter()
                .find_map(|k| map.get(*k).filter(|v| !v.is_null()))?;
            match found {
                Value::Array(_) => tool_label(found)?,
                v => text_of(v),
            }
        }
        _ => return None,
    };
    let line = raw.lines().map(str::trim).find(|l| !l.is_empty())?;
    let mut label: String = line.chars().take(LABEL_CHARS).collect();
    if line.chars().count() > LABEL_CHARS || raw.trim().lines().count() > 1 {
        label.push('…');
    }
    Some(label)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_say_what_a_call_did() {
        assert_eq!(
            tool_label(&json!({"command": "cargo test"})).as_deref(),
            Some("cargo test")
        );
        assert_eq!(
            tool_label(&json!({"file_path": "/src/lib.rs", "old_string": "x"})).as_deref(),
            Some("/src/lib.rs")
        );
        assert_eq!(
            tool_label(&json!(["bash", "-lc", "ls"])).as_deref(),
            Some("bash -lc ls")
        );
        assert_eq!(
            tool_label(&json!("{\"cmd\":[\"git\",\"status\"]}")).as_deref(),
            Some("git status")
        );
        assert_eq!(tool_label(&json!("ls\nwc -l")).as_deref(), Some("ls…"));
        assert_eq!(tool_label(&json!({"x": 1})), None);
        assert_eq!(tool_label(&json!(null)), None);
        let long = "a".repeat(200);
        assert_eq!(
            tool_label(&json!(long)).map(|l| l.chars().count()),
            Some(81)
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let c = Cursor {
            ts: "2026-11-30T22:01:06.158787Z".into(),
            id: 42,
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("~0"), Some(Cursor::start()));
        assert_eq!(Cursor::decode("nonsense"), None);
        assert_eq!(Cursor::decode("x~y"), None);
    }

    #[test]
    fn message_blocks() {
        let p = parts(&json!([
            {"type": "text", "text": "hi"},
            {"type": "thinking", "thinking": "hmm"},
            {"type": "tool_use", "name": "Bash", "input": {"command": "ls"}},
            {"type": "tool_result", "content": "boom", "is_error": true},
            {"type": "mystery", "x": 1}
        ]));
        let kinds: Vec<_> = p.iter().map(|p| p.kind).collect();
        assert_eq!(
            kinds,
            ["text", "thinking", "tool_use", "tool_result", "other"]
        );
        assert!(p[3].is_error);
        assert_eq!(p[2].name.as_deref(), Some("Bash"));
    }
}
