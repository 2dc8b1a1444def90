//! One typed method per event kind: one per concept of the reference designs, each
//! writing the event documented in docs/FORMAT.md to the `events` stream.

use std::time::Instant;

use serde_json::{json, Map, Value};
use tasklog_format::{now_rfc3339, EventKind, RESULT_DOC, TASK_DOC};

use crate::error::{Error, Result};
use crate::writer::{Record, Task};

/// The stream the typed methods write to.
pub const EVENTS_STREAM: &str = "events";

/// The document holding agent state (latest value per key).
pub const STATE_DOC: &str = "state";

/// An open tool call. `complete` or `fail` appends the second row, with the
/// same `span_id` and the measured `duration_ms`. Dropping it writes nothing:
/// the call then shows as still running, which is the truth on disk.
#[must_use = "a tool span records its end only when completed or failed"]
#[derive(Debug)]
pub struct ToolSpan {
    task: Task,
    span_id: String,
    name: String,
    started: Instant,
}

impl ToolSpan {
    /// The span id shared by the start and end rows.
    pub fn span_id(&self) -> &str {
        &self.span_id
    }

    /// The `traceparent` to hand a child process so its records nest under this call.
    pub fn traceparent(&self) -> String {
        self.task.trace().traceparent(&self.span_id)
    }

    /// Records success with the tool's output.
    pub fn complete(self, output: impl Into<Value>) -> Result<()> {
        let record = self
            .end(EventKind::ToolComplete, "ok")
            .with("output", output);
        self.task.append(EVENTS_STREAM, record).map(drop)
    }

    /// Records failure with the error.
    pub fn fail(self, error: impl Into<Value>) -> Result<()> {
        let record = self.end(EventKind::ToolFail, "error").with("error", error);
        self.task.append(EVENTS_STREAM, record).map(drop)
    }

    fn end(&self, kind: EventKind, status: &str) -> Record {
        Record::event(kind.as_str())
            .with("span_id", self.span_id.clone())
            .with("name", self.name.clone())
            .with("status", status)
            .with("duration_ms", elapsed_ms(self.started))
            .with("gen_ai", json!({"tool": {"name": self.name}}))
    }
}

/// An open planning cycle; `complete` appends its outcome.
#[must_use = "a cycle records its end only when completed"]
#[derive(Debug)]
pub struct CycleSpan {
    task: Task,
    span_id: String,
    started: Instant,
}

impl CycleSpan {
    /// The span id shared by the start and end rows.
    pub fn span_id(&self) -> &str {
        &self.span_id
    }

    /// Records the cycle's outcome (`status` is e.g. "ok", "failed", "aborted").
    pub fn complete(self, status: &str, outcome: impl Into<Value>) -> Result<()> {
        let record = Record::event(EventKind::CycleComplete.as_str())
            .with("span_id", self.span_id)
            .with("status", status)
            .with("duration_ms", elapsed_ms(self.started))
            .with("outcome", outcome);
        self.task.append(EVENTS_STREAM, record).map(drop)
    }
}

fn elapsed_ms(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1e6).round() / 1e3
}

/// One model request: what `api_calls` rows are made of.
#[derive(Debug, Clone, Default)]
pub struct LlmCall {
    /// Requested model, e.g. `claude-sonnet-4-5`.
    pub model: String,
    /// Provider, e.g. `anthropic`, `openai`.
    pub provider: Option<String>,
    /// Input tokens, OpenTelemetry semantics: cached tokens included.
    pub input_tokens: Option<u64>,
    /// Output tokens.
    pub output_tokens: Option<u64>,
    /// Input tokens served from the cache.
    pub cache_read_tokens: Option<u64>,
    /// Input tokens written to the cache.
    pub cache_write_tokens: Option<u64>,
    /// Cost in USD when the provider reported one; otherwise the index prices it.
    pub cost_usd: Option<f64>,
    /// Wall time of the request.
    pub duration_ms: Option<f64>,
    /// Time to the first streamed token.
    pub time_to_first_token_ms: Option<f64>,
    /// An error message when the request failed.
    pub error: Option<String>,
    /// Anything else worth keeping (request id, raw provider usage, ...).
    pub extra: Map<String, Value>,
}

