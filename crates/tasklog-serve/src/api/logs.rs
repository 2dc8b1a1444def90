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
use rusqlite::Connection;
use serde::Deserialize;

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
        .read(move |c| {
            let task = names::require_task(c, &task)?;
            if raw_name == "full" {
                return full(c, &task).map(|body| json_response(body, None));
            }
            match names::resolve(c, &task, &raw_name)? {
                Entry::Document(name) => {
                    let body: String = c
                        .prepare_cached(
                            "SELECT body FROM documents WHERE task_id = ?1 AND name = ?2",
                        )?
                        .query_row((&task, &name), |r| r.get(0))?;
                    Ok(json_response(body, None))
                }
                Entry::Stream(_, file_id) => {
                    let page = page(c, file_id, after, limit)?;
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

fn page(c: &Connection, file_id: i64, after: i64, limit: i64) -> Result<Page, ApiError> {
    let mut stmt = c.prepare_cached(
        r#"SELECT "offset", body FROM records WHERE file_id = ?1 AND "offset" >= ?2 ORDER BY "offset" LIMIT ?3"#,
    )?;
    let mut rows = stmt.query((file_id, after, limit + 1))?;
    let mut records = Vec::new();
    let mut next = after;
    let mut more = false;
    while let Some(r) = rows.next()? {
        if records.len() as i64 == limit {
            more = true;
            break;
        }
        let offset: i64 = r.get(0)?;
        let body: String = r.get(1)?;
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
fn full(c: &Connection, task: &str) -> Result<String, ApiError> {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let mut out = format!("{{\"task_id\":{},\"documents\":{{", quote(task));
    let mut stmt =
        c.prepare_cached("SELECT name, body FROM documents WHERE task_id = ?1 ORDER BY name")?;
    let mut rows = stmt.query([task])?;
    let mut first = true;
    while let Some(r) = rows.next()? {
        let (name, body): (String, String) = (r.get(0)?, r.get(1)?);
        let _ = write!(
            out,
            "{}{}:{}",
            if first { "" } else { "," },
            quote(&name),
            body
        );
        first = false;
    }
    out.push_str("},\"streams\":{");
    let streams: Vec<(String, i64)> = c
        .prepare_cached(
            "SELECT name, file_id FROM files WHERE task_id = ?1 AND kind = 'stream' ORDER BY name",
        )?
        .query_map([task], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (i, (name, file_id)) in streams.iter().enumerate() {
        let records: Vec<String> = c
            .prepare_cached(r#"SELECT body FROM records WHERE file_id = ?1 ORDER BY "offset""#)?
            .query_map([file_id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
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
