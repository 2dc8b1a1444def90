//! Bulk loading: work that is cheaper done once than row by row is
//! suspended for a large backfill and done at its end.
//!
//! Suspended: every index of `records`, `api_calls` and
//! `conversation_blocks` but the exactly-once guard and the partial
//! indexes of one event kind (whoever declared them), and the insert
//! triggers that keep derived tables (`worker_spans`, `worker_session_rows`,
//! the worker claims of migration 10,
//! `api_calls`, `records_fts`, `conversation_blocks`, `cost_rollup`) in
//! step. At the
//! end the indexes are built and the derived tables are filled from the
//! rows inserted meanwhile, then the triggers come back. The unique
//! `(file_id, offset)` index is never dropped: it is the second
//! exactly-once guard.
//!
//! Crash safety: the dropped indexes' and triggers' SQL and the first row
//! id of the bulk load are saved in `indexer_state` in the same transaction that
//! drops them, and [`ensure`] (run at every open) finishes an interrupted
//! bulk load. No database stays without its indexes or derived rows.

use rusqlite::{Connection, OptionalExtension};

use crate::state;
use tasklog_tail::state::StateKey;

/// The index that is never dropped: the second exactly-once guard.
const GUARD_INDEX: &str = "records_file_offset";

/// Insert triggers that may be suspended, with the set-based statements
/// (over the same views the triggers read) that derive their rows for
/// records whose id is above `?1`, run in this order. The tests compare a
/// bulk load with a row-by-row load of the same files.
const DERIVED: &[(&str, &[&str])] = &[
    // First: API calls and conversation blocks find their worker through
    // worker_spans. With this trigger suspended too, no trigger runs for an
    // inserted row during a load (the first trigger on a table costs every
    // row about half a microsecond, its WHEN clause false or not).
    ("records_worker_insert", WORKERS_ABOVE),
    // Rows from before the load whose worker's spawn came in it (migration
    // 10); row by row during the load, each spawn would scan api_calls,
    // whose indexes are dropped.
    ("worker_spans_claim", CLAIMS_ABOVE),
    (
        "records_api_calls_insert",
        &["INSERT INTO api_calls SELECT * FROM llm_call_rows WHERE call_id > ?1"],
    ),
    (
        "records_fts_insert",
        &["INSERT INTO records_fts (rowid, text) SELECT rowid, text FROM records_fts_source WHERE rowid > ?1"],
    ),
    (
        "records_conversation_insert",
        &["INSERT INTO conversation_blocks SELECT * FROM conversation_block_rows WHERE record_id > ?1"],
    ),
    // After api_calls (its trigger): one upsert per rollup key instead of
    // one per call.
    ("api_calls_rollup_insert", &[ROLLUP_CALLS_ABOVE]),
];

/// What `records_worker_insert` (migration 4) does row by row, for the
/// records above `?1`: spans of the new spawns (later spawns win, as they
/// would one by one), a session row per new spawn with the latest exit,
/// and the latest exit folded into older sessions that got a new one.
/// Spawns are found through their partial index (kept during a load),
/// named because a fresh database has no statistics to pick it by: a scan
/// of every record instead cost 0.13 s per 300k.
const WORKERS_ABOVE: &[&str] = &[
    "INSERT OR REPLACE INTO worker_spans
     SELECT span_id, json_extract(body, '$.worker_id'), task_id, record_id
       FROM records INDEXED BY records_worker_spawn_task
      WHERE event = 'worker.spawn' AND span_id IS NOT NULL AND record_id > ?1
      ORDER BY record_id",
    "INSERT OR REPLACE INTO worker_session_rows
     SELECT s.record_id, json_extract(s.body, '$.worker_id'), json_extract(s.body, '$.session_id'),
            s.task_id, s.trace_id, s.span_id, s.ts,
            json_extract(s.body, '$.pid'), json_extract(s.body, '$.worktree_path'),
            json_extract(s.body, '$.branch_name'), json_extract(s.body, '$.prompt_file'),
            json_extract(s.body, '$.log_file'),
            e.record_id, e.ts, e.status, json_extract(e.body, '$.exit_code'), json_extract(e.body, '$.failure_reason')
       FROM records s INDEXED BY records_worker_spawn_task
       LEFT JOIN records e ON e.record_id = (
            SELECT max(x.record_id) FROM records x
             WHERE x.event = 'worker.exit' AND x.task_id = s.task_id
               AND json_extract(x.body, '$.worker_id') = json_extract(s.body, '$.worker_id'))
      WHERE s.event = 'worker.spawn' AND s.record_id > ?1",
    "UPDATE worker_session_rows
        SET (exit_record_id, exit_ts, exit_status, exit_code, failure_reason) = (
            SELECT e.record_id, e.ts, e.status, json_extract(e.body, '$.exit_code'), json_extract(e.body, '$.failure_reason')
              FROM records e
             WHERE e.record_id = (
                   SELECT max(x.record_id) FROM records x
                    WHERE x.event = 'worker.exit' AND x.task_id = worker_session_rows.task_id
                      AND json_extract(x.body, '$.worker_id') = worker_session_rows.worker_id))
      WHERE record_id <= ?1
        AND EXISTS (SELECT 1 FROM records x
                     WHERE x.event = 'worker.exit' AND x.record_id > ?1
                       AND x.task_id = worker_session_rows.task_id
                       AND json_extract(x.body, '$.worker_id') = worker_session_rows.worker_id)",
];

