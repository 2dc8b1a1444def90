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
use rusqlite::OptionalExtension;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::names;
use crate::sql::{json_rows, objects};
use crate::state::AppState;
use crate::transcript::{self, Cursor, Options};

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
        .read(move |c| {
            names::require_task(c, &task)?;
            // A search hit in a verbatim source line shows the source lines.
            if let (Some(id), false) = (p.at, options.source) {
                let stream: Option<String> = c
                    .query_row(
                        "SELECT stream FROM records WHERE record_id = ?1 AND task_id = ?2",
                        (id, &task),
                        |r| r.get(0),
                    )
                    .optional()?;
                options.source = stream.is_some_and(|s| {
                    transcript::source_streams(c, &task).is_ok_and(|h| h.contains(&s))
                });
            }
            let (from, backwards) = match (after, before, p.at) {
                (_, Some(b), _) => (b, true),
                (_, _, Some(id)) => (
                    transcript::cursor_at(c, &task, id)?.ok_or_else(|| {
                        ApiError::not_found(format!("task {task} has no record {id}"))
                    })?,
                    false,
                ),
                (Some(a), _, _) => (a, false),
                _ => (Cursor::start(), false),
            };
            let page = transcript::page(c, &task, &from, backwards, limit, &options)?;
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

/// Errors of one task, each with the record its transcript item starts at:
/// failed tool calls (at their `tool.start`), failed model calls,
/// error-level system events, records carrying an `error`.
const ERRORS: &str = r#"
SELECT r.record_id, coalesce(s.record_id, r.record_id) AS at, r.ts, r.event,
       coalesce(r.tool_name, r.name) AS name,
       coalesce(r.error, json_extract(r.body, '$.error'),
                CASE WHEN r.severity IN ('error', 'critical') THEN coalesce(json_extract(r.body, '$.message'), r.severity) END,
                r.status) AS error
  FROM records r
  LEFT JOIN records s ON r.event = 'tool.fail' AND s.span_id = r.span_id AND s.task_id = r.task_id AND s.event = 'tool.start'
 WHERE r.task_id = ?1
   AND (r.event = 'tool.fail' OR r.error IS NOT NULL OR r.severity IN ('error', 'critical')
        OR (r.event = 'llm.call' AND r.status IN ('error', 'failed'))
        OR (r.event <> 'tool.start' AND json_type(r.body, '$.error') IN ('object', 'text')))
 ORDER BY r.ts, r.record_id
 LIMIT 500
"#;

/// Tool spans for the waterfall; the input is reduced to a label here.
const TOOLS: &str =
    "SELECT id, tool_name, status, input, error, duration_ms, started_at, completed_at
   FROM tool_calls WHERE task_id = ?1 ORDER BY started_at, id LIMIT ?2";

/// Most tool spans drawn; the count says how many there are.
const MAX_SPANS: i64 = 2000;

pub async fn overview(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(raw) = path.map_err(super::path_error)?;
    let task = names::task_id(&raw)?;
    state
        .read(move |c| {
            names::require_task(c, &task)?;
            let summary = summary(c, &task)?;
            let (streams, _) = json_rows(
                c,
                r#"SELECT name, "offset" AS bytes, line_count AS records FROM files
                    WHERE task_id = ?1 AND kind = 'stream' ORDER BY name"#,
                [&task],
                &[],
                usize::MAX,
            )?;
            let (errors, _) = json_rows(c, ERRORS, [&task], &[], usize::MAX)?;
            let (quarantined, _) = json_rows(
                c,
                r#"SELECT path, line, "offset", reason, prefix, detected_at FROM ingest_errors
                    WHERE task_id = ?1 ORDER BY path, "offset" LIMIT 500"#,
                [&task],
                &[],
                usize::MAX,
            )?;
            let mut tools = Vec::new();
            let mut stmt = c.prepare_cached(TOOLS)?;
            let mut rows = stmt.query((&task, MAX_SPANS))?;
            while let Some(r) = rows.next()? {
                let input: Option<String> = r.get(3)?;
                let input = input
                    .map(|s| serde_json::from_str(&s).unwrap_or(Value::String(s)))
                    .unwrap_or(Value::Null);
                tools.push(json!({
                    "id": r.get::<_, i64>(0)?,
                    "tool_name": r.get::<_, Option<String>>(1)?,
                    "label": transcript::tool_label(&input),
                    "status": r.get::<_, Option<String>>(2)?,
                    "error": r.get::<_, Option<String>>(4)?,
                    "duration_ms": r.get::<_, Option<f64>>(5)?,
                    "started_at": r.get::<_, Option<String>>(6)?,
                    "completed_at": r.get::<_, Option<String>>(7)?,
                }));
            }
            let tool_count: i64 = c.query_row(
                "SELECT count(*) FROM records WHERE task_id = ?1 AND event = 'tool.start'",
                [&task],
                |r| r.get(0),
            )?;
            let records: i64 = c.query_row(
                "SELECT count(*) FROM records WHERE task_id = ?1",
                [&task],
                |r| r.get(0),
            )?;
            let source_streams = transcript::source_streams(c, &task)?;
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
fn summary(c: &rusqlite::Connection, task: &str) -> Result<Map<String, Value>, ApiError> {
    Ok(objects(c, tasklog_index::TASK_SUMMARY, [task], &[])?
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
        .read(move |c| {
            names::require_task(c, &task)?;
            let summary = summary(c, &task)?;
            let items = transcript::all(c, &task, &Options::default())?;
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
