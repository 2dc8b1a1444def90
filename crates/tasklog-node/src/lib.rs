//! The native half of the `tasklog` npm package: the Rust writer
//! (`tasklog-writer`) for Node.js through napi-rs.
//!
//! `index.js` wraps these classes with the idiomatic API (objects in,
//! AsyncLocalStorage correlation, `await task.tool(...)`). Values cross
//! the boundary as JSON text made by `JSON.stringify`, which V8 does
//! faster than walking objects through N-API, and which gives JS users the
//! serialization they expect (`toJSON`, `undefined` dropped). Every write
//! then goes through the Rust writer: the same validation, stamping,
//! locking, torn-tail mending, rollback and redaction as Rust agents get.

mod options;
mod spans;

use napi::bindgen_prelude::Buffer;
use napi::{Error, Result, Status};
use napi_derive::napi;
use serde_json::{Map, Value};
use tasklog_writer::{FsyncPolicy, Record, Redactor, TraceContext, WriterOptions};

pub use spans::{NativeCycleSpan, NativeToolSpan};

/// The writer's error as a JS `Error` with the whole source chain in the
/// message; `code` is `InvalidArg` when the input was refused (nothing
/// written), `GenericFailure` otherwise.
pub(crate) fn js_error(e: tasklog_writer::Error) -> Error {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    let status = if e.is_refusal() {
        Status::InvalidArg
    } else {
        Status::GenericFailure
    };
    Error::new(status, message)
}

/// A refusal made by the binding itself.
pub(crate) fn refused(message: impl Into<String>) -> Error {
    Error::new(Status::InvalidArg, message.into())
}

/// Parses JSON text made by `JSON.stringify`; `None` (JS `undefined`) is null.
pub(crate) fn parse(json: Option<String>) -> Result<Value> {
    match json {
        None => Ok(Value::Null),
        Some(text) => serde_json::from_str(&text).map_err(|e| refused(format!("not JSON: {e}"))),
    }
}

