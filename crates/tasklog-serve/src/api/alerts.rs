//! `GET /api/alerts`: the fired-alert log and the destinations' status,
//! and the alert parts of `/api/status` and `/metrics` (docs/ALERTS.md).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::AppState;

/// The most messages one answer holds (newest first).
const MOST: usize = 500;

/// `{"alerts": [...newest first], "destinations": {...} | null}`.
pub async fn alerts(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let root = state.options.root.clone();
    let store = match state.kind {
        tasklog_index::StoreKind::Sqlite => {
            tasklog_alert::StoreTarget::Sqlite(state.options.db.clone())
        }
        tasklog_index::StoreKind::Postgres => {
            tasklog_alert::StoreTarget::Postgres(state.options.db.to_string_lossy().into_owned())
        }
    };
    let (entries, report) = tokio::task::spawn_blocking(move || {
        let entries = tasklog_alert::list(&root, &store);
        (entries, tasklog_alert::read_status(&root))
    })
    .await
    .map_err(|e| ApiError::internal(format!("alerts task failed: {e}")))?;
    let entries = entries.map_err(|e| ApiError::internal(e.to_string()))?;
    let alerts: Vec<Value> = entries
        .into_iter()
        .rev()
        .take(MOST)
        .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
        .collect();
    Ok(Json(json!({ "alerts": alerts, "destinations": report })))
}

/// The destinations' status under `root` for `/api/status` (`null` when
/// no alerter ran there).
pub fn status_field(root: &std::path::Path) -> Value {
    serde_json::to_value(tasklog_alert::read_status(root)).unwrap_or(Value::Null)
}

/// The alert gauges of `/metrics`, one series per destination.
pub fn metrics(root: &std::path::Path, out: &mut String) {
    let Some(report) = tasklog_alert::read_status(root) else {
        return;
    };
    let series = [
        (
            "tasklog_alert_destination_open",
            "1 when the destination's circuit breaker is open or half-open.",
        ),
        (
            "tasklog_alert_destination_consecutive_failures",
            "Failed delivery attempts in a row.",
        ),
        (
            "tasklog_alert_destination_pending",
            "Alerts waiting for the destination.",
        ),
        (
            "tasklog_alert_destination_delivered",
            "Alerts delivered since the alerter started.",
        ),
    ];
    for (name, help) in series {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for d in &report.destinations {
            let value = match name {
                "tasklog_alert_destination_open" => {
                    u64::from(d.state != tasklog_alert::BreakerState::Closed)
                }
                "tasklog_alert_destination_consecutive_failures" => {
                    u64::from(d.consecutive_failures)
                }
                "tasklog_alert_destination_pending" => d.pending,
                _ => d.delivered,
            };
            let label = d.destination.replace('\\', "\\\\").replace('"', "\\\"");
            let _ = writeln!(out, "{name}{{destination=\"{label}\"}} {value}");
        }
    }
}
