//! `POST /api/query`: read-only SQL, as `tasklog query`, with a time limit
//! and a row cap so that one request cannot hold a core or the memory.
//!
//! Read-only is enforced by SQLite (read-only open, `query_only`, an
//! authorizer denying ATTACH and state-changing PRAGMAs), never by looking
//! at the text. The time limit is a progress handler that interrupts the
//! statement once its deadline passes.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::sql::json_value;
use crate::state::AppState;

/// Virtual-machine steps between two looks at the clock.
const PROGRESS_STEPS: i32 = 1000;

pub async fn query(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("the SQL is not UTF-8"))?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let sql = if is_json {
        let v: Value =
            serde_json::from_str(text).map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
        v.get("sql")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ApiError::bad_request("body: expected {\"sql\": \"...\"}"))?
    } else {
        text.to_owned()
    };
    if sql.trim().is_empty() {
        return Err(ApiError::bad_request("no SQL in the body"));
    }
    let db = state.options.db.clone();
    let timeout = state.options.query_timeout;
    let cap = state.options.query_rows;
    tokio::task::spawn_blocking(move || {
        // A connection of its own: the progress handler and an interrupted
        // statement never touch the pooled ones.
        let mut conn = tasklog_index::open_query_connection(&db)?;
        let started = Instant::now();
        let deadline = started + timeout;
        conn.progress_handler(PROGRESS_STEPS, Some(move || Instant::now() > deadline))
            .map_err(|e| ApiError::internal(format!("installing the time limit: {e}")))?;
        let stopped = |e: rusqlite::Error| {
            if Instant::now() > deadline {
                ApiError::bad_request(format!(
                    "query stopped: it ran past its time limit of {} ms",
                    timeout.as_millis()
                ))
            } else {
                ApiError::bad_request(format!("SQL: {e}"))
            }
        };
        let mut stmt = conn.prepare(&sql).map_err(stopped)?;
        let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
        let mut rows = stmt.query([]).map_err(stopped)?;
        let mut out = Vec::new();
        let mut truncated = false;
        while let Some(row) = rows.next().map_err(stopped)? {
            if out.len() == cap {
                truncated = true;
                break;
            }
            let values: Vec<Value> = (0..columns.len())
                .map(|i| row.get_ref(i).map(json_value))
                .collect::<Result<_, _>>()
                .map_err(stopped)?;
            out.push(values);
        }
        Ok(Json(json!({
            "columns": columns,
            "rows": out,
            "truncated": truncated,
            "elapsed_ms": started.elapsed().as_secs_f64() * 1000.0,
        })))
    })
    .await
    .map_err(|e| ApiError::internal(format!("query task failed: {e}")))?
}
