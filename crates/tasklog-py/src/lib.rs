//! `tasklog._native`: the Rust writer (`tasklog-writer`) for Python.
//!
//! This module is the thin native layer; the package `tasklog`
//! (`python/tasklog/__init__.py`) wraps it with context managers, async
//! variants and contextvars correlation. Every write goes through the Rust
//! writer, so validation, stamping, locking, torn-tail mending, rollback
//! and redaction are the same code as for Rust agents. The GIL is released
//! during file I/O.

mod convert;
mod errors;
mod spans;

use std::path::PathBuf;

use pyo3::prelude::*;
use serde_json::Value;
use tasklog_writer::{
    Decision, FsyncPolicy, LlmCall, Record, Redactor, TraceContext, WriterOptions,
};

use convert::{opt_json, opt_object, to_json, to_object, to_python};
use errors::{from_writer, refused, RefusedError, TasklogError};
use spans::{CycleSpan, ToolSpan};

/// `(seq, id, offset)` of an appended record.
type AppendedTuple = (u64, String, u64);

fn appended(a: tasklog_writer::Appended, own_id: Option<String>) -> AppendedTuple {
    (
        a.seq,
        own_id.unwrap_or_else(|| a.stamped_id().to_owned()),
        a.offset,
    )
}

fn fsync(value: &str) -> PyResult<FsyncPolicy> {
    value.parse().map_err(refused)
}

/// Writes task folders under one log root.
#[pyclass(module = "tasklog._native", frozen)]
struct Writer {
    inner: tasklog_writer::Writer,
}

#[pymethods]
impl Writer {
    /// Opens (creating if missing) the log root `root`.
    #[new]
    #[pyo3(signature = (root, *, append_fsync = "never", document_fsync = "always", redact = None))]
    fn new(
        root: PathBuf,
        append_fsync: &str,
        document_fsync: &str,
        redact: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Writer> {
        let redactor = match redact {
            None => None,
            Some(r) if r.is_none() => None,
            Some(r) => match r.extract::<bool>() {
                Ok(true) => Some(Redactor::with_defaults()),
                Ok(false) => None,
                Err(_) => {
                    let patterns: Vec<String> = r.extract().map_err(|_| {
                        refused("redact must be a bool or a list of regular expressions".into())
                    })?;
                    Some(Redactor::new(&patterns).map_err(refused)?)
                }
            },
        };
        let options = WriterOptions {
            append_fsync: fsync(append_fsync)?,
            document_fsync: fsync(document_fsync)?,
            redactor,
        };
        let inner = tasklog_writer::Writer::open(root, options).map_err(from_writer)?;
        Ok(Writer { inner })
    }

    /// The log root.
    #[getter]
    fn root(&self) -> PathBuf {
        self.inner.root().to_path_buf()
    }

    /// The task `task_id`, its folder created if needed; in the trace of
    /// `traceparent` when given, else of `TASKLOG_TRACEPARENT`, else a new one.
    #[pyo3(signature = (task_id, traceparent = None))]
    fn task(&self, py: Python<'_>, task_id: &str, traceparent: Option<&str>) -> PyResult<Task> {
        let trace = traceparent.map(parse_traceparent).transpose()?;
        let task = py
            .detach(|| self.inner.task(task_id))
            .map_err(from_writer)?;
        Ok(Task {
            inner: match trace {
                Some(t) => task.with_trace(t),
                None => task,
            },
        })
    }
}

fn parse_traceparent(value: &str) -> PyResult<TraceContext> {
    TraceContext::parse(value).ok_or_else(|| refused(format!("{value:?} is not a W3C traceparent")))
}

/// One task folder.
#[pyclass(module = "tasklog._native", frozen)]
struct Task {
    inner: tasklog_writer::Task,
}

#[pymethods]
impl Task {
    /// The task id.
    #[getter]
    fn id(&self) -> &str {
        self.inner.id().as_str()
    }

    /// The task folder.
    #[getter]
    fn dir(&self) -> PathBuf {
        self.inner.dir().to_path_buf()
    }

