//! Bulk loading: work that is cheaper done once than row by row is
//! suspended for a large backfill and done at its end.
//!
//! Suspended: the secondary indexes of `records`, and the insert triggers
//! that keep derived tables (`api_calls`) in step. At the
//! end the indexes are built and the derived tables are filled from the
//! rows inserted meanwhile, then the triggers come back. The unique
//! `(file_id, offset)` index is never dropped: it is the second
//! exactly-once guard.
//!
//! Crash safety: the dropped triggers' SQL and the first row id of the
//! bulk load are saved in `indexer_state` in the same transaction that
//! drops them, and [`ensure`] (run at every open) finishes an interrupted
//! bulk load. No database stays without its indexes or derived rows.

use rusqlite::{params, Connection, OptionalExtension};

/// The secondary indexes of `records`, as migration 1 creates them.
const SECONDARY_INDEXES: &[(&str, &str)] = &[
    (
        "records_task_ts",
        "CREATE INDEX IF NOT EXISTS records_task_ts ON records(task_id, ts)",
    ),
    (
        "records_event_ts",
        "CREATE INDEX IF NOT EXISTS records_event_ts ON records(event, ts)",
    ),
    (
        "records_ts",
        "CREATE INDEX IF NOT EXISTS records_ts ON records(ts)",
    ),
    (
        "records_span",
        "CREATE INDEX IF NOT EXISTS records_span ON records(span_id) WHERE span_id IS NOT NULL",
    ),
    (
        "records_model",
        "CREATE INDEX IF NOT EXISTS records_model ON records(model, ts) WHERE model IS NOT NULL",
    ),
];

/// Insert triggers that may be suspended, with the statement that derives
/// their rows for records whose id is above `?1`. A trigger is listed here
/// only when a set-based statement reproduces it exactly; the tests compare
/// a bulk load with a row-by-row load. (The full-text trigger is not listed
/// yet: it stays active during bulk loads.)
const DERIVED: &[(&str, &str)] = &[(
    "records_api_calls_insert",
    "INSERT INTO api_calls SELECT * FROM llm_call_rows WHERE call_id > ?1",
)];

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
    for (name, _) in SECONDARY_INDEXES {
        conn.execute_batch(&format!("DROP INDEX IF EXISTS {name}"))?;
    }
    let state = serde_json::json!({ "watermark": watermark, "triggers": triggers }).to_string();
    conn.execute(
        "INSERT OR REPLACE INTO indexer_state (key, value) VALUES (?1, ?2)",
        params![STATE_KEY, state],
    )?;
    Ok(())
}

/// Ends any bulk load (finished or interrupted by a crash) and creates
/// whichever secondary indexes are missing. Inside the caller's
/// transaction, or its own when there is none.
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
    for (_, ddl) in SECONDARY_INDEXES {
        conn.execute_batch(ddl)?;
    }
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
    Ok(())
}
