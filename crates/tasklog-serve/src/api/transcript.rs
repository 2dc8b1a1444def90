//! The task page's reads: `GET /api/tasks/{id}/transcript` (the transcript
//! a page at a time, by cursor), `GET /api/tasks/{id}/overview` (summary
//! card, errors, tool spans for the waterfall: everything but the
//! transcript, small whatever the task's size) and
//! `GET /api/tasks/{id}/export?format=markdown|html` (the task as a file).
//!
//! The SQL of each question lives here or in [`crate::transcript`], once.

use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::names;
use crate::state::AppState;
use crate::transcript::{self, Cursor, Options};
use tasklog_index::{Questions, TaskPart};

/// Paging of the transcript.
#[derive(Debug, Deserialize)]
pub struct TranscriptParams {
    /// A cursor (`ts~id`, from `last`): the page after it.
    after: Option<String>,
    /// A cursor (from `first`): the page before it.
    before: Option<String>,
    /// A record id: the page starting at that record (a search hit).
    at: Option<i64>,
    /// Items per page (default 200, at most 2000).
    limit: Option<i64>,
    /// `1`: include verbatim source lines and every record's body.
    source: Option<String>,
}

fn flag(v: Option<&str>) -> bool {
    matches!(v, Some("1" | "true" | "yes"))
}

fn cursor(name: &str, raw: &str) -> Result<Cursor, ApiError> {
    Cursor::decode(raw).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{name}={raw:?} is not a cursor: pass back the `first` or `last` of an answer"
        ))
    })
}

pub async fn transcript(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    params: Result<Query<TranscriptParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(raw) = path.map_err(super::path_error)?;
    let Query(p) = params.map_err(super::query_error)?;
    let task = names::task_id(&raw)?;
    let limit = super::limit(p.limit, 200, 2000)? as usize;
    let mut options = Options {
        source: flag(p.source.as_deref()),
    };
    if [p.after.is_some(), p.before.is_some(), p.at.is_some()]
        .iter()
        .filter(|x| **x)
        .count()
        > 1
    {
        return Err(ApiError::bad_request(
            "give at most one of after, before and at",
        ));
    }
    let after = p.after.as_deref().map(|c| cursor("after", c)).transpose()?;
    let before = p
        .before
        .as_deref()
        .map(|c| cursor("before", c))
        .transpose()?;
    state
        .ask(move |index| {
            let task = names::require_task(index, &task)?;
            // A search hit in a verbatim source line shows the source lines.
            if let (Some(id), false) = (p.at, options.source) {
                let stream = index
                    .records_since(id - 1, &[], Some(&task), 1, 0)?
                    .rows
                    .first()
                    .filter(|r| r.first().and_then(Value::as_i64) == Some(id))
                    .and_then(|r| r.get(2)?.as_str().map(str::to_owned));
                options.source = stream
                    .is_some_and(|s| index.source_streams(&task).is_ok_and(|h| h.contains(&s)));
            }
            let (from, backwards) = match (after, before, p.at) {
                (_, Some(b), _) => (b, true),
                (_, _, Some(id)) => (
                    transcript::cursor_at(index, &task, id)?.ok_or_else(|| {
                        ApiError::not_found(format!("task {task} has no record {id}"))
                    })?,
                    false,
                ),
                (Some(a), _, _) => (a, false),
                _ => (Cursor::start(), false),
            };
            let page = transcript::page(index, &task, &from, backwards, limit, &options)?;
            let mut v = serde_json::to_value(page)
                .map_err(|e| ApiError::internal(format!("transcript as JSON: {e}")))?;
            if let Some(m) = v.as_object_mut() {
                m.insert("task_id".into(), task.into());
                m.insert("source".into(), options.source.into());
            }
            Ok(Json(v))
        })
        .await
}

/// Most tool spans drawn; the count says how many there are.
const MAX_SPANS: u64 = 2000;

