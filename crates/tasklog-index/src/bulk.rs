//! Bulk loading: work that is cheaper done once than row by row is
//! suspended for a large backfill and done at its end.
//!
//! Suspended: every full index of `records` but the exactly-once guard
//! (whoever declared it), and the insert triggers that keep derived tables
//! (`api_calls`, `records_fts`, `conversation_blocks`) in step. At the
//! end the indexes are built and the derived tables are filled from the
//! rows inserted meanwhile, then the triggers come back. The unique
//! `(file_id, offset)` index is never dropped: it is the second
//! exactly-once guard.
//!
//! Crash safety: the dropped indexes' and triggers' SQL and the first row
//! id of the bulk load are saved in `indexer_state` in the same transaction that
//! drops them, and [`ensure`] (run at every open) finishes an interrupted
//! bulk load. No database stays without its indexes or derived rows.

use rusqlite::{params, Connection, OptionalExtension};

/// The index that is never dropped: the second exactly-once guard.
const GUARD_INDEX: &str = "records_file_offset";

/// Insert triggers that may be suspended, with the set-based statement
/// (over the same view the trigger reads) that derives their rows for
/// records whose id is above `?1`. The tests compare a bulk load with a
/// row-by-row load of the same files.
const DERIVED: &[(&str, &str)] = &[
    (
        "records_api_calls_insert",
        "INSERT INTO api_calls SELECT * FROM llm_call_rows WHERE call_id > ?1",
    ),
    (
        "records_fts_insert",
        "INSERT INTO records_fts (rowid, text) SELECT rowid, text FROM records_fts_source WHERE rowid > ?1",
    ),
    (
        "records_conversation_insert",
        "INSERT INTO conversation_blocks SELECT * FROM conversation_block_rows WHERE record_id > ?1",
    ),
];

const STATE_KEY: &str = "bulk_load";

/// Starts a bulk load (inside the caller's transaction).
pub(crate) fn begin(conn: &Connection) -> rusqlite::Result<()> {
    if conn
        .query_row(
            "SELECT 1 FROM indexer_state WHERE key = ?1",
            [STATE_KEY],
            |_| Ok(()),
        )
        .optional()?
        .is_some()
    {
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
    // Every other full index on `records`, whoever's migration created it.
    // Partial indexes stay: maintaining them costs only their few rows,
    // while rebuilding one means a scan of the whole table.
    let indexes: Vec<(String, String)> = conn
        .prepare(
            "SELECT name, sql FROM sqlite_master
             WHERE type = 'index' AND tbl_name = 'records' AND sql IS NOT NULL AND name <> ?1
               AND sql NOT LIKE '% WHERE %'",
        )?
        .query_map([GUARD_INDEX], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (name, _) in &indexes {
        conn.execute_batch(&format!("DROP INDEX {name}"))?;
    }
    let indexes: Vec<&str> = indexes.iter().map(|(_, sql)| sql.as_str()).collect();
    let state =
        serde_json::json!({ "watermark": watermark, "triggers": triggers, "indexes": indexes })
            .to_string();
    conn.execute(
        "INSERT OR REPLACE INTO indexer_state (key, value) VALUES (?1, ?2)",
        params![STATE_KEY, state],
    )?;
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
    let state: Option<String> = conn
        .query_row(
            "SELECT value FROM indexer_state WHERE key = ?1",
            [STATE_KEY],
            |r| r.get(0),
        )
        .optional()?;
    let Some(state) = state else { return Ok(()) };
    let state: serde_json::Value = serde_json::from_str(&state).unwrap_or_default();
    let watermark = state["watermark"].as_i64().unwrap_or(0);
    for sql in state["indexes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
    {
        conn.execute_batch(sql)?;
    }
    for trigger in state["triggers"].as_array().into_iter().flatten() {
        let (Some(name), Some(sql)) = (trigger["name"].as_str(), trigger["sql"].as_str()) else {
            continue;
        };
        if let Some((_, derive)) = DERIVED.iter().find(|(n, _)| *n == name) {
            conn.execute(derive, [watermark])?;
        }
        conn.execute_batch(sql)?;
    }
    conn.execute("DELETE FROM indexer_state WHERE key = ?1", [STATE_KEY])?;
    // Fresh statistics for the planner after a large load; the sampling
    // limit keeps it to milliseconds even at millions of rows.
    conn.execute_batch("PRAGMA analysis_limit = 1000; ANALYZE;")?;
    Ok(())
}