/// Parses a JSON object; `undefined` and `null` are an empty object.
pub(crate) fn parse_object(json: Option<String>, what: &str) -> Result<Map<String, Value>> {
    match parse(json)? {
        Value::Null => Ok(Map::new()),
        Value::Object(map) => Ok(map),
        other => Err(refused(format!(
            "{what} must be an object, not {}",
            kind(&other)
        ))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn fsync(value: Option<String>, default: FsyncPolicy) -> Result<FsyncPolicy> {
    value.map_or(Ok(default), |v| v.parse().map_err(refused))
}

/// Where an appended record landed.
#[napi(object)]
pub struct Appended {
    /// The `seq` stamped on it (0 when the record carried its own).
    pub seq: i64,
    /// The record's `id`: the stamped ULID, or the record's own.
    pub id: String,
    /// Byte offset of the record's first byte in the stream.
    pub offset: i64,
}

fn appended(a: tasklog_writer::Appended, own_id: Option<String>) -> Appended {
    Appended {
        seq: a.seq as i64,
        id: own_id.unwrap_or_else(|| a.stamped_id().to_owned()),
        offset: a.offset as i64,
    }
}

/// Writes task folders under one log root.
#[napi]
pub struct NativeWriter {
    inner: tasklog_writer::Writer,
}

#[napi]
impl NativeWriter {
    /// Opens (creating if missing) the log root. `redact`: a JSON array of
    /// patterns, `true` for the built-in ones, or null.
    #[napi(constructor)]
    pub fn new(
        root: String,
        append_fsync: Option<String>,
        document_fsync: Option<String>,
        redact: Option<String>,
    ) -> Result<NativeWriter> {
        let redactor = match parse(redact)? {
            Value::Null | Value::Bool(false) => None,
            Value::Bool(true) => Some(Redactor::with_defaults()),
            Value::Array(items) => {
                let patterns: Vec<String> = items
                    .into_iter()
                    .map(|p| match p {
                        Value::String(s) => Ok(s),
                        _ => Err(refused("redaction patterns must be strings")),
                    })
                    .collect::<Result<_>>()?;
                Some(Redactor::new(&patterns).map_err(refused)?)
            }
            _ => return Err(refused("redact must be a boolean or an array of patterns")),
        };
        let options = WriterOptions {
            append_fsync: fsync(append_fsync, FsyncPolicy::Never)?,
            document_fsync: fsync(document_fsync, FsyncPolicy::Always)?,
            redactor,
        };
        let inner = tasklog_writer::Writer::open(root, options).map_err(js_error)?;
        Ok(NativeWriter { inner })
    }

    /// The log root.
    #[napi(getter)]
    pub fn root(&self) -> String {
        self.inner.root().to_string_lossy().into_owned()
    }

    /// The task `id`, its folder created if needed, in the trace of
    /// `traceparent` when given (else `TASKLOG_TRACEPARENT`, else a new one).
    #[napi]
    pub fn task(&self, id: String, traceparent: Option<String>) -> Result<NativeTask> {
        let trace = traceparent.as_deref().map(parse_traceparent).transpose()?;
        let task = self.inner.task(&id).map_err(js_error)?;
        Ok(NativeTask {
            inner: match trace {
                Some(t) => task.with_trace(t),
                None => task,
            },
        })
    }
}

fn parse_traceparent(value: &str) -> Result<TraceContext> {
    TraceContext::parse(value).ok_or_else(|| refused(format!("{value:?} is not a W3C traceparent")))
}

/// One task folder.
#[napi]
pub struct NativeTask {
    pub(crate) inner: tasklog_writer::Task,
}

impl NativeTask {
    pub(crate) fn events(&self, record: Record) -> Result<()> {
        self.inner
            .append(tasklog_writer::EVENTS_STREAM, record)
            .map(drop)
            .map_err(js_error)
    }
}

#[napi]
impl NativeTask {
    /// The task id.
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.inner.id().as_str().to_owned()
    }

    /// The task folder.
    #[napi(getter)]
    pub fn dir(&self) -> String {
        self.inner.dir().to_string_lossy().into_owned()
    }

    /// The trace id of this handle's records.
    #[napi(getter)]
    pub fn trace_id(&self) -> String {
        self.inner.trace().trace_id.clone()
    }

    /// The span this handle's records name as `parent_span_id`.
    #[napi(getter)]
    pub fn parent_span_id(&self) -> Option<String> {
        self.inner.trace().parent_span_id.clone()
    }

    /// The same task whose records are children of `span_id`.
    #[napi]
    pub fn with_parent(&self, span_id: String) -> NativeTask {
        let trace = TraceContext {
            trace_id: self.inner.trace().trace_id.clone(),
            parent_span_id: Some(span_id),
        };
        NativeTask {
            inner: self.inner.clone().with_trace(trace),
        }
    }

    /// The `traceparent` making a child's records children of `span_id`.
    #[napi]
    pub fn traceparent(&self, span_id: String) -> String {
        self.inner.trace().traceparent(&span_id)
    }

    /// Appends a record given as JSON object text; the envelope is added.
    #[napi]
    pub fn append(&self, stream: String, json: String) -> Result<Appended> {
        let map = match serde_json::from_str::<Value>(&json) {
            Ok(Value::Object(map)) => map,
            Ok(other) => {
                return Err(refused(format!(
                    "a record must be an object, not {}",
                    kind(&other)
                )))
            }
            Err(e) => {
                // The format's own check names the problem the way the
                // other writers do (lone surrogate, depth); serde's as a fallback.
                let reason = match tasklog_format::validate_str(&json) {
                    Err(d) => d.to_string(),
                    Ok(_) => e.to_string(),
                };
                return Err(refused(format!("record refused: {reason}")));
            }
        };
        let own_id = map.get("id").and_then(Value::as_str).map(str::to_owned);
        let a = self
            .inner
            .append(&stream, Record::from_map(map))
            .map_err(js_error)?;
        Ok(appended(a, own_id))
    }

    /// Appends the caller's JSON object bytes, kept as given.
    #[napi]
    pub fn append_json(&self, stream: String, data: Buffer) -> Result<Appended> {
        let a = self
            .inner
            .append_json(&stream, &data, tasklog_writer::Durability::Default)
            .map_err(js_error)?;
        let own_id = if data.windows(4).any(|w| w == b"\"id\"") {
            serde_json::from_slice::<Value>(&data)
                .ok()
                .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned))
        } else {
            None
        };
        Ok(appended(a, own_id))
    }

    /// Atomically replaces `<doc>.json` with the value of JSON text.
    #[napi]
    pub fn put(&self, doc: String, json: String) -> Result<()> {
        let value = parse(Some(json))?;
        self.inner.put(&doc, &value).map_err(js_error)
    }

    /// Atomically replaces `<doc>.json` with the caller's bytes, kept as given.
    #[napi]
    pub fn put_json(&self, doc: String, data: Buffer) -> Result<()> {
        self.inner
            .put_json(&doc, &data, tasklog_writer::Durability::Default)
            .map_err(js_error)
    }

    /// `<doc>.json` as JSON text, or null when it does not exist.
    #[napi]
    pub fn read_doc(&self, doc: String) -> Result<Option<String>> {
        Ok(self
            .inner
            .read_doc(&doc)
            .map_err(js_error)?
            .map(|v| v.to_string()))
    }

    /// Appends `tool.start`; returns the open call.
    #[napi]
    pub fn tool_start(&self, name: String, input: Option<String>) -> Result<NativeToolSpan> {
        let span = self
            .inner
            .tool_start(&name, parse(input)?)
            .map_err(js_error)?;
        Ok(NativeToolSpan::new(span))
    }

    /// Appends `cycle.start`; returns the open cycle.
    #[napi]
    pub fn cycle_start(&self, name: String, goals: Option<String>) -> Result<NativeCycleSpan> {
        let span = self
            .inner
            .cycle_start(&name, parse(goals)?)
            .map_err(js_error)?;
        Ok(NativeCycleSpan::new(span))
    }

    /// Appends any event (`event` plus the fields of a JSON object).
    #[napi]
    pub fn event(&self, event: String, fields: Option<String>) -> Result<()> {
        let mut record = Record::event(event);
        for (k, v) in parse_object(fields, "fields")? {
            record = record.with(&k, v);
        }
        self.events(record)
    }
}
