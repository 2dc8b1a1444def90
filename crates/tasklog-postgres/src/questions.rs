//! The questions of `tasklog tasks` and `tasklog cost` in PostgreSQL's
//! dialect: the same rows as the SQLite statements of `questions.rs`
//! (whose docs give the parameters), with `host_id` first. `$n` are
//! parameters that [`PgIndex::query_with`](super::PgIndex::query_with)
//! fills; every sum is cast so that it reads as SQLite's does.

/// One row per task of SQLite's `TASKS` columns, `host_id` first.
/// Cost is summed apart and joined: under --host-id `tasks` is a view, and
/// a view's key does not let GROUP BY carry the other columns.
macro_rules! task_rows {
    ($where:literal) => {
        concat!(
            "SELECT * FROM (SELECT f.host_id, f.task_id, f.title, f.status, f.started_at, f.finished_at,
       f.duration_ms, f.last_activity_at, f.project, f.git_branch, f.agent, f.models, f.error_count,
       coalesce(c.calls, 0)::bigint AS llm_calls,
       coalesce(c.tokens, 0)::bigint AS tokens,
       round(coalesce(c.cost_usd, 0)::numeric, 6)::float8 AS cost_usd,
       coalesce(c.unpriced_calls, 0)::bigint AS unpriced_calls,
       f.sealed
  FROM task_facts f
  LEFT JOIN (SELECT host_id, task_id, sum(calls) AS calls, sum(tokens_input + tokens_output) AS tokens,
                    sum(cost_usd) AS cost_usd, sum(unpriced_calls) AS unpriced_calls
               FROM cost_rollup GROUP BY host_id, task_id) c
         ON c.host_id = f.host_id AND c.task_id = f.task_id
 WHERE ",
            $where,
            ") q"
        )
    };
}

/// SQLite's `TASKS`, with the same twelve parameters (`$1`..`$12`, all
/// text: the limit and offset as decimal text, the limit NULL for none).
pub const TASKS: &str = concat!(
    task_rows!(
        "($1::text IS NULL OR f.status = $1::text)
   AND ($2::text IS NULL OR f.started_at >= $2::text COLLATE \"C\")
   AND ($3::text IS NULL OR f.started_at < $3::text COLLATE \"C\")
   AND ($4::text IS NULL OR strpos(lower(f.task_id), lower($4::text)) > 0
        OR strpos(lower(coalesce(f.title, '')), lower($4::text)) > 0)
   AND ($7::text IS NULL OR f.agent = $7::text)
   AND ($8::text IS NULL OR f.project = $8::text)
   AND ($9::text IS NULL OR strpos(',' || coalesce(f.models, '') || ',', ',' || $9::text || ',') > 0)
   AND (coalesce($10::text, '0') = '0' OR f.error_count > 0)"
    ),
    "
 ORDER BY CASE $11::text WHEN 'cost' THEN q.cost_usd IS NULL WHEN 'duration' THEN q.duration_ms IS NULL
                         WHEN 'last_activity' THEN q.last_activity_at IS NULL ELSE q.started_at IS NULL END,
          CASE WHEN $12::text = 'asc' AND $11::text = 'cost' THEN q.cost_usd END ASC,
          CASE WHEN $12::text = 'asc' AND $11::text = 'duration' THEN q.duration_ms END ASC,
          CASE WHEN $12::text = 'asc' AND $11::text = 'last_activity' THEN q.last_activity_at COLLATE \"C\" END ASC,
          CASE WHEN $12::text = 'asc' AND coalesce($11::text, 'started') NOT IN ('cost', 'duration', 'last_activity') THEN q.started_at COLLATE \"C\" END ASC,
          CASE WHEN $12::text IS DISTINCT FROM 'asc' AND $11::text = 'cost' THEN q.cost_usd END DESC,
          CASE WHEN $12::text IS DISTINCT FROM 'asc' AND $11::text = 'duration' THEN q.duration_ms END DESC,
          CASE WHEN $12::text IS DISTINCT FROM 'asc' AND $11::text = 'last_activity' THEN q.last_activity_at COLLATE \"C\" END DESC,
          CASE WHEN $12::text IS DISTINCT FROM 'asc' AND coalesce($11::text, 'started') NOT IN ('cost', 'duration', 'last_activity') THEN q.started_at COLLATE \"C\" END DESC,
          q.task_id COLLATE \"C\", q.host_id
 LIMIT $5::bigint OFFSET $6::bigint"
);

/// SQLite's `TASK_SUMMARY`: `$1` the task (of every host, under a
/// shared database without `--host-id`).
pub const TASK_SUMMARY: &str = task_rows!("f.task_id = $1::text");

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

/// Full-text search (migration 4): the columns of SQLite's search (`ts`,
/// `task_id`, `source` = `stream:line`, `event`, `name`, `snippet`,
/// `rank`) with `host_id` first, best match first. `$1` the user's words
/// as `websearch_to_tsquery('simple', $1)` reads them (words all present,
/// `"a phrase"`, `or`, `-word`), `$2` a task id or NULL, `$3` the most
/// rows, `$4` a host id or NULL. `snippet` is the searched text (its first
/// 100,000 characters) as SQLite's `records_fts_source` gives it, for the
/// reader to cut around the match as it does for SQLite; `rank` is minus
/// PostgreSQL's `ts_rank`, to 3 places, so that smaller is better as with
/// FTS5's rank. The condition is the expression of the `records_search`
/// index, which the planner uses.
pub const SEARCH: &str = "SELECT host_id, ts, task_id, source, event, name, snippet, round(rank::numeric, 3)::float8 AS rank
  FROM (SELECT r.host_id, r.ts, r.task_id, r.stream || ':' || r.line AS source, r.event, r.name,
               tasklog_search_text(r.event, r.role, r.name, r.doc) AS snippet,
               -ts_rank(to_tsvector('simple'::regconfig, tasklog_search_text(r.event, r.role, r.name, r.doc)), q.q) AS rank,
               r.record_id
          FROM records r, websearch_to_tsquery('simple'::regconfig, $1::text) AS q(q)
         WHERE r.event IN ('message', 'decision', 'tool.start', 'tool.complete', 'tool.fail')
           AND to_tsvector('simple'::regconfig, tasklog_search_text(r.event, r.role, r.name, r.doc)) @@ q.q
           AND ($2::text IS NULL OR r.task_id = $2::text)
           AND ($4::text IS NULL OR r.host_id = $4::text)) s
 ORDER BY s.rank, s.ts COLLATE \"C\", s.record_id
 LIMIT $3::bigint";