    /// The trace id (32 hex digits) of this handle's records.
    #[getter]
    fn trace_id(&self) -> &str {
        &self.inner.trace().trace_id
    }

    /// The span this handle's records name as `parent_span_id`.
    #[getter]
    fn parent_span_id(&self) -> Option<&str> {
        self.inner.trace().parent_span_id.as_deref()
    }

    /// The same task whose records are children of `span_id` (same trace).
    fn with_parent(&self, span_id: &str) -> PyResult<Task> {
        let trace = TraceContext {
            trace_id: self.inner.trace().trace_id.clone(),
            parent_span_id: Some(span_id.to_owned()),
        };
        Ok(Task {
            inner: self.inner.clone().with_trace(trace),
        })
    }

    /// The same task in the trace of a W3C `traceparent`.
    fn with_traceparent(&self, traceparent: &str) -> PyResult<Task> {
        Ok(Task {
            inner: self
                .inner
                .clone()
                .with_trace(parse_traceparent(traceparent)?),
        })
    }

    /// The `traceparent` that makes a child's records children of `span_id`.
    fn traceparent(&self, span_id: &str) -> String {
        self.inner.trace().traceparent(span_id)
    }

    /// Appends `record` (a dict) to `<stream>.jsonl`; returns `(seq, id, offset)`.
    fn append(
        &self,
        py: Python<'_>,
        stream: &str,
        record: &Bound<'_, PyAny>,
    ) -> PyResult<AppendedTuple> {
        let map = to_object(record)?;
        let own_id = map.get("id").and_then(Value::as_str).map(str::to_owned);
        let record = Record::from_map(map);
        let a = py
            .detach(|| self.inner.append(stream, record))
            .map_err(from_writer)?;
        Ok(appended(a, own_id))
    }

