//! `GET /api/tasks` (the task list of `tasklog tasks`) and
//! `GET /api/tasks/{task_id}` (summary, documents, the timeline of
//! `tasklog show`, tool calls, decisions, conversation, quarantined lines).

use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::names;
use crate::sql::{json_rows, objects, parse_time, quote};
use crate::state::AppState;

/// Filters, order and paging of the task list (the board's contract;
/// docs/SERVE.md).
#[derive(Debug, Deserialize)]
pub struct ListParams {
    /// A status of the facts' vocabulary (or a source's own, kept as is).
    status: Option<String>,
    agent: Option<String>,
    project: Option<String>,
    /// One model among the task's models.
    model: Option<String>,
    /// 1: only tasks with errors; 0 or absent: every task.
    errors: Option<u8>,
    since: Option<String>,
    until: Option<String>,
    /// Substring of the task id or title (case-insensitive for ASCII).
    text: Option<String>,
    /// `started` (default), `last_activity`, `cost` or `duration`.
    sort: Option<String>,
    /// `desc` (default) or `asc`.
    order: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(p) = params.map_err(super::query_error)?;
    let limit = super::limit(p.limit, 100, 1000)?;
    let offset = p.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::bad_request("offset must not be negative"));
    }
    let sort = p.sort.unwrap_or_else(|| "started".to_owned());
    if !tasklog_index::TASK_SORTS.contains(&sort.as_str()) {
        return Err(ApiError::bad_request(format!(
            "sort {sort:?} is not one of {}",
            tasklog_index::TASK_SORTS.join(", ")
        )));
    }
    let order = p.order.unwrap_or_else(|| "desc".to_owned());
    if order != "asc" && order != "desc" {
        return Err(ApiError::bad_request(format!(
            "order {order:?} is not asc or desc"
        )));
    }
    let errors = match p.errors {
        None | Some(0) => None,
        Some(1) => Some(1),
        Some(n) => return Err(ApiError::bad_request(format!("errors {n} is not 0 or 1"))),
    };
    let nonempty = |v: Option<String>| v.filter(|t| !t.is_empty());
    let (status, agent, project, model, text) = (
        nonempty(p.status),
        nonempty(p.agent),
        nonempty(p.project),
        nonempty(p.model),
        nonempty(p.text),
    );
    state
        .read(move |c| {
            let since = p.since.as_deref().map(|s| parse_time(c, s)).transpose()?;
            let until = p.until.as_deref().map(|s| parse_time(c, s)).transpose()?;
            let filters = |limit: i64, offset: i64| {
                (
                    status.clone(),
                    since.clone(),
                    until.clone(),
                    text.clone(),
                    limit,
                    offset,
                    agent.clone(),
                    project.clone(),
                    model.clone(),
                    errors,
                    sort.clone(),
                    order.clone(),
                )
            };
            let tasks = objects(c, tasklog_index::TASKS, filters(limit + 1, offset), &[])?;
            let total: i64 = c
                .prepare_cached(&format!("SELECT count(*) FROM ({})", tasklog_index::TASKS))?
                .query_row(filters(-1, 0), |r| r.get(0))?;
            let more = tasks.len() as i64 > limit;
            let tasks: Vec<_> = tasks.into_iter().take(limit as usize).collect();
            Ok(Json(json!({
                "tasks": tasks,
                "next_offset": more.then_some(offset + limit),
                "total": total,
            })))
        })
        .await
}

/// How much of the timeline one answer holds.
#[derive(Debug, Deserialize)]
pub struct DetailParams {
    limit: Option<i64>,
}

/// The timeline of `tasklog show --full`: documents, records and
/// quarantined lines in time order, errors in `error`.
const TIMELINE: &str = r#"
SELECT ts, source, event, name, status, duration_ms, detail, error, record_id, span_id, body
FROM (
    SELECT d.updated_at AS ts, d.name || '.json' AS source, 'document' AS event, d.name AS name,
           NULL AS status, NULL AS duration_ms, 'version ' || d.version || ', ' || d.size || ' bytes' AS detail,
           NULL AS error, NULL AS record_id, NULL AS span_id, d.body AS body, 0 AS ord, 0 AS id
      FROM documents d WHERE d.task_id = ?1
    UNION ALL
    SELECT r.ts, r.stream || ':' || r.line, r.event, r.name, r.status, r.duration_ms,
           CASE
             WHEN r.event = 'llm.call' THEN
               coalesce(a.model, '?') || ' in ' || coalesce(a.tokens_input, '?') || ' out ' || coalesce(a.tokens_output, '?')
               || CASE WHEN a.estimated_cost_usd IS NULL THEN ' unpriced'
                       ELSE ' $' || printf('%.6f', a.estimated_cost_usd) END
             WHEN r.event = 'message' THEN r.role
             WHEN r.event = 'system' THEN r.severity || ' ' || coalesce(r.component, '-')
           END,
           CASE
             WHEN r.event IN ('tool.fail', 'llm.call') OR r.error IS NOT NULL
               THEN coalesce(r.error, json_extract(r.body, '$.error'))
             WHEN r.severity IN ('error', 'critical') THEN coalesce(json_extract(r.body, '$.message'), r.severity)
             WHEN r.status IN ('error', 'failed') THEN r.status
           END,
           r.record_id, r.span_id, r.body, 1, r.record_id
      FROM records r LEFT JOIN api_calls a ON a.call_id = r.record_id
     WHERE r.task_id = ?1
    UNION ALL
    SELECT e.detected_at, e.path || ':' || coalesce(e.line, '?'), 'quarantined', NULL, NULL, NULL,
           'byte ' || e."offset" || ': ' || coalesce(e.prefix, ''), e.reason, NULL, NULL, NULL, 2, e.error_id
      FROM ingest_errors e WHERE e.task_id = ?1
)
ORDER BY ts, ord, id
LIMIT ?2
"#;

