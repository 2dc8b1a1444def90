//! The SQL of the questions people ask of the index, shared by the CLI's
//! read commands (`tasklog tasks`, `tasklog cost`) and `tasklog serve`'s
//! API, so that both answer the same question the same way; and the one
//! conversion of an SQLite value to JSON that every reader prints.

use rusqlite::types::ValueRef;
use serde_json::Value;

/// One row per task: status, times, model calls, tokens and cost.
/// "Started" is the first of task.json's `detected_at` / `created_at`, else
/// when the indexer first saw the folder; cost and tokens come from the
/// rollup. `$where` filters the tasks, `$tail` orders and pages them.
macro_rules! task_rows {
    ($where:literal, $tail:literal) => {
        concat!(
            "SELECT t.task_id, t.status, t.title,
       coalesce(t.detected_at, t.created_at, t.first_seen_at) AS started_at,
       t.updated_at,
       coalesce(t.completed_at, t.failed_at) AS finished_at,
       t.sealed,
       coalesce(sum(c.calls), 0) AS llm_calls,
       coalesce(sum(c.tokens_input + c.tokens_output), 0) AS tokens,
       round(coalesce(sum(c.cost_usd), 0), 6) AS cost_usd,
       coalesce(sum(c.unpriced_calls), 0) AS unpriced_calls
  FROM tasks t
  LEFT JOIN cost_rollup c ON c.task_id = t.task_id
 WHERE ",
            $where,
            "
 GROUP BY t.task_id",
            $tail
        )
    };
}

/// Tasks, newest first. Parameters: `?1` status, `?2` since, `?3` until
/// (canonical times), `?4` text in the id or title (case-insensitive for
/// ASCII), `?5` limit (-1: none), `?6` offset; each may be NULL but the
/// last two.
pub const TASKS: &str = task_rows!(
    "(?1 IS NULL OR t.status = ?1)
   AND (?2 IS NULL OR coalesce(t.detected_at, t.created_at, t.first_seen_at) >= ?2)
   AND (?3 IS NULL OR coalesce(t.detected_at, t.created_at, t.first_seen_at) < ?3)
   AND (?4 IS NULL OR instr(lower(t.task_id), lower(?4)) > 0 OR instr(lower(coalesce(t.title, '')), lower(?4)) > 0)",
    "
 ORDER BY started_at DESC, t.task_id
 LIMIT ?5 OFFSET ?6"
);

/// The [`TASKS`] row of task `?1`, by primary key (the list's filters
/// would make SQLite read every task).
pub const TASK_SUMMARY: &str = task_rows!("t.task_id = ?1", "");

/// Cost rows of one shape, from the per-task daily rollup, bounded by
/// whole UTC days (`?1` first day, `?2` day after the last; NULL: open).
pub const COST_BY_TASK_DAY: &str =
    "SELECT day, task_id, model, provider, calls, tokens_input, tokens_output,
        tokens_cached_read, tokens_cached_write, cost_usd, unpriced_calls, unpriced_tokens
   FROM cost_rollup WHERE (?1 IS NULL OR day >= ?1) AND (?2 IS NULL OR day < ?2)";

/// The same shape summed over tasks (tens of rows a day), whole days.
pub const COST_BY_DAY: &str =
    "SELECT day, '' AS task_id, model, provider, calls, tokens_input, tokens_output,
        tokens_cached_read, tokens_cached_write, cost_usd, unpriced_calls, unpriced_tokens
   FROM cost_daily WHERE (?1 IS NULL OR day >= ?1) AND (?2 IS NULL OR day < ?2)";

/// The same shape from the calls themselves, for bounds inside a day
/// (`?1`, `?2`: canonical times).
pub const COST_BY_CALL: &str = "SELECT date(timestamp) AS day, task_id, coalesce(model, '') AS model,
        coalesce(provider, '') AS provider, 1 AS calls, coalesce(tokens_input, 0) AS tokens_input,
        coalesce(tokens_output, 0) AS tokens_output, coalesce(tokens_cached_read, 0) AS tokens_cached_read,
        coalesce(tokens_cached_write, 0) AS tokens_cached_write, coalesce(estimated_cost_usd, 0) AS cost_usd,
        estimated_cost_usd IS NULL AS unpriced_calls,
        CASE WHEN estimated_cost_usd IS NULL THEN coalesce(tokens_total, 0) ELSE 0 END AS unpriced_tokens
   FROM api_calls WHERE (?1 IS NULL OR timestamp >= ?1) AND (?2 IS NULL OR timestamp < ?2)";

/// One SQLite value as JSON: integers and reals as numbers, text as
/// strings, blobs as `x'..'` text (what `tasklog query` prints).
pub fn json_value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => i.into(),
        ValueRef::Real(f) => f.into(),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
        ValueRef::Blob(b) => format!(
            "x'{}'",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        )
        .into(),
    }
}
