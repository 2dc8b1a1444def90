//! The questions of `tasklog tasks` and `tasklog cost` in PostgreSQL's
//! dialect: the same rows as the SQLite statements of `questions.rs`
//! (whose docs give the parameters), with `host_id` first. `$n` are
//! parameters that [`PgIndex::query_with`](super::PgIndex::query_with)
//! fills; every sum is cast so that it reads as SQLite's does.

/// SQLite's `TASKS`: `$1` status, `$2` since, `$3` until (canonical
/// times); no text filter and no paging (the CLI uses neither).
pub const TASKS: &str = "SELECT t.host_id, t.task_id, t.status, t.title,
       coalesce(t.detected_at, t.created_at, t.first_seen_at) AS started_at,
       t.updated_at,
       coalesce(t.completed_at, t.failed_at) AS finished_at,
       t.sealed,
       coalesce(c.calls, 0)::bigint AS llm_calls,
       coalesce(c.tokens, 0)::bigint AS tokens,
       round(coalesce(c.cost_usd, 0)::numeric, 6)::float8 AS cost_usd,
       coalesce(c.unpriced_calls, 0)::bigint AS unpriced_calls
  FROM tasks t
  -- Summed apart and joined: under --host-id `tasks` is a view, and a
  -- view's key does not let GROUP BY carry the other columns.
  LEFT JOIN (SELECT host_id, task_id, sum(calls) AS calls, sum(tokens_input + tokens_output) AS tokens,
                    sum(cost_usd) AS cost_usd, sum(unpriced_calls) AS unpriced_calls
               FROM cost_rollup GROUP BY host_id, task_id) c
         ON c.host_id = t.host_id AND c.task_id = t.task_id
 WHERE ($1::text IS NULL OR t.status = $1::text)
   AND ($2::text IS NULL OR coalesce(t.detected_at, t.created_at, t.first_seen_at) >= $2::text)
   AND ($3::text IS NULL OR coalesce(t.detected_at, t.created_at, t.first_seen_at) < $3::text)
 ORDER BY started_at DESC, t.task_id, t.host_id";

/// SQLite's `COST_BY_TASK_DAY`: `$1` first day, `$2` day after the last.
pub const COST_BY_TASK_DAY: &str = "SELECT host_id, day, task_id, model, provider, calls, tokens_input,
        tokens_output, tokens_cached_read, tokens_cached_write, cost_usd, unpriced_calls, unpriced_tokens
   FROM cost_rollup WHERE ($1::text IS NULL OR day >= $1::text) AND ($2::text IS NULL OR day < $2::text)";

/// SQLite's `COST_BY_DAY`: the same shape summed over tasks.
pub const COST_BY_DAY: &str = "SELECT host_id, day, '' AS task_id, model, provider, calls, tokens_input,
        tokens_output, tokens_cached_read, tokens_cached_write, cost_usd, unpriced_calls, unpriced_tokens
   FROM cost_daily WHERE ($1::text IS NULL OR day >= $1::text) AND ($2::text IS NULL OR day < $2::text)";

/// SQLite's `COST_BY_CALL`: from the calls, for bounds inside a day.
pub const COST_BY_CALL: &str = "SELECT host_id, tasklog_utc_day(timestamp) AS day, task_id,
        coalesce(model, '') AS model, coalesce(provider, '') AS provider, 1 AS calls,
        coalesce(tokens_input, 0) AS tokens_input, coalesce(tokens_output, 0) AS tokens_output,
        coalesce(tokens_cached_read, 0) AS tokens_cached_read,
        coalesce(tokens_cached_write, 0) AS tokens_cached_write,
        coalesce(estimated_cost_usd, 0) AS cost_usd,
        (estimated_cost_usd IS NULL)::int AS unpriced_calls,
        CASE WHEN estimated_cost_usd IS NULL THEN coalesce(tokens_total, 0) ELSE 0 END AS unpriced_tokens
   FROM api_calls WHERE ($1::text IS NULL OR timestamp >= $1::text) AND ($2::text IS NULL OR timestamp < $2::text)";
