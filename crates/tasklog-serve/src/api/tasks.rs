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
use tasklog_index::{TaskFilter, TaskPart, TaskSort};

use crate::sql::{parse_time, quote};
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
    let sort_name = p.sort.unwrap_or_else(|| "started".to_owned());
    let Some(sort) = TaskSort::parse(&sort_name) else {
        return Err(ApiError::bad_request(format!(
            "sort {sort_name:?} is not one of {}",
            tasklog_index::TASK_SORTS.join(", ")
        )));
    };
    let order = p.order.unwrap_or_else(|| "desc".to_owned());
    if order != "asc" && order != "desc" {
        return Err(ApiError::bad_request(format!(
            "order {order:?} is not asc or desc"
        )));
    }
    let errors = match p.errors {
        None | Some(0) => false,
        Some(1) => true,
        Some(n) => return Err(ApiError::bad_request(format!("errors {n} is not 0 or 1"))),
    };
    let nonempty = |v: Option<String>| v.filter(|t| !t.is_empty());
    let since = p.since.as_deref().map(parse_time).transpose()?;
    let until = p.until.as_deref().map(parse_time).transpose()?;
    state
        .ask(move |index| {
            let mut filter = TaskFilter {
                status: nonempty(p.status),
                since,
                until,
                text: nonempty(p.text),
                agent: nonempty(p.agent),
                project: nonempty(p.project),
                model: nonempty(p.model),
                errors,
                sort,
                ascending: order == "asc",
                // One more than asked: whether there is a next page.
                limit: Some(limit as u64 + 1),
                offset: offset as u64,
            };
            let mut tasks = index.tasks(&filter)?.objects(&[]);
            filter.limit = None;
            let total = index.count_tasks(&filter)?;
            let more = tasks.len() as i64 > limit;
            tasks.truncate(limit as usize);
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
        .ask(move |index| {
            // The questions every reader shares (the CLI's `show`, `tasks`).
            let task = names::require_task(index, &task)?;
            let max = limit as usize;
            let summary = index.task_summary(&task)?.objects(&[]).into_iter().next();
            let mut task_row = index.task_row(&task)?.objects(&["labels", "commits"]);
            for row in &mut task_row {
                row.remove("document"); // task.json itself is among the documents
            }
            let documents = Value::from(index.documents(&task)?.objects(&["body"]));
            let streams = Value::from(index.streams(&task)?.objects(&[]));
            let mut timeline = index.timeline(&task, Some(limit as u64 + 1))?.objects(&["body"]);
            let truncated = timeline.len() > max;
            timeline.truncate(max);
            let timeline = Value::from(timeline);
            let mut part = |part, limit| -> Result<Value, ApiError> {
                Ok(Value::from(index.task_part(&task, part, limit)?.objects(&[])))
            };
            let tool_calls = part(TaskPart::ToolCalls, Some(limit as u64))?;
            let decisions = part(TaskPart::Decisions, Some(limit as u64))?;
            let conversation = part(TaskPart::Conversation, Some(limit as u64))?;
            let quarantined = part(TaskPart::Quarantined, None)?;
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
