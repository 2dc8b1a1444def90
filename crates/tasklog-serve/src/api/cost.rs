//! `GET /api/cost` (the groupings of `tasklog cost`) and `GET /api/search`
//! (the full-text search of `tasklog search`).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::names;
use crate::sql::{objects, parse_time};
use crate::state::AppState;

/// Filters of the cost report.
#[derive(Debug, Deserialize)]
pub struct CostParams {
    /// One or two of model, day, task, provider, comma-separated (`day,model`).
    by: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

fn key_column(key: &str) -> Option<&'static str> {
    match key.trim() {
        "model" => Some("model"),
        "day" => Some("day"),
        "task" | "task_id" => Some("task_id"),
        "provider" => Some("provider"),
        _ => None,
    }
}

pub async fn cost(
    State(state): State<Arc<AppState>>,
    params: Result<Query<CostParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(p) = params.map_err(super::query_error)?;
    let by = p.by.unwrap_or_else(|| "model".into());
    let keys: Vec<&'static str> = by
        .split(',')
        .map(|k| {
            key_column(k).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "by={k:?}: use model, day, task or provider (two with a comma)"
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    if keys.is_empty() || keys.len() > 2 {
        return Err(ApiError::bad_request(
            "by takes one or two of model, day, task, provider",
        ));
    }
    state
        .read(move |c| {
            let since = p.since.as_deref().map(|s| parse_time(c, s)).transpose()?;
            let until = p.until.as_deref().map(|s| parse_time(c, s)).transpose()?;
            fn day(t: &Option<String>) -> Option<Option<&str>> {
                t.as_deref().map(|t| t.strip_suffix("T00:00:00.000000Z"))
            }
            let (source, lo, hi) = match (day(&since), day(&until)) {
                (None | Some(Some(_)), None | Some(Some(_))) => (
                    if keys.contains(&"task_id") {
                        tasklog_index::COST_BY_TASK_DAY
                    } else {
                        tasklog_index::COST_BY_DAY
                    },
                    day(&since).flatten().map(str::to_owned),
                    day(&until).flatten().map(str::to_owned),
                ),
                _ => (tasklog_index::COST_BY_CALL, since.clone(), until.clone()),
            };
            let select: Vec<String> = keys
                .iter()
                .map(|k| format!("coalesce(nullif({k}, ''), '(none)') AS {k}"))
                .collect();
            let group: Vec<String> = (1..=keys.len()).map(|i| i.to_string()).collect();
            let sql = format!(
                "SELECT {}, sum(calls) AS calls, sum(tokens_input) AS tokens_input, sum(tokens_output) AS tokens_output,
                        sum(tokens_cached_read) AS tokens_cached_read, sum(tokens_cached_write) AS tokens_cached_write,
                        round(sum(cost_usd), 6) AS cost_usd, sum(unpriced_calls) AS unpriced_calls
                   FROM ({source}) GROUP BY {} ORDER BY sum(cost_usd) DESC, {}",
                select.join(", "),
                group.join(", "),
                group.join(", ")
            );
            let rows = objects(c, &sql, (&lo, &hi), &[])?;
            let total = objects(
                c,
                &format!(
                    "SELECT coalesce(sum(calls), 0) AS calls, coalesce(sum(tokens_input), 0) AS tokens_input,
                            coalesce(sum(tokens_output), 0) AS tokens_output, round(coalesce(sum(cost_usd), 0), 6) AS cost_usd,
                            coalesce(sum(unpriced_calls), 0) AS unpriced_calls FROM ({source})"
                ),
                (&lo, &hi),
                &[],
            )?;
            let unpriced = objects(
                c,
                "SELECT call_id, timestamp, task_id, model, provider, tokens_input, tokens_output
                   FROM api_calls WHERE cost_source = 'unpriced'
                    AND (?1 IS NULL OR timestamp >= ?1) AND (?2 IS NULL OR timestamp < ?2)
                  ORDER BY timestamp DESC LIMIT 200",
                (&since, &until),
                &[],
            )?;
            Ok(Json(json!({
                "by": keys,
                "since": since,
                "until": until,
                "rows": rows,
                "total": total.into_iter().next(),
                "unpriced_calls": unpriced,
            })))
        })
        .await
}

/// Search words and scope.
#[derive(Debug, Deserialize)]
pub struct SearchParams {
    q: Option<String>,
    /// `1`/`true`: pass `q` to FTS5 as a query.
    raw: Option<String>,
    task: Option<String>,
    limit: Option<i64>,
}

const SEARCH: &str = r#"
SELECT r.record_id, r.ts, r.task_id, r.stream, r.line, r.event, r.name,
       substr(s.text, 1, 300) AS text, round(f.rank, 3) AS rank
  FROM records_fts f
  JOIN records r ON r.record_id = f.rowid
  JOIN records_fts_source s ON s.rowid = f.rowid
 WHERE records_fts MATCH ?1 AND (?2 IS NULL OR r.task_id = ?2)
 ORDER BY f.rank
 LIMIT ?3
"#;

pub async fn search(
    State(state): State<Arc<AppState>>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(p) = params.map_err(super::query_error)?;
    let q = p.q.unwrap_or_default();
    let raw = matches!(p.raw.as_deref(), Some("1" | "true" | "yes"));
    let query = if raw {
        q.clone()
    } else {
        // Plain words become quoted FTS5 strings: `src/lib.rs` is text, not syntax.
        q.split_whitespace()
            .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(" ")
    };
    if query.trim().is_empty() {
        return Err(ApiError::bad_request("q: nothing to search for"));
    }
    let task = p.task.as_deref().map(names::task_id).transpose()?;
    let limit = super::limit(p.limit, 50, 1000)?;
    // Bounded in time like user SQL (`limits.rs`): FTS5 syntax with
    // `raw=1` can ask for costly matches.
    let timeout = state.options.query_timeout;
    crate::limits::bounded(&state, timeout, move |c, stopped| {
        let results = objects(c, SEARCH, (&query, &task, limit), &[]).map_err(|e| {
            let e = stopped(e);
            ApiError::bad_request(format!("search {query:?}: {}", e.message))
        })?;
        Ok(Json(json!({ "query": query, "results": results })))
    })
    .await
}