/// One decision with its full reasoning: what `logic_flow` / `decision_log` rows are made of.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    /// What was decided, e.g. `select_next_task`.
    pub decision_point: String,
    /// Kind of object decided about: coordinator, worker, task, worktree.
    pub context_type: Option<String>,
    /// Id of that object.
    pub context_id: Option<String>,
    /// The function that decided.
    pub function_name: Option<String>,
    /// The inputs considered.
    pub input: Value,
    /// The choice made.
    pub output: Value,
    /// The reasoning, in full.
    pub reason: String,
    /// Time spent deciding.
    pub duration_ms: Option<f64>,
    /// `file:line` of the decision in the agent's code.
    pub source_file: Option<String>,
}

fn opt_u64(v: Option<u64>) -> Value {
    v.map_or(Value::Null, Value::from)
}

impl Task {
    /// Starts a tool call: appends `tool.start` and returns the span whose
    /// `complete`/`fail` appends the end row.
    pub fn tool_start(&self, name: &str, input: impl Into<Value>) -> Result<ToolSpan> {
        let span_id = self.trace().new_span();
        let record = Record::event(EventKind::ToolStart.as_str())
            .with("span_id", span_id.clone())
            .with("name", name)
            .with("status", "running")
            .with(
                "gen_ai",
                json!({"operation": {"name": "execute_tool"}, "tool": {"name": name}}),
            )
            .with("input", input);
        self.append(EVENTS_STREAM, record)?;
        Ok(ToolSpan {
            task: self.clone(),
            span_id,
            name: name.to_owned(),
            started: Instant::now(),
        })
    }

    /// Appends an `llm.call` with usage and cost under `gen_ai`.
    pub fn llm_call(&self, call: LlmCall) -> Result<()> {
        let mut usage = Map::new();
        usage.insert("input_tokens".into(), opt_u64(call.input_tokens));
        usage.insert("output_tokens".into(), opt_u64(call.output_tokens));
        if let Some(n) = call.cache_read_tokens {
            usage.insert("cache_read".into(), json!({ "input_tokens": n }));
        }
        if let Some(n) = call.cache_write_tokens {
            usage.insert("cache_creation".into(), json!({ "input_tokens": n }));
        }
        if let Some(cost) = call.cost_usd {
            usage.insert("cost".into(), json!({"amount": cost, "currency": "USD"}));
        }
        let mut gen_ai = Map::new();
        gen_ai.insert("operation".into(), json!({"name": "chat"}));
        if let Some(provider) = &call.provider {
            gen_ai.insert("provider".into(), json!({ "name": provider }));
        }
        gen_ai.insert("request".into(), json!({ "model": call.model }));
        gen_ai.insert("usage".into(), Value::Object(usage));
        if let Some(ttft) = call.time_to_first_token_ms {
            gen_ai.insert("server".into(), json!({ "time_to_first_token_ms": ttft }));
        }
        let mut record = Record::event(EventKind::LlmCall.as_str())
            .with("name", call.model.clone())
            .with("status", if call.error.is_some() { "error" } else { "ok" })
            .with_opt("duration_ms", call.duration_ms)
            .with_opt("error", call.error)
            .with("gen_ai", Value::Object(gen_ai));
        for (k, v) in call.extra {
            record = record.with(&k, v);
        }
        self.append(EVENTS_STREAM, record).map(drop)
    }

    /// Appends a `decision` with its full reasoning.
    pub fn decision(&self, d: Decision) -> Result<()> {
        let record = Record::event(EventKind::Decision.as_str())
            .with("name", d.decision_point)
            .with_opt("context_type", d.context_type)
            .with_opt("context_id", d.context_id)
            .with_opt("function_name", d.function_name)
            .with("input", d.input)
            .with("output", d.output)
            .with("reason", d.reason)
            .with_opt("duration_ms", d.duration_ms)
            .with_opt("source_file", d.source_file);
        self.append(EVENTS_STREAM, record).map(drop)
    }

