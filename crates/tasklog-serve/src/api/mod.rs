//! The routes: one module per group of endpoints.

mod alerts;
mod cost;
mod health;
mod logs;
mod query;
mod tasks;
mod transcript;

use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::routing::{get, post};
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

/// Every route, behind the token middleware.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .route("/api/status", get(health::status))
        .route("/api/tasks", get(tasks::list))
        .route("/api/tasks/{task_id}", get(tasks::detail))
        .route("/api/tasks/{task_id}/logs/{name}", get(logs::log))
        .route("/api/alerts", get(alerts::alerts))
        .route(
            "/api/tasks/{task_id}/transcript",
            get(transcript::transcript),
        )
        .route("/api/tasks/{task_id}/overview", get(transcript::overview))
        .route("/api/tasks/{task_id}/export", get(transcript::export))
        .route("/api/cost", get(cost::cost))
        .route("/api/search", get(cost::search))
        .route("/api/query", post(query::query))
        .route("/api/events", get(crate::events::events))
        .route("/", get(crate::assets::index))
        .route("/assets/{file}", get(crate::assets::file))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        // Innermost: a body is read (within its time) only for a request
        // that passed the host, origin and token rules.
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            crate::limits::body_deadline,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            crate::auth::require,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            crate::guard::guard,
        ))
        .with_state(state)
}

/// A path that did not decode (invalid UTF-8 after percent-decoding) is a bad name.
fn path_error(e: PathRejection) -> ApiError {
    ApiError::bad_request(e.body_text())
}

/// A query parameter of the wrong type.
fn query_error(e: QueryRejection) -> ApiError {
    ApiError::bad_request(e.body_text())
}

/// `limit` within `1..=max`, else 400.
fn limit(value: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    match value {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!(
            "limit {n} is outside 1..={max}"
        ))),
    }
}