pub async fn detail(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    params: Result<Query<DetailParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(raw) = path.map_err(super::path_error)?;
    let Query(p) = params.map_err(super::query_error)?;
    let task = names::task_id(&raw)?;
    let limit = super::limit(p.limit, 5000, 100_000)?;
    state
        .read(move |c| {
            let task = names::require_task(c, &task)?;
            let max = limit as usize;
            let summary = objects(c, tasklog_index::TASK_SUMMARY, [&task], &[])?.into_iter().next();
            let mut task_row = objects(
                c,
                "SELECT * FROM tasks WHERE task_id = ?1",
                [&task],
                &["labels", "commits"],
            )?;
            for row in &mut task_row {
                row.remove("document"); // task.json itself is among the documents
            }
            let (documents, _) = json_rows(
                c,
                "SELECT name, version, size, updated_at, body FROM documents WHERE task_id = ?1 ORDER BY name",
                [&task],
                &["body"],
                usize::MAX,
            )?;
            let (streams, _) = json_rows(
                c,
                r#"SELECT name, "offset" AS bytes, line_count AS records FROM files
                    WHERE task_id = ?1 AND kind = 'stream' ORDER BY name"#,
                [&task],
                &[],
                usize::MAX,
            )?;
            let (timeline, truncated) = json_rows(c, TIMELINE, (&task, limit + 1), &["body"], max)?;
            let (tool_calls, _) = json_rows(
                c,
                "SELECT id, span_id, tool_name, status, input, output, error, duration_ms, started_at, completed_at
                   FROM tool_calls WHERE task_id = ?1 ORDER BY started_at, id LIMIT ?2",
                (&task, limit),
                &[],
                max,
            )?;
            // logic_flow and conversations have no index by task: reach their
            // rows through the task's records (`+event` keeps SQLite on
            // records(task_id, ts) rather than reading every row of the kind).
            let (decisions, _) = json_rows(
                c,
                "SELECT flow_id, timestamp, decision_point, function_name, decision_input, decision_output,
                        decision_reason, duration_ms
                   FROM logic_flow WHERE flow_id IN (SELECT record_id FROM records WHERE task_id = ?1 AND +event = 'decision')
                  ORDER BY timestamp, flow_id LIMIT ?2",
                (&task, limit),
                &[],
                max,
            )?;
            let (conversation, _) = json_rows(
                c,
                "SELECT conversation_id, message_index, block_index, timestamp, role, content_type, content,
                        tool_name, tool_input, tool_output, tool_success
                   FROM conversations WHERE conversation_id IN (SELECT record_id FROM records WHERE task_id = ?1 AND +event = 'message')
                  ORDER BY timestamp, conversation_id, block_index LIMIT ?2",
                (&task, limit),
                &[],
                max,
            )?;
            let (quarantined, _) = json_rows(
                c,
                r#"SELECT path, line, "offset", reason, prefix, detected_at FROM ingest_errors
                    WHERE task_id = ?1 ORDER BY path, "offset""#,
                [&task],
                &[],
                usize::MAX,
            )?;
            let object = |v: Option<serde_json::Map<String, Value>>| {
                v.map_or_else(|| "null".to_owned(), |m| Value::Object(m).to_string())
            };
            let body = format!(
                r#"{{"task_id":{},"summary":{},"task":{},"documents":{documents},"streams":{streams},"timeline":{timeline},"timeline_truncated":{truncated},"tool_calls":{tool_calls},"decisions":{decisions},"conversation":{conversation},"quarantined":{quarantined}}}"#,
                quote(&task),
                object(summary),
                object(task_row.into_iter().next()),
            );
            Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
        })
        .await
}