    /// Starts a planning cycle with its goals; records about the cycle
    /// (decisions, tool calls) can name `CycleSpan::span_id` as parent.
    pub fn cycle_start(&self, name: &str, goals: impl Into<Value>) -> Result<CycleSpan> {
        let span_id = self.trace().new_span();
        let record = Record::event(EventKind::CycleStart.as_str())
            .with("span_id", span_id.clone())
            .with("name", name)
            .with("status", "running")
            .with("goals", goals);
        self.append(EVENTS_STREAM, record)?;
        Ok(CycleSpan {
            task: self.clone(),
            span_id,
            started: Instant::now(),
        })
    }

    /// Appends one conversation message.
    pub fn message(&self, role: &str, content: impl Into<Value>) -> Result<()> {
        let record = Record::event(EventKind::Message.as_str())
            .with("role", role)
            .with("content", content);
        self.append(EVENTS_STREAM, record).map(drop)
    }

    /// Appends what triggered the agent (`trigger_type` e.g. `issue_detected`,
    /// `source` e.g. `github`).
    pub fn trigger(&self, trigger_type: &str, source: &str, data: impl Into<Value>) -> Result<()> {
        let record = Record::event(EventKind::Trigger.as_str())
            .with("name", trigger_type)
            .with("source", source)
            .with("data", data);
        self.append(EVENTS_STREAM, record).map(drop)
    }

    /// Appends `task.status` and rewrites `task.json` with the new status, a
    /// `<status>_at` time, `updated_at`, and `fields` merged in.
    pub fn set_status(&self, status: &str, fields: Map<String, Value>) -> Result<()> {
        let now = now_rfc3339();
        let mut record = Record::event(EventKind::TaskStatus.as_str()).with("status", status);
        for (k, v) in &fields {
            record = record.with(k, v.clone());
        }
        self.append(EVENTS_STREAM, record)?;
        self.update_task_doc(|doc| {
            doc.entry("task_id")
                .or_insert_with(|| self.id().as_str().into());
            doc.entry("created_at")
                .or_insert_with(|| now.clone().into());
            doc.insert("status".into(), status.into());
            doc.insert(format!("{status}_at"), now.clone().into());
            doc.insert("updated_at".into(), now.clone().into());
            doc.extend(fields);
        })
    }

    /// Read-modify-write of `task.json` under the task's lock file, so two
    /// processes changing status cannot lose each other's fields.
    pub fn update_task_doc(&self, change: impl FnOnce(&mut Map<String, Value>)) -> Result<()> {
        self.update_doc(TASK_DOC, change)
    }