    /// Appends a JSON object given as text or bytes, keeping its bytes.
    fn append_json(&self, py: Python<'_>, stream: &str, data: &[u8]) -> PyResult<AppendedTuple> {
        let a = py
            .detach(|| {
                self.inner
                    .append_json(stream, data, tasklog_writer::Durability::Default)
            })
            .map_err(from_writer)?;
        // The caller's own id, if any, is in `data`: parse only when it may be.
        let own_id = if data.windows(4).any(|w| w == b"\"id\"") {
            serde_json::from_slice::<Value>(data)
                .ok()
                .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned))
        } else {
            None
        };
        Ok(appended(a, own_id))
    }

    /// Atomically replaces `<doc>.json` with `value`.
    fn put(&self, py: Python<'_>, doc: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let value = to_json(value)?;
        py.detach(|| self.inner.put(doc, &value))
            .map_err(from_writer)
    }

    /// Atomically replaces `<doc>.json` with JSON text or bytes, kept as given.
    fn put_json(&self, py: Python<'_>, doc: &str, data: &[u8]) -> PyResult<()> {
        py.detach(|| {
            self.inner
                .put_json(doc, data, tasklog_writer::Durability::Default)
        })
        .map_err(from_writer)
    }

    /// Reads `<doc>.json`; `None` when it does not exist.
    fn read_doc<'py>(&self, py: Python<'py>, doc: &str) -> PyResult<Bound<'py, PyAny>> {
        match py
            .detach(|| self.inner.read_doc(doc))
            .map_err(from_writer)?
        {
            Some(v) => to_python(py, &v),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// Appends `tool.start` before the tool runs; returns the open call.
    #[pyo3(signature = (name, input = None))]
    fn tool_start(
        &self,
        py: Python<'_>,
        name: &str,
        input: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<ToolSpan> {
        let input = opt_json(input)?;
        let span = py
            .detach(|| self.inner.tool_start(name, input))
            .map_err(from_writer)?;
        Ok(ToolSpan::new(span))
    }

    /// Appends `cycle.start`; returns the open cycle.
    #[pyo3(signature = (name, goals = None))]
    fn cycle_start(
        &self,
        py: Python<'_>,
        name: &str,
        goals: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<CycleSpan> {
        let goals = opt_json(goals)?;
        let span = py
            .detach(|| self.inner.cycle_start(name, goals))
            .map_err(from_writer)?;
        Ok(CycleSpan::new(span))
    }

    /// Appends an `llm.call` with OpenTelemetry GenAI usage and cost.
    #[pyo3(signature = (model, *, provider = None, input_tokens = None, output_tokens = None,
        cache_read_tokens = None, cache_write_tokens = None, cost_usd = None, duration_ms = None,
        time_to_first_token_ms = None, error = None, extra = None))]
    #[allow(clippy::too_many_arguments)]
    fn llm_call(
        &self,
        py: Python<'_>,
        model: String,
        provider: Option<String>,
        input_tokens: Option<u64>,
        output_tokens: Option<u64>,
        cache_read_tokens: Option<u64>,
        cache_write_tokens: Option<u64>,
        cost_usd: Option<f64>,
        duration_ms: Option<f64>,
        time_to_first_token_ms: Option<f64>,
        error: Option<String>,
        extra: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let call = LlmCall {
            model,
            provider,
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_write_tokens,
            cost_usd: finite(cost_usd, "cost_usd")?,
            duration_ms: finite(duration_ms, "duration_ms")?,
            time_to_first_token_ms: finite(time_to_first_token_ms, "time_to_first_token_ms")?,
            error,
            extra: opt_object(extra)?,
        };
        py.detach(|| self.inner.llm_call(call)).map_err(from_writer)
    }

    /// Appends a `decision` with its full reasoning.
    #[pyo3(signature = (decision_point, reason, *, input = None, output = None,
        context_type = None, context_id = None, function_name = None, duration_ms = None,
        source_file = None))]
    #[allow(clippy::too_many_arguments)]
    fn decision(
        &self,
        py: Python<'_>,
        decision_point: String,
        reason: String,
        input: Option<&Bound<'_, PyAny>>,
        output: Option<&Bound<'_, PyAny>>,
        context_type: Option<String>,
        context_id: Option<String>,
        function_name: Option<String>,
        duration_ms: Option<f64>,
        source_file: Option<String>,
    ) -> PyResult<()> {
        let d = Decision {
            decision_point,
            context_type,
            context_id,
            function_name,
            input: opt_json(input)?,
            output: opt_json(output)?,
            reason,
            duration_ms: finite(duration_ms, "duration_ms")?,
            source_file,
        };
        py.detach(|| self.inner.decision(d)).map_err(from_writer)
    }

    /// Appends one conversation message.
    fn message(&self, py: Python<'_>, role: &str, content: &Bound<'_, PyAny>) -> PyResult<()> {
        let content = to_json(content)?;
        py.detach(|| self.inner.message(role, content))
            .map_err(from_writer)
    }

    /// Appends what triggered the agent.
    #[pyo3(signature = (trigger_type, source, data = None))]
    fn trigger(
        &self,
        py: Python<'_>,
        trigger_type: &str,
        source: &str,
        data: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let data = opt_json(data)?;
        py.detach(|| self.inner.trigger(trigger_type, source, data))
            .map_err(from_writer)
    }

    /// Appends `task.status` and merges the status into `task.json`.
    #[pyo3(signature = (status, fields = None))]
    fn set_status(
        &self,
        py: Python<'_>,
        status: &str,
        fields: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let fields = opt_object(fields)?;
        py.detach(|| self.inner.set_status(status, fields))
            .map_err(from_writer)
    }

    /// Appends `worker.spawn`.
    #[pyo3(signature = (worker_id, pid = None, details = None))]
    fn worker_spawn(
        &self,
        py: Python<'_>,
        worker_id: &str,
        pid: Option<u32>,
        details: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let details = opt_object(details)?;
        py.detach(|| self.inner.worker_spawn(worker_id, pid, details))
            .map_err(from_writer)
    }

    /// Appends `worker.exit` (`status`: completed or failed).
    #[pyo3(signature = (worker_id, status, exit_code = None, reason = None))]
    fn worker_exit(
        &self,
        py: Python<'_>,
        worker_id: &str,
        status: &str,
        exit_code: Option<i32>,
        reason: Option<&str>,
    ) -> PyResult<()> {
        py.detach(|| self.inner.worker_exit(worker_id, status, exit_code, reason))
            .map_err(from_writer)
    }

    /// Appends a `system` event (`severity`: debug, info, warning, error, critical).
    #[pyo3(signature = (severity, component, message, details = None))]
    fn system(
        &self,
        py: Python<'_>,
        severity: &str,
        component: &str,
        message: &str,
        details: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let details = opt_json(details)?;
        py.detach(|| self.inner.system(severity, component, message, details))
            .map_err(from_writer)
    }

    /// Appends `session.start`.
    #[pyo3(signature = (session_id, details = None))]
    fn session_start(
        &self,
        py: Python<'_>,
        session_id: &str,
        details: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let details = opt_json(details)?;
        py.detach(|| self.inner.session_start(session_id, details))
            .map_err(from_writer)
    }

    /// Appends `session.end` (`exit_reason`: normal, signal, error).
    fn session_end(&self, py: Python<'_>, session_id: &str, exit_reason: &str) -> PyResult<()> {
        py.detach(|| self.inner.session_end(session_id, exit_reason))
            .map_err(from_writer)
    }

    /// Appends a worktree operation (create, remove, preserve, check).
    #[pyo3(signature = (operation, path, reason, details = None))]
    fn worktree(
        &self,
        py: Python<'_>,
        operation: &str,
        path: &str,
        reason: &str,
        details: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let details = opt_object(details)?;
        py.detach(|| self.inner.worktree(operation, path, reason, details))
            .map_err(from_writer)
    }

    /// Sets one key of agent state (`state.set` plus `state.json`), with an optional TTL.
    #[pyo3(signature = (key, value, ttl_seconds = None))]
    fn set_state(
        &self,
        py: Python<'_>,
        key: &str,
        value: &Bound<'_, PyAny>,
        ttl_seconds: Option<u64>,
    ) -> PyResult<()> {
        let value = to_json(value)?;
        py.detach(|| self.inner.set_state(key, value, ttl_seconds))
            .map_err(from_writer)
    }

    /// Appends a long-term memory fact.
    #[pyo3(signature = (subject, fact, body = None))]
    fn memory_fact(
        &self,
        py: Python<'_>,
        subject: &str,
        fact: &str,
        body: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let body = opt_json(body)?;
        py.detach(|| self.inner.memory_fact(subject, fact, body))
            .map_err(from_writer)
    }

    /// Records the final result; writing `result.json` seals the task.
    #[pyo3(signature = (status, result = None))]
    fn final_result(
        &self,
        py: Python<'_>,
        status: &str,
        result: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let result = opt_json(result)?;
        py.detach(|| self.inner.final_result(status, result))
            .map_err(from_writer)
    }

    /// Appends any event to `events.jsonl` (`event` plus `fields`).
    #[pyo3(signature = (event, fields = None))]
    fn event(
        &self,
        py: Python<'_>,
        event: &str,
        fields: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let mut record = Record::event(event);
        for (k, v) in opt_object(fields)? {
            record = record.with(&k, v);
        }
        py.detach(|| self.inner.append(tasklog_writer::EVENTS_STREAM, record))
            .map(drop)
            .map_err(from_writer)
    }
}

fn finite(v: Option<f64>, what: &str) -> PyResult<Option<f64>> {
    match v {
        Some(x) if !x.is_finite() => Err(refused(format!("{what} must be finite, not {x}"))),
        other => Ok(other),
    }
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Writer>()?;
    m.add_class::<Task>()?;
    m.add_class::<ToolSpan>()?;
    m.add_class::<CycleSpan>()?;
    m.add("TasklogError", m.py().get_type::<TasklogError>())?;
    m.add("RefusedError", m.py().get_type::<RefusedError>())?;
    m.add("TRACEPARENT_ENV", tasklog_writer::TRACEPARENT_ENV)?;
    m.add("EVENTS_STREAM", tasklog_writer::EVENTS_STREAM)?;
    Ok(())
}
