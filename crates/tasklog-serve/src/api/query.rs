//! `POST /api/query`: read-only SQL, as `tasklog query`, bounded in time,
//! rows and bytes (see `limits.rs`) so that one request cannot hold a core
//! or the memory.
//!
//! Read-only is enforced by the store, never by looking at the text: by
//! SQLite (read-only open, `query_only`, an authorizer denying ATTACH and
//! state-changing PRAGMAs), or by PostgreSQL (a `READ ONLY` transaction,
//! the readers' `statement_timeout`). The body is JSON, `{"sql": "..."}`: the server's guard
//! refuses other content types, so a page of another origin cannot send
//! one without a CORS preflight.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::ApiError;
use crate::limits::{query_json, Bounds};
use crate::state::AppState;

pub async fn query(State(state): State<Arc<AppState>>, body: Bytes) -> Result<Response, ApiError> {
    let v: Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
    let sql = v
        .get("sql")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ApiError::bad_request("body: expected {\"sql\": \"...\"}"))?;
    if sql.trim().is_empty() {
        return Err(ApiError::bad_request("no SQL in the body"));
    }
    let options = &state.options;
    let bounds = Bounds {
        timeout: options.query_timeout,
        rows: options.query_rows,
        bytes: options.query_bytes,
        value_bytes: options.query_value_bytes,
    };
    let permit = state.question_permit(options.query_timeout).await?;
    if state.kind != tasklog_index::StoreKind::Sqlite {
        let _permit = permit;
        let text = state
            .ask(move |index| crate::limits::query_json_of(index, &sql, bounds))
            .await?;
        return Ok(([(header::CONTENT_TYPE, "application/json")], text).into_response());
    }
    let db = options.db.clone();
    let text = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        // A connection of its own: the progress handler, the length limit
        // and an interrupted statement never touch the pooled ones.
        let mut conn = tasklog_index::open_query_connection(&db)?;
        query_json(&mut conn, &sql, bounds)
    })
    .await
    .map_err(|e| ApiError::internal(format!("query task failed: {e}")))??;
    Ok(([(header::CONTENT_TYPE, "application/json")], text).into_response())
}