    /// Read-modify-write of the object document `doc` under the task's lock file.
    pub fn update_doc(
        &self,
        doc: &str,
        change: impl FnOnce(&mut Map<String, Value>),
    ) -> Result<()> {
        let lock_path = self.dir().join(".task.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, "opening task lock", e))?;
        fs2::FileExt::lock_exclusive(&lock)
            .map_err(|e| Error::io(&lock_path, "locking task", e))?;
        let result = self.read_doc(doc).and_then(|current| {
            let mut map = match current {
                Some(Value::Object(map)) => map,
                _ => Map::new(),
            };
            change(&mut map);
            self.put(doc, &map)
        });
        let _ = fs2::FileExt::unlock(&lock);
        result
    }

    /// Appends `worker.spawn` for a worker process or sub-agent.
    pub fn worker_spawn(
        &self,
        worker_id: &str,
        pid: Option<u32>,
        details: Map<String, Value>,
    ) -> Result<()> {
        let mut record = Record::event(EventKind::WorkerSpawn.as_str())
            .with("worker_id", worker_id)
            .with("status", "spawned")
            .with_opt("pid", pid);
        for (k, v) in details {
            record = record.with(&k, v);
        }
        self.append(EVENTS_STREAM, record).map(drop)
    }

    /// Appends `worker.exit` (`status` is `completed` or `failed`).
    pub fn worker_exit(
        &self,
        worker_id: &str,
        status: &str,
        exit_code: Option<i32>,
        reason: Option<&str>,
    ) -> Result<()> {
        let record = Record::event(EventKind::WorkerExit.as_str())
            .with("worker_id", worker_id)
            .with("status", status)
            .with_opt("exit_code", exit_code)
            .with_opt("failure_reason", reason);
        self.append(EVENTS_STREAM, record).map(drop)
    }

    /// Appends a system event (`severity`: debug, info, warning, error, critical).
    pub fn system(
        &self,
        severity: &str,
        component: &str,
        message: &str,
        details: impl Into<Value>,
    ) -> Result<()> {
        let record = Record::event(EventKind::System.as_str())
            .with("severity", severity)
            .with("component", component)
            .with("message", message)
            .with("details", details);
        self.append(EVENTS_STREAM, record).map(drop)
    }

    /// Appends `session.start` for a coordinator or agent session.
    pub fn session_start(&self, session_id: &str, details: impl Into<Value>) -> Result<()> {
        let record = Record::event(EventKind::SessionStart.as_str())
            .with("session_id", session_id)
            .with("pid", std::process::id())
            .with("details", details);
        self.append(EVENTS_STREAM, record).map(drop)
    }

    /// Appends `session.end` with the exit reason (`normal`, `signal`, `error`).
    pub fn session_end(&self, session_id: &str, exit_reason: &str) -> Result<()> {
        let record = Record::event(EventKind::SessionEnd.as_str())
            .with("session_id", session_id)
            .with("exit_reason", exit_reason);
        self.append(EVENTS_STREAM, record).map(drop)
    }

    /// Appends a worktree operation (`create`, `remove`, `preserve`, `check`).
    pub fn worktree(
        &self,
        operation: &str,
        path: &str,
        reason: &str,
        details: Map<String, Value>,
    ) -> Result<()> {
        let mut record = Record::event(EventKind::Worktree.as_str())
            .with("name", operation)
            .with("worktree_path", path)
            .with("reason", reason);
        for (k, v) in details {
            record = record.with(&k, v);
        }
        self.append(EVENTS_STREAM, record).map(drop)
    }

    /// Sets one key of agent state: appends `state.set` (the history) and
    /// rewrites `state.json` (the latest value per key), with an optional TTL.
    pub fn set_state(
        &self,
        key: &str,
        value: impl Into<Value>,
        ttl_seconds: Option<u64>,
    ) -> Result<()> {
        let value = value.into();
        let now = std::time::SystemTime::now();
        let expires_at = ttl_seconds
            .map(|s| tasklog_format::rfc3339_at(now + std::time::Duration::from_secs(s)));
        let record = Record::event(EventKind::StateSet.as_str())
            .with("name", key)
            .with("value", value.clone())
            .with_opt("expires_at", expires_at.clone());
        self.append(EVENTS_STREAM, record)?;
        self.update_doc(STATE_DOC, |state| {
            state.insert(
                key.to_owned(),
                json!({"value": value, "updated_at": tasklog_format::rfc3339_at(now), "expires_at": expires_at}),
            );
        })
    }

    /// Appends a long-term memory fact.
    pub fn memory_fact(&self, subject: &str, fact: &str, body: impl Into<Value>) -> Result<()> {
        let record = Record::event(EventKind::MemoryFact.as_str())
            .with("name", subject)
            .with("fact", fact)
            .with("body", body);
        self.append(EVENTS_STREAM, record).map(drop)
    }

    /// Records the final result: a `result` event, the task's status in
    /// `task.json`, and last `result.json`, whose presence seals the task.
    pub fn final_result(&self, status: &str, result: impl Into<Value>) -> Result<()> {
        let result = result.into();
        let doc = json!({
            "task_id": self.id().as_str(),
            "status": status,
            "completed_at": now_rfc3339(),
            "result": result,
        });
        self.append(
            EVENTS_STREAM,
            Record::event(EventKind::Result.as_str())
                .with("status", status)
                .with("result", result),
        )?;
        let now = now_rfc3339();
        self.update_task_doc(|task| {
            task.entry("task_id")
                .or_insert_with(|| self.id().as_str().into());
            task.insert("status".into(), status.into());
            task.insert(format!("{status}_at"), now.clone().into());
            task.insert("updated_at".into(), now.into());
        })?;
        self.put(RESULT_DOC, &doc)
    }
}
