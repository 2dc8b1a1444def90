//! `GET /api/cost` (the groupings of `tasklog cost`) and `GET /api/search`
//! (the full-text search of `tasklog search`).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tasklog_index::{CostKey, CostQuery, Questions, SearchQuery, SqliteQuestions, StoreKind};

use crate::error::ApiError;
use crate::names;
use crate::sql::parse_time;
use crate::state::AppState;

/// Filters of the cost report.
#[derive(Debug, Deserialize)]
pub struct CostParams {
    /// One or two of model, day, task, provider, comma-separated (`day,model`).
    by: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

pub async fn cost(
    State(state): State<Arc<AppState>>,
    params: Result<Query<CostParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(p) = params.map_err(super::query_error)?;
    let by = p.by.unwrap_or_else(|| "model".into());
    let keys: Vec<CostKey> = by
        .split(',')
        .map(|k| {
            CostKey::parse(k).ok_or_else(|| {
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
    let since = p.since.as_deref().map(parse_time).transpose()?;
    let until = p.until.as_deref().map(parse_time).transpose()?;
    state
        .ask(move |index| {
            let query = CostQuery {
                by: keys.clone(),
                since: since.clone(),
                until: until.clone(),
            };
            // The cost question of `tasklog cost` (one statement per store).
            let rows = index.cost(&query)?.objects(&[]);
            let total = total(&rows);
            let unpriced = index
                .unpriced_calls(since.as_deref(), until.as_deref(), 200)?
                .objects(&[]);
            let by: Vec<&str> = keys.iter().map(|k| k.column()).collect();
            Ok(Json(json!({
                "by": by,
                "since": since,
                "until": until,
                "rows": rows,
                "total": total,
                "unpriced_calls": unpriced,
            })))
        })
        .await
}

/// The report's total: the groups partition the calls, so their sums are
/// the whole period's (cost rounded to 6 places again after summing).
fn total(rows: &[Map<String, Value>]) -> Value {
    let sum = |c: &str| -> f64 { rows.iter().filter_map(|r| r.get(c)?.as_f64()).sum() };
    let int = |c: &str| sum(c) as i64;
    json!({
        "calls": int("calls"),
        "tokens_input": int("tokens_input"),
        "tokens_output": int("tokens_output"),
        "cost_usd": (sum("cost_usd") * 1e6).round() / 1e6,
        "unpriced_calls": int("unpriced_calls"),
    })
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

pub async fn search(
    State(state): State<Arc<AppState>>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(p) = params.map_err(super::query_error)?;
    let q = p.q.unwrap_or_default();
    let raw = matches!(p.raw.as_deref(), Some("1" | "true" | "yes"));
    // Plain words and "quoted phrases" are text, not syntax (`src/lib.rs`);
    // the store quotes them for its own query language.
    let terms = crate::search::terms(&q);
    let query = if raw {
        q.clone()
    } else {
        crate::search::fts_query(&q)
    };
    if query.trim().is_empty() {
        return Err(ApiError::bad_request("q: nothing to search for"));
    }
    let task = p.task.as_deref().map(names::task_id).transpose()?;
    let limit = super::limit(p.limit, 50, 1000)?;
    let question = SearchQuery {
        text: q,
        raw,
        task,
        limit: limit as u64,
    };
    let found = if state.kind == StoreKind::Sqlite {
        // Bounded in time like user SQL (`limits.rs`): FTS5 syntax with
        // `raw=1` can ask for costly matches.
        let at = super::at(&state);
        let query = query.clone();
        crate::limits::bounded(&state, state.options.query_timeout, move |c, stopped| {
            SqliteQuestions::new(c, at).search(&question).map_err(|e| {
                let message = match super::sqlite_cause(e) {
                    Ok(e) => stopped(e).message,
                    Err(e) => e.to_string(),
                };
                ApiError::bad_request(format!("search {query:?}: {message}"))
            })
        })
        .await?
    } else {
        // PostgreSQL's readers carry the server's `statement_timeout`.
        let _permit = state.question_permit(state.options.query_timeout).await?;
        let query = query.clone();
        state
            .ask(move |index| {
                index
                    .search(&question)
                    .map_err(|e| ApiError::bad_request(format!("search {query:?}: {e}")))
            })
            .await?
    };
    let mut results = found.objects(&[]);
    for row in &mut results {
        // `text` is the dashboard's name of the snippet: the text around
        // the first match, not the first 300 characters.
        if let Some(Value::String(text)) = row.remove("snippet") {
            row.insert(
                "text".into(),
                crate::search::window(&text, &terms, 300).into(),
            );
        }
    }
    Ok(Json(json!({ "query": query, "results": results })))
}