/// What `worker_spans_claim` (migration 10) does spawn by spawn, for the
/// spawns above `?1`: rows from before the load (ids up to `?1`) that fell
/// back to their task take the worker whose spawn their parent span is.
/// One pass over those rows; none at all for a load into an empty index.
const CLAIMS_ABOVE: &[&str] = &[
    "UPDATE api_calls SET worker_id = (
            SELECT w.worker_id FROM records r JOIN worker_spans w ON w.span_id = r.parent_span_id
             WHERE r.record_id = api_calls.call_id)
      WHERE call_id <= ?1 AND worker_id = task_id
        AND EXISTS (SELECT 1 FROM records r JOIN worker_spans w ON w.span_id = r.parent_span_id
                     WHERE r.record_id = api_calls.call_id AND w.record_id > ?1
                       AND w.worker_id IS NOT NULL AND json_extract(r.body, '$.worker_id') IS NULL)",
    "UPDATE conversation_blocks SET worker_id = (
            SELECT w.worker_id FROM records r JOIN worker_spans w ON w.span_id = r.parent_span_id
             WHERE r.record_id = conversation_blocks.record_id)
      WHERE record_id <= ?1 AND worker_id = task_id
        AND EXISTS (SELECT 1 FROM records r JOIN worker_spans w ON w.span_id = r.parent_span_id
                     WHERE r.record_id = conversation_blocks.record_id AND w.record_id > ?1
                       AND w.worker_id IS NOT NULL AND json_extract(r.body, '$.worker_id') IS NULL)",
];

/// The rollup rows of the calls above `?1`, added to what is there. Also
/// how re-pricing rebuilds the rollup (`prices.rs`, from an empty table).
/// `rollups.rs` holds the aggregation and proves it against the triggers.
pub(crate) const ROLLUP_CALLS_ABOVE: &str = concat!(
    "INSERT INTO cost_rollup ",
    crate::rollups::cost_rollup_select!("call_id > ?1"),
    "
    ON CONFLICT (coalesce(day, 0), task_id, model, provider) DO UPDATE SET
       calls = calls + excluded.calls,
       tokens_input = tokens_input + excluded.tokens_input,
       tokens_output = tokens_output + excluded.tokens_output,
       tokens_cached_read = tokens_cached_read + excluded.tokens_cached_read,
       tokens_cached_write = tokens_cached_write + excluded.tokens_cached_write,
       cost_usd = cost_usd + excluded.cost_usd,
       actual_cost_usd = actual_cost_usd + excluded.actual_cost_usd,
       unpriced_calls = unpriced_calls + excluded.unpriced_calls,
       unpriced_tokens = unpriced_tokens + excluded.unpriced_tokens"
);

/// Tables whose full secondary indexes are dropped for a bulk load and
/// built once, by sorting, at its end: `records` and the derived tables
/// that are filled set-based at the end.
const BULK_TABLES: &str = "'records', 'api_calls', 'conversation_blocks'";

/// Sorter helper threads while indexes are built at the end of a load.
const SORTER_THREADS: i64 = 2;

