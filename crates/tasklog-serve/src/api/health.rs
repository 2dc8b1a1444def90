//! `GET /healthz`, `GET /api/status` and `GET /metrics` (Prometheus text).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::sql::objects;
use crate::state::AppState;

/// Liveness: answers without the token and without the database; 503
/// while the in-process indexer is down (the data would go stale).
pub async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let vitals = &state.options.vitals;
    let body = json!({
        "ok": vitals.healthy(),
        "indexer": vitals.indexer_state(),
        "indexer_restarts": vitals.restarts(),
    });
    let status = if vitals.healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// The health report of `tasklog status`, who indexes, and the quarantined lines.
pub async fn status(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    if state.kind != tasklog_index::StoreKind::Sqlite {
        return shared_status(&state).await.map(Json);
    }
    let root = state.options.root.clone();
    let db = state.options.db.clone();
    let indexer = state.options.indexer;
    let report = tokio::task::spawn_blocking(move || tasklog_index::status(&root, &db))
        .await
        .map_err(|e| ApiError::internal(format!("status task failed: {e}")))??;
    let (quarantined, ago) = state
        .read(|c| {
            let lines = objects(
                c,
                r#"SELECT task_id, path, line, "offset", length, reason, prefix, detected_at
                     FROM ingest_errors ORDER BY detected_at DESC, error_id DESC LIMIT 500"#,
                [],
                &[],
            )?;
            Ok((lines, seconds_since_commit(c)?))
        })
        .await?;
    let mut value = serde_json::to_value(&report).map_err(|e| ApiError::internal(e.to_string()))?;
    if let Some(map) = value.as_object_mut() {
        map.insert("indexer".into(), indexer.into());
        map.insert(
            "alert_destinations".into(),
            super::alerts::status_field(&state.options.root),
        );
        map.insert("seconds_since_last_commit".into(), json!(ago));
        map.insert(
            "quarantined_lines".into(),
            Value::Array(quarantined.into_iter().map(Value::Object).collect()),
        );
    }
    Ok(Json(value))
}

fn seconds_since_commit(c: &rusqlite::Connection) -> Result<Option<f64>, ApiError> {
    Ok(c.query_row(
        "SELECT (julianday('now') - julianday(value)) * 86400.0 FROM indexer_state WHERE key = 'last_commit_at'",
        [],
        |r| r.get(0),
    )
    .or_else(|e| match e {
        rusqlite::Error::QueryReturnedNoRows => Ok(None),
        e => Err(e),
    })?)
}

/// The gauges a scraper wants, in the Prometheus text format.
/// The status of a shared (PostgreSQL) index: every host, this host's lag
/// (`tasklog status --db postgres://...`), and the server's own fields.
async fn shared_status(state: &Arc<AppState>) -> Result<Value, ApiError> {
    let root = state.options.root.clone();
    let db = state.options.db.clone();
    let host = state.options.host_id.clone();
    let report = tokio::task::spawn_blocking(move || {
        tasklog_index::store_status(&root, &db, host.as_deref())
    })
    .await
    .map_err(|e| ApiError::internal(format!("status task failed: {e}")))??;
    let mut value = serde_json::to_value(&report).map_err(|e| ApiError::internal(e.to_string()))?;
    if let Some(map) = value.as_object_mut() {
        map.insert("indexer".into(), state.options.indexer.into());
        map.insert(
            "alert_destinations".into(),
            super::alerts::status_field(&state.options.root),
        );
    }
    Ok(value)
}

/// `/metrics` of a shared index: the server's own (limits, alerts) and,
/// per host, whether its sidecar is connected.
async fn shared_metrics(state: &Arc<AppState>) -> Result<String, ApiError> {
    let status = shared_status(state).await?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP tasklog_store_reachable 1 when the PostgreSQL index answered.\n# TYPE tasklog_store_reachable gauge\ntasklog_store_reachable {}",
        if status["reachable"] == Value::Bool(true) { 1 } else { 0 }
    );
    if let Some(lag) = status["lag_bytes"].as_u64() {
        let _ = writeln!(
            out,
            "# HELP tasklog_lag_bytes Bytes of this host's streams not shipped yet.\n# TYPE tasklog_lag_bytes gauge\ntasklog_lag_bytes {lag}"
        );
    }
    out.push_str(&state.options.vitals.prometheus());
    super::alerts::metrics(&state.options.root, &mut out);
    Ok(out)
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let prometheus = |out: String| {
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            out,
        )
            .into_response()
    };
    if state.kind != tasklog_index::StoreKind::Sqlite {
        return shared_metrics(&state).await.map(prometheus);
    }
    let root = state.options.root.clone();
    let db = state.options.db.clone();
    let report = tokio::task::spawn_blocking(move || tasklog_index::status(&root, &db))
        .await
        .map_err(|e| ApiError::internal(format!("status task failed: {e}")))??;
    let ago = state.read(seconds_since_commit).await?;
    let mut wal = state.options.db.as_os_str().to_owned();
    wal.push("-wal");
    let wal_bytes = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, value: f64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    };
    gauge(
        "tasklog_records",
        "Rows in the records table.",
        report.records as f64,
    );
    gauge(
        "tasklog_tasks",
        "Task folders indexed.",
        report.tasks as f64,
    );
    gauge(
        "tasklog_documents",
        "Current documents indexed.",
        report.documents as f64,
    );
    gauge(
        "tasklog_lag_bytes",
        "Bytes on disk not indexed yet, over all streams.",
        report.lag_bytes as f64,
    );
    gauge(
        "tasklog_quarantined_lines",
        "Lines and documents quarantined (ingest_errors).",
        report.quarantined as f64,
    );
    gauge(
        "tasklog_seconds_since_last_commit",
        "Seconds since the indexer last committed a batch (NaN: never).",
        ago.unwrap_or(f64::NAN),
    );
    gauge(
        "tasklog_wal_bytes",
        "Size of the database's write-ahead log.",
        wal_bytes as f64,
    );
    gauge(
        "tasklog_indexer_running",
        "1 when an indexer holds the database.",
        if report.indexer_running { 1.0 } else { 0.0 },
    );
    out.push_str(&state.options.vitals.prometheus());
    super::alerts::metrics(&state.options.root, &mut out);
    Ok(prometheus(out))
}
