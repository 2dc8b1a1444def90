//! `GET /api/tasks/{task_id}/logs/{name}`: the six endpoints of the
//! structured task logging design, and any other document or stream.
//!
//! A document is answered exactly as on disk (the `documents` table holds
//! its bytes). A stream is answered as a JSON array of its records, or as
//! JSON Lines with `Accept: application/x-ndjson`, each record's bytes as
//! written; pages are byte ranges of the file: `after` is a byte offset,
//! records starting at or after it are returned, and `X-Next-Offset` is
//! where the next page starts. `full` is one object with every document
//! and stream of the task.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tasklog_index::Questions;

use crate::error::ApiError;
use crate::names::{self, Entry};
use crate::state::AppState;

/// Paging of a stream.
#[derive(Debug, Deserialize)]
pub struct LogParams {
    /// Byte offset: records starting at or after it.
    after: Option<i64>,
    /// Most records in this page.
    limit: Option<i64>,
}

/// The header naming the byte offset of the next page.
pub const NEXT_OFFSET: &str = "x-next-offset";

pub async fn log(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    params: Result<Query<LogParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path((raw_task, raw_name)) = path.map_err(super::path_error)?;
    let Query(p) = params.map_err(super::query_error)?;
    let task = names::task_id(&raw_task)?;
    let limit = super::limit(p.limit, 1000, 100_000)?;
    let after = p.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::bad_request(
            "after must be a byte offset (0 or more)",
        ));
    }
    let ndjson = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/x-ndjson") || v.contains("application/jsonl"));
    state
        .ask(move |index| {
            let task = names::require_task(index, &task)?;
            if raw_name == "full" {
                return full(index, &task).map(|body| json_response(body, None));
            }
            match names::resolve(index, &task, &raw_name)? {
                Entry::Document(name) => {
                    let body = document_body(index, &task, &name)?;
                    Ok(json_response(body, None))
                }
                Entry::Stream(name) => {
                    let page = page(index, &task, &name, after, limit)?;
                    let mut body = String::new();
                    if ndjson {
                        for r in &page.records {
                            body.push_str(r);
                            body.push('\n');
                        }
                    } else {
                        body = array(&page.records);
                    }
                    let mut response = json_response(body, Some(page.next));
                    response.headers_mut().insert(
                        "x-has-more",
                        HeaderValue::from_static(if page.more { "true" } else { "false" }),
                    );
                    if ndjson {
                        response.headers_mut().insert(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/x-ndjson"),
                        );
                    }
                    Ok(response)
                }
            }
        })
        .await
}

fn json_response(body: String, next: Option<i64>) -> Response {
    let mut response = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(next) = next {
        response
            .headers_mut()
            .insert(NEXT_OFFSET, HeaderValue::from(next));
    }
    response
}

/// One page of a stream.
struct Page {
    /// The records' bytes as written.
    records: Vec<String>,
    /// Where the next page starts: the end of the last line returned.
    next: i64,
    /// Whether records remain after this page.
    more: bool,
}

/// The body of document `name` of `task`.
fn document_body(index: &mut dyn Questions, task: &str, name: &str) -> Result<String, ApiError> {
    let documents = index.documents(task)?;
    let body = documents.column("body").unwrap_or(4);
    documents
        .rows
        .iter()
        .find(|r| r.first().and_then(|v| v.as_str()) == Some(name))
        .and_then(|r| r.get(body)?.as_str().map(str::to_owned))
        .ok_or_else(|| ApiError::not_found(format!("task {task:?} has no document {name:?}")))
}

/// `(offset, body)` of each row of a [`Questions::stream_records`] answer.
fn lines(table: tasklog_index::Table) -> impl Iterator<Item = (i64, String)> {
    table.rows.into_iter().filter_map(|r| {
        let mut r = r.into_iter();
        let offset = r.next()?.as_i64()?;
        match r.next()? {
            serde_json::Value::String(body) => Some((offset, body)),
            _ => None,
        }
    })
}

fn page(
    index: &mut dyn Questions,
    task: &str,
    stream: &str,
    after: i64,
    limit: i64,
) -> Result<Page, ApiError> {
    let found = index.stream_records(task, stream, after, Some(limit as u64 + 1))?;
    let mut records = Vec::new();
    let mut next = after;
    let mut more = false;
    for (offset, body) in lines(found) {
        if records.len() as i64 == limit {
            more = true;
            break;
        }
        next = offset + body.len() as i64 + 1;
        records.push(body);
    }
    Ok(Page {
        records,
        next,
        more,
    })
}

/// `[r1,r2,...]` from records' bytes, without re-serializing them.
fn array(records: &[String]) -> String {
    let mut out = String::with_capacity(records.iter().map(|r| r.len() + 1).sum::<usize>() + 2);
    out.push('[');
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r);
    }
    out.push(']');
    out
}

/// `{"task_id":..,"documents":{name: doc},"streams":{name: [records]}}`.
fn full(index: &mut dyn Questions, task: &str) -> Result<String, ApiError> {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let mut out = format!("{{\"task_id\":{},\"documents\":{{", quote(task));
    let documents = index.documents(task)?;
    let body = documents.column("body").unwrap_or(4);
    let mut first = true;
    for row in &documents.rows {
        let (Some(name), Some(doc)) = (
            row.first().and_then(|v| v.as_str()),
            row.get(body).and_then(|v| v.as_str()),
        ) else {
            continue;
        };
        let _ = write!(
            out,
            "{}{}:{}",
            if first { "" } else { "," },
            quote(name),
            doc
        );
        first = false;
    }
    out.push_str("},\"streams\":{");
    let streams = index.streams(task)?.texts(0);
    for (i, name) in streams.iter().enumerate() {
        let records: Vec<String> = lines(index.stream_records(task, name, 0, None)?)
            .map(|(_, body)| body)
            .collect();
        let _ = write!(
            out,
            "{}{}:{}",
            if i == 0 { "" } else { "," },
            quote(name),
            array(&records)
        );
    }
    out.push_str("}}");
    Ok(out)
}
