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
        "project" => Some("project"),
        "agent" => Some("agent"),
        _ => None,
    }
}

/// A task fact (`project`, `agent`) of `tasks t`: the index's own column
/// when it has one (the task facts of issue 20), else task.json's key of
/// that name (what the importers write).
fn task_fact(c: &rusqlite::Connection, fact: &str) -> rusqlite::Result<String> {
    let has: bool = c.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('tasks') WHERE name = ?1)",
        [fact],
        |r| r.get(0),
    )?;
    Ok(if has {
        format!("coalesce(t.{fact}, json_extract(t.document, '$.{fact}'))")
    } else {
        format!("json_extract(t.document, '$.{fact}')")
    })
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
                    "by={k:?}: use model, day, task, provider, project or agent (two with a comma)"
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    if keys.is_empty() || keys.len() > 2 {
        return Err(ApiError::bad_request(
            "by takes one or two of model, day, task, provider, project, agent",
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
                    if keys
                        .iter()
                        .any(|k| matches!(*k, "task_id" | "project" | "agent"))
                    {
                        tasklog_index::COST_BY_TASK_DAY
                    } else {
                        tasklog_index::COST_BY_DAY
                    },
                    day(&since).flatten().map(str::to_owned),
                    day(&until).flatten().map(str::to_owned),
                ),
                _ => (tasklog_index::COST_BY_CALL, since.clone(), until.clone()),
            };
            // Project and agent are facts of the task each row belongs to.
            let facts: Vec<&str> = keys
                .iter()
                .copied()
                .filter(|k| matches!(*k, "project" | "agent"))
                .collect();
            let source = if facts.is_empty() {
                source.to_owned()
            } else {
                let columns = facts
                    .iter()
                    .map(|f| Ok(format!("{} AS {f}", task_fact(c, f)?)))
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                format!(
                    "SELECT c.*, {} FROM ({source}) c LEFT JOIN tasks t ON t.task_id = c.task_id",
                    columns.join(", ")
                )
            };
            let select: Vec<String> = keys
                .iter()
                .map(|k| format!("coalesce(nullif({k}, ''), '(none)') AS {k}"))
                .collect();
            let group: Vec<String> = (1..=keys.len()).map(|i| i.to_string()).collect();
            let sql = format!(
                "SELECT {}, sum(calls) AS calls, sum(tokens_input) AS tokens_input, sum(tokens_output) AS tokens_output,
                        sum(tokens_cached_read) AS tokens_cached_read, sum(tokens_cached_write) AS tokens_cached_write,
                        round(sum(cost_usd), 6) AS cost_usd, sum(unpriced_calls) AS unpriced_calls,
                        sum(unpriced_tokens) AS unpriced_tokens
                   FROM ({source}) GROUP BY {} ORDER BY {}",
                select.join(", "),
                group.join(", "),
                // Days in calendar order; everything else costliest first.
                if keys[0] == "day" {
                    format!("1, sum(cost_usd) DESC, {}", group.join(", "))
                } else {
                    format!("sum(cost_usd) DESC, {}", group.join(", "))
                }
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
SELECT r.record_id, r.ts, r.task_id, t.title, r.stream, r.line, r.event, r.name,
       substr(s.text, 1, 100000) AS text, round(f.rank, 3) AS rank
  FROM records_fts f
  JOIN records r ON r.record_id = f.rowid
  JOIN records_fts_source s ON s.rowid = f.rowid
  LEFT JOIN tasks t ON t.task_id = r.task_id
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
    // Plain words and "quoted phrases" become FTS5 strings: `src/lib.rs`
    // is text, not syntax.
    let query = if raw {
        q.clone()
    } else {
        crate::search::fts_query(&q)
    };
    let terms = crate::search::terms(&q);
    if query.trim().is_empty() {
        return Err(ApiError::bad_request("q: nothing to search for"));
    }
    let task = p.task.as_deref().map(names::task_id).transpose()?;
    let limit = super::limit(p.limit, 50, 1000)?;
    // Bounded in time like user SQL (`limits.rs`): FTS5 syntax with
    // `raw=1` can ask for costly matches.
    let timeout = state.options.query_timeout;
    crate::limits::bounded(&state, timeout, move |c, stopped| {
        let mut results = objects(c, SEARCH, (&query, &task, limit), &[]).map_err(|e| {
            let e = stopped(e);
            ApiError::bad_request(format!("search {query:?}: {}", e.message))
        })?;
        // The text around the first match, not the first 300 characters.
        for row in &mut results {
            if let Some(Value::String(text)) = row.get_mut("text") {
                *text = crate::search::window(text, &terms, 300);
            }
        }
        Ok(Json(json!({ "query": query, "results": results })))
    })
    .await
}
