//! The typed event methods: one JSON options object per call, field names
//! in camelCase as JS users write them, unknown fields refused (a typo
//! would otherwise drop data silently).

use napi::Result;
use napi_derive::napi;
use serde::Deserialize;
use serde_json::{Map, Value};
use tasklog_writer::{Decision, LlmCall};

use crate::{js_error, parse, parse_object, refused, NativeTask};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LlmCallOptions {
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
    #[serde(default)]
    extra: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DecisionOptions {
    decision_point: String,
    reason: String,
    #[serde(default)]
    input: Value,
    #[serde(default)]
    output: Value,
    context_type: Option<String>,
    context_id: Option<String>,
    function_name: Option<String>,
    duration_ms: Option<f64>,
    source_file: Option<String>,
}

fn options<T: for<'de> Deserialize<'de>>(json: String, what: &str) -> Result<T> {
    serde_json::from_str(&json).map_err(|e| refused(format!("{what}: {e}")))
}

#[napi]
impl NativeTask {
    /// Appends `llm.call` from `{model, provider, inputTokens, outputTokens,
    /// cacheReadTokens, cacheWriteTokens, costUsd, durationMs,
    /// timeToFirstTokenMs, error, extra}`.
    #[napi]
    pub fn llm_call(&self, json: String) -> Result<()> {
        let o: LlmCallOptions = options(json, "llmCall")?;
        self.inner
            .llm_call(LlmCall {
                model: o.model,
                provider: o.provider,
                input_tokens: o.input_tokens,
                output_tokens: o.output_tokens,
                cache_read_tokens: o.cache_read_tokens,
                cache_write_tokens: o.cache_write_tokens,
                cost_usd: o.cost_usd,
                duration_ms: o.duration_ms,
                time_to_first_token_ms: o.time_to_first_token_ms,
                error: o.error,
                extra: o.extra,
            })
            .map_err(js_error)
    }

    /// Appends `decision` from `{decisionPoint, reason, input, output,
    /// contextType, contextId, functionName, durationMs, sourceFile}`.
    #[napi]
    pub fn decision(&self, json: String) -> Result<()> {
        let o: DecisionOptions = options(json, "decision")?;
        self.inner
            .decision(Decision {
                decision_point: o.decision_point,
                context_type: o.context_type,
                context_id: o.context_id,
                function_name: o.function_name,
                input: o.input,
                output: o.output,
                reason: o.reason,
                duration_ms: o.duration_ms,
                source_file: o.source_file,
            })
            .map_err(js_error)
    }

    /// Appends one conversation message.
    #[napi]
    pub fn message(&self, role: String, content: Option<String>) -> Result<()> {
        self.inner.message(&role, parse(content)?).map_err(js_error)
    }

    /// Appends what triggered the agent.
    #[napi]
    pub fn trigger(
        &self,
        trigger_type: String,
        source: String,
        data: Option<String>,
    ) -> Result<()> {
        self.inner
            .trigger(&trigger_type, &source, parse(data)?)
            .map_err(js_error)
    }

    /// Appends `task.status` and merges the status into `task.json`.
    #[napi]
    pub fn set_status(&self, status: String, fields: Option<String>) -> Result<()> {
        self.inner
            .set_status(&status, parse_object(fields, "fields")?)
            .map_err(js_error)
    }

    /// Appends `worker.spawn`.
    #[napi]
    pub fn worker_spawn(
        &self,
        worker_id: String,
        pid: Option<u32>,
        details: Option<String>,
    ) -> Result<()> {
        self.inner
            .worker_spawn(&worker_id, pid, parse_object(details, "details")?)
            .map_err(js_error)
    }

    /// Appends `worker.exit`.
    #[napi]
    pub fn worker_exit(
        &self,
        worker_id: String,
        status: String,
        exit_code: Option<i32>,
        reason: Option<String>,
    ) -> Result<()> {
        self.inner
            .worker_exit(&worker_id, &status, exit_code, reason.as_deref())
            .map_err(js_error)
    }

    /// Appends a `system` event.
    #[napi]
    pub fn system(
        &self,
        severity: String,
        component: String,
        message: String,
        details: Option<String>,
    ) -> Result<()> {
        self.inner
            .system(&severity, &component, &message, parse(details)?)
            .map_err(js_error)
    }

    /// Appends `session.start`.
    #[napi]
    pub fn session_start(&self, session_id: String, details: Option<String>) -> Result<()> {
        self.inner
            .session_start(&session_id, parse(details)?)
            .map_err(js_error)
    }

    /// Appends `session.end`.
    #[napi]
    pub fn session_end(&self, session_id: String, exit_reason: String) -> Result<()> {
        self.inner
            .session_end(&session_id, &exit_reason)
            .map_err(js_error)
    }

    /// Appends a worktree operation.
    #[napi]
    pub fn worktree(
        &self,
        operation: String,
        path: String,
        reason: String,
        details: Option<String>,
    ) -> Result<()> {
        self.inner
            .worktree(
                &operation,
                &path,
                &reason,
                parse_object(details, "details")?,
            )
            .map_err(js_error)
    }

    /// Sets one key of agent state, with an optional TTL in seconds.
    #[napi]
    pub fn set_state(
        &self,
        key: String,
        value: Option<String>,
        ttl_seconds: Option<f64>,
    ) -> Result<()> {
        let ttl = match ttl_seconds {
            None => None,
            Some(s) if s.is_finite() && s >= 0.0 => Some(s as u64),
            Some(s) => return Err(refused(format!("ttlSeconds must be >= 0, not {s}"))),
        };
        self.inner
            .set_state(&key, parse(value)?, ttl)
            .map_err(js_error)
    }

    /// Appends a long-term memory fact.
    #[napi]
    pub fn memory_fact(&self, subject: String, fact: String, body: Option<String>) -> Result<()> {
        self.inner
            .memory_fact(&subject, &fact, parse(body)?)
            .map_err(js_error)
    }

    /// Records the final result; `result.json` seals the task.
    #[napi]
    pub fn final_result(&self, status: String, result: Option<String>) -> Result<()> {
        self.inner
            .final_result(&status, parse(result)?)
            .map_err(js_error)
    }
}