/// Starts a bulk load (inside the caller's transaction).
pub(crate) fn begin(conn: &Connection) -> rusqlite::Result<()> {
    if state::get(conn, StateKey::BulkLoad)?.is_some() {
        return Ok(()); // already suspended
    }
    let watermark: i64 =
        conn.query_row("SELECT coalesce(max(record_id), 0) FROM records", [], |r| {
            r.get(0)
        })?;
    let mut triggers = Vec::new();
    for (name, _) in DERIVED {
        let sql: Option<String> = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(sql) = sql {
            conn.execute_batch(&format!("DROP TRIGGER {name}"))?;
            triggers.push(serde_json::json!({ "name": name, "sql": sql }));
        }
    }
    // Every other index on those tables, whoever's migration created it,
    // except those limited to one event kind (`WHERE event = '...'`):
    // each holds only its kind's rows, appended in order, while rebuilding
    // it means a scan of the whole table. Partial indexes over a large
    // share of the rows (`WHERE span_id IS NOT NULL`) are dropped like
    // full ones: maintained row by row they cost a random b-tree insert
    // each (a third of the backfill on the 1M-record query corpus).
    let indexes: Vec<(String, String)> = conn
        .prepare(&format!(
            "SELECT name, sql FROM sqlite_master
             WHERE type = 'index' AND tbl_name IN ({BULK_TABLES}) AND sql IS NOT NULL AND name <> ?1
               AND sql NOT LIKE '% WHERE event = %'"
        ))?
        .query_map([GUARD_INDEX], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (name, _) in &indexes {
        conn.execute_batch(&format!("DROP INDEX {name}"))?;
    }
    let indexes: Vec<&str> = indexes.iter().map(|(_, sql)| sql.as_str()).collect();
    let state =
        serde_json::json!({ "watermark": watermark, "triggers": triggers, "indexes": indexes })
            .to_string();
    state::set(conn, StateKey::BulkLoad, &state)?;
    Ok(())
}

/// Ends any bulk load (finished or interrupted by a crash): rebuilds the
/// indexes, derives the suspended triggers' rows, restores the triggers.
/// Inside the caller's transaction, or its own when there is none.
pub(crate) fn ensure(conn: &Connection) -> rusqlite::Result<()> {
    let own_tx = conn.is_autocommit();
    if own_tx {
        conn.execute_batch("BEGIN IMMEDIATE")?;
    }
    let result = finish(conn);
    if own_tx {
        match &result {
            Ok(()) => conn.execute_batch("COMMIT")?,
            Err(_) => {
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
    }
    result
}

fn finish(conn: &Connection) -> rusqlite::Result<()> {
    let state = state::get(conn, StateKey::BulkLoad)?;
    let Some(state) = state else { return Ok(()) };
    let state: serde_json::Value = serde_json::from_str(&state).unwrap_or_default();
    let watermark = state["watermark"].as_i64().unwrap_or(0);
    // The reader thread is idle now: let SQLite's sorter use a helper
    // thread for the index builds below.
    conn.pragma_update(None, "threads", SORTER_THREADS)?;
    // Derived rows first, in DERIVED's order, so that their tables' indexes
    // are then built by one sort each rather than row by row.
    let suspended: Vec<(&str, &str)> = state["triggers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t["name"].as_str()?, t["sql"].as_str()?)))
        .collect();
    for (name, statements) in DERIVED {
        if suspended.iter().any(|(n, _)| n == name) {
            let started = std::time::Instant::now();
            let mut rows = 0;
            for sql in *statements {
                rows += conn.execute(sql, [watermark])?;
            }
            tracing::debug!(trigger = name, rows, elapsed = ?started.elapsed(), "derived rows of a bulk load");
        }
    }
    for sql in state["indexes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
    {
        let started = std::time::Instant::now();
        conn.execute_batch(sql)?;
        tracing::debug!(sql, elapsed = ?started.elapsed(), "rebuilt an index after a bulk load");
    }
    for (_, sql) in &suspended {
        conn.execute_batch(sql)?;
    }
    state::delete(conn, StateKey::BulkLoad)?;
    conn.pragma_update(None, "threads", 0)?;
    // Fresh statistics for the planner after a large load, from every
    // row: a sampled ANALYZE (analysis_limit) reads only the first entries
    // of each index, all of one event kind, and told the planner `event`
    // had a thousand values (it then scanned records_event_ts instead of a
    // partial index). About 1 s per million records.
    let started = std::time::Instant::now();
    conn.execute_batch("PRAGMA analysis_limit = 0; ANALYZE;")?;
    tracing::debug!(elapsed = ?started.elapsed(), "analyzed after a bulk load");
    Ok(())
}