pub async fn overview(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(raw) = path.map_err(super::path_error)?;
    let task = names::task_id(&raw)?;
    state
        .ask(move |index| {
            let task = names::require_task(index, &task)?;
            let summary = summary(index, &task)?;
            let streams = Value::from(index.streams(&task)?.objects(&[]));
            let errors = Value::from(index.task_part(&task, TaskPart::Errors, Some(500))?.objects(&[]));
            let quarantined =
                Value::from(index.task_part(&task, TaskPart::Quarantined, Some(500))?.objects(&[]));
            let mut tools = Vec::new();
            let spans = index.task_part(&task, TaskPart::ToolCalls, Some(MAX_SPANS))?;
            for r in spans.objects(&[]) {
                let input = match r.get("input") {
                    Some(Value::String(s)) => {
                        serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()))
                    }
                    _ => Value::Null,
                };
                let field = |k: &str| r.get(k).cloned().unwrap_or(Value::Null);
                tools.push(json!({
                    "id": field("id"),
                    "tool_name": field("tool_name"),
                    "label": transcript::tool_label(&input),
                    "status": field("status"),
                    "error": field("error"),
                    "duration_ms": field("duration_ms"),
                    "started_at": field("started_at"),
                    "completed_at": field("completed_at"),
                }));
            }
            let counts = index.task_part(&task, TaskPart::Counts, None)?.objects(&[]);
            let count = |k: &str| {
                counts
                    .first()
                    .and_then(|c| c.get(k)?.as_i64())
                    .unwrap_or(0)
            };
            let (records, tool_count) = (count("records"), count("tool_calls"));
            let source_streams = index.source_streams(&task)?;
            let body = format!(
                r#"{{"task_id":{},"summary":{},"streams":{streams},"source_streams":{},"records":{records},"errors":{errors},"quarantined":{quarantined},"tools":{},"tool_count":{tool_count}}}"#,
                crate::sql::quote(&task),
                Value::Object(summary),
                json!(source_streams),
                Value::Array(tools),
            );
            Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
        })
        .await
}

/// The task-list row of one task (the contract's columns, whichever of
/// them the index has).
fn summary(index: &mut dyn Questions, task: &str) -> Result<Map<String, Value>, ApiError> {
    Ok(index
        .task_summary(task)?
        .objects(&[])
        .into_iter()
        .next()
        .unwrap_or_default())
}

/// The file format of an export.
#[derive(Debug, Deserialize)]
pub struct ExportParams {
    /// `markdown` (default) or `html`.
    format: Option<String>,
}

pub async fn export(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    params: Result<Query<ExportParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(raw) = path.map_err(super::path_error)?;
    let Query(p) = params.map_err(super::query_error)?;
    let task = names::task_id(&raw)?;
    let html = match p.format.as_deref().unwrap_or("markdown") {
        "markdown" | "md" => false,
        "html" => true,
        other => {
            return Err(ApiError::bad_request(format!(
                "format={other:?}: use markdown or html (JSON is /api/tasks/{{id}}/logs/full)"
            )))
        }
    };
    state
        .ask(move |index| {
            let task = names::require_task(index, &task)?;
            let summary = summary(index, &task)?;
            let items = transcript::all(index, &task, &Options::default())?;
            let (body, kind, ext) = if html {
                (
                    crate::render::html(&task, &summary, &items),
                    "text/html; charset=utf-8",
                    "html",
                )
            } else {
                (
                    crate::render::markdown(&task, &summary, &items),
                    "text/markdown; charset=utf-8",
                    "md",
                )
            };
            // An attachment: the file is meant to be saved, and a browser
            // never renders it under the dashboard's origin.
            let disposition = format!("attachment; filename=\"{}.{ext}\"", task.replace('"', "_"));
            Ok((
                [
                    (header::CONTENT_TYPE, kind.to_owned()),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                body,
            )
                .into_response())
        })
        .await
}
