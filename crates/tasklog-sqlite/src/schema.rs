//! The database schema and its migrations.
//!
//! Migrations are numbered, applied in order when the database opens, and
//! recorded in `schema_migrations` and `PRAGMA user_version`. A database
//! whose version is newer than this build is refused, never downgraded.

use rusqlite::Connection;

/// Each migration, in order; index + 1 is its version. Never edit one that
/// shipped: add a new one.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the core: checkpoints, records, documents, errors, tasks.
    r#"
CREATE TABLE schema_migrations (
    version    INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL
);

-- One row per file the indexer follows: the checkpoint lives here, in the
-- same database as the rows, so both commit in one transaction.
CREATE TABLE files (
    file_id     INTEGER PRIMARY KEY,
    path        TEXT NOT NULL UNIQUE,      -- relative to the log root
    task_id     TEXT NOT NULL,
    name        TEXT NOT NULL,             -- stream or document name
    kind        TEXT NOT NULL CHECK (kind IN ('stream', 'document')),
    dev         INTEGER,
    ino         INTEGER,
    generation  INTEGER NOT NULL DEFAULT 1,
    "offset"    INTEGER NOT NULL DEFAULT 0, -- bytes consumed (complete lines)
    line_count  INTEGER NOT NULL DEFAULT 0, -- complete lines consumed
    anchor_hash INTEGER,                   -- xxh3 of the 256 bytes before offset; document: content hash
    size        INTEGER,                   -- documents: size when read
    mtime_ns    INTEGER,                   -- documents: mtime when read
    updated_at  TEXT NOT NULL
);
CREATE INDEX files_task ON files(task_id);

CREATE TABLE records (
    record_id          INTEGER PRIMARY KEY,
    file_id            INTEGER NOT NULL,
    task_id            TEXT NOT NULL,
    stream             TEXT NOT NULL,
    "offset"           INTEGER NOT NULL,   -- byte offset of the line in its file
    line               INTEGER NOT NULL,   -- 1-based line number
    ts                 TEXT NOT NULL,      -- ts, else timestamp/time/created_at, else indexing time
    ts_source          TEXT NOT NULL,      -- 'ts', 'fallback' or 'indexed'
    seq                INTEGER,
    id                 TEXT,
    event              TEXT,
    name               TEXT,
    status             TEXT,
    trace_id           TEXT,
    span_id            TEXT,
    parent_span_id     TEXT,
    duration_ms        REAL,
    error              TEXT,
    role               TEXT,
    severity           TEXT,
    component          TEXT,
    model              TEXT,
    provider           TEXT,
    input_tokens       INTEGER,
    output_tokens      INTEGER,
    cache_read_tokens  INTEGER,
    cache_write_tokens INTEGER,
    cost_usd           REAL,
    tool_name          TEXT,
    body               TEXT NOT NULL       -- the line exactly as written, newline excluded
);
-- The second exactly-once guard, after the checkpoint compare-and-set.
CREATE UNIQUE INDEX records_file_offset ON records(file_id, "offset");
CREATE INDEX records_task_ts ON records(task_id, ts);
CREATE INDEX records_event_ts ON records(event, ts);
CREATE INDEX records_ts ON records(ts);
CREATE INDEX records_span ON records(span_id) WHERE span_id IS NOT NULL;
CREATE INDEX records_model ON records(model, ts) WHERE model IS NOT NULL;

-- Rows of a file generation that was truncated, rewritten, replaced or
-- deleted: moved here, never silently dropped.
CREATE TABLE superseded_records (
    record_id     INTEGER PRIMARY KEY,
    file_id       INTEGER NOT NULL,
    generation    INTEGER NOT NULL,
    task_id       TEXT NOT NULL,
    stream        TEXT NOT NULL,
    "offset"      INTEGER NOT NULL,
    body          TEXT NOT NULL,
    reason        TEXT NOT NULL,
    superseded_at TEXT NOT NULL
);

CREATE TABLE file_events (
    event_id INTEGER PRIMARY KEY,
    path     TEXT NOT NULL,
    at       TEXT NOT NULL,
    event    TEXT NOT NULL,
    detail   TEXT
);

CREATE TABLE documents (
    task_id      TEXT NOT NULL,
    name         TEXT NOT NULL,
    file_id      INTEGER NOT NULL,
    version      INTEGER NOT NULL,
    body         TEXT NOT NULL,            -- exactly as on disk
    content_hash TEXT NOT NULL,
    size         INTEGER NOT NULL,
    updated_at   TEXT NOT NULL,            -- the file's mtime
    indexed_at   TEXT NOT NULL,
    PRIMARY KEY (task_id, name)
);

CREATE TABLE document_history (
    history_id    INTEGER PRIMARY KEY,
    task_id       TEXT NOT NULL,
    name          TEXT NOT NULL,
    version       INTEGER NOT NULL,
    body          TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    superseded_at TEXT NOT NULL
);
CREATE INDEX document_history_doc ON document_history(task_id, name, version);

CREATE TABLE ingest_errors (
    error_id    INTEGER PRIMARY KEY,
    task_id     TEXT NOT NULL,
    path        TEXT NOT NULL,             -- relative to the log root
    generation  INTEGER NOT NULL DEFAULT 1,
    "offset"    INTEGER NOT NULL,
    length      INTEGER,
    line        INTEGER,
    reason      TEXT NOT NULL,
    prefix      TEXT,                      -- first bytes, escaped
    detected_at TEXT NOT NULL,
    UNIQUE (path, generation, "offset", reason)
);
CREATE INDEX ingest_errors_task ON ingest_errors(task_id);

-- One row per task folder, with what task.json says, in the column names
-- of the reference designs' tasks table.
CREATE TABLE tasks (
    task_id        TEXT PRIMARY KEY,
    session_id     TEXT,
    detected_at    TEXT,
    source         TEXT,
    issue_number   INTEGER,
    issue_url      TEXT,
    title          TEXT,
    description    TEXT,
    priority       INTEGER,
    labels         TEXT,
    assigned_at    TEXT,
    started_at     TEXT,
    completed_at   TEXT,
    failed_at      TEXT,
    status         TEXT,
    failure_reason TEXT,
    pr_number      INTEGER,
    pr_url         TEXT,
    commits        TEXT,
    created_at     TEXT,
    updated_at     TEXT,
    first_seen_at  TEXT NOT NULL,
    sealed         INTEGER NOT NULL DEFAULT 0, -- result.json exists
    document       TEXT                        -- task.json as on disk
);
CREATE INDEX tasks_status ON tasks(status, detected_at);

-- Tailer state for `tasklog status`: last commit, watch mode, watches.
CREATE TABLE indexer_state (
    key   TEXT PRIMARY KEY,
    value TEXT
);
"#,
    // 2: the query surface: reference-shaped views, api_calls and the cost
    // rollup kept by triggers, the price table, full-text search.
    include_str!("migrations/0002_query_surface.sql"),
    // 3: search entries deleted only when present (bulk loads); the unused
    // records(ts) index dropped.
    include_str!("migrations/0003_bulk_safety_and_size.sql"),
    // 4: worker sessions kept by triggers instead of read from two JSON
    // bodies per worker at query time.
    include_str!("migrations/0004_worker_sessions.sql"),
    // 5: action_triggers without its join, the per-day cost rollup.
    include_str!("migrations/0005_rollups.sql"),
    // 6: file-level diagnostics (unreadable files, symbolic links) apart
    // from quarantined lines, with `resolved_at` once they no longer hold.
    include_str!("migrations/0006_file_diagnostics.sql"),
    // 7: rollups that stay equal to a fresh aggregation (cost on a 2^-30
    // USD grid, token counts within ±2^53).
    include_str!("migrations/0007_exact_rollups.sql"),
    // 8: monthly archives: which tasks moved to `archive/<stem>-YYYY-MM.db`,
    // and how far each move went (archive.rs).
    include_str!("migrations/0008_archives.sql"),
    // 9: a task's facts: the per-task aggregate of its records kept by the
    // sink (`facts.rs`) and the `task_facts` view. Migration 11 widens the
    // aggregate and fills it (the fill here was today's
    // `task_activity_select!`, which no longer fits this table).
    include_str!("migrations/0009_task_facts.sql"),
    // 10: a worker.spawn indexed after its worker's records claims their
    // api_calls and conversation_blocks rows, as PostgreSQL's views see
    // them (issue 19).
    include_str!("migrations/0010_late_worker_spans.sql"),
    // 11: model calls of a source without timestamps in no day (a NULL
    // `api_calls.timestamp` and rollup `day`), the branch of a TAC-8
    // session among the facts; the rollups and the task aggregate filled
    // again from their sources (issue 20).
    concat!(
        include_str!("migrations/0011_timeless_calls_and_branches.sql"),
        "\nINSERT INTO cost_rollup ",
        crate::rollups::cost_rollup_select!("1"),
        ";\nDELETE FROM task_activity;\nINSERT INTO task_activity ",
        crate::facts::task_activity_select!("1"),
        ";\n"
    ),
    // 12: one-hour cache writes priced at
    // their own rate (issue 25): records.cache_write_1h_tokens,
    // prices.cache_write_1h_per_mtok, llm_call_rows re-created.
    include_str!("migrations/0012_cache_write_1h.sql"),
];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The version a database is at.
pub(crate) fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Applies every migration the database lacks, each in its own transaction.
pub(crate) fn migrate(conn: &mut Connection, now: &str) -> rusqlite::Result<()> {
    migrate_to(conn, now, MIGRATIONS.len())
}

/// Applies the migrations up to version `last` (tests build an index of an
/// older version with it, then upgrade it in place).
fn migrate_to(conn: &mut Connection, now: &str, last: usize) -> rusqlite::Result<()> {
    let current = version(conn)?;
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .take(last)
        .skip(current as usize)
    {
        let v = i as i64 + 1;
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations(version, applied_at) VALUES (?1, ?2)",
            (v, now),
        )?;
        tx.pragma_update(None, "user_version", v)?;
        tx.commit()?;
        tracing::info!(version = v, "applied schema migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The promoted columns are defined once (`batch.rs`); the schema is
    /// written in SQL. This fails when the two diverge.
    #[test]
    fn records_has_exactly_the_row_columns() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, "2026-01-01T00:00:00Z").unwrap();
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('records') ORDER BY cid")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let expected: Vec<String> = ["record_id", "file_id", "task_id", "stream"]
            .iter()
            .chain(tasklog_tail::batch::Row::COLUMNS)
            .map(|c| c.to_string())
            .collect();
        assert_eq!(columns, expected);
    }

    /// An index at version 10 upgrades in place: a model call of a source
    /// without timestamps leaves its day (NULL in `api_calls` and both
    /// rollups) while one with a time keeps it, a session's branch becomes
    /// a fact, and the triggers keep the rollups equal to a fresh
    /// aggregation as calls come and go.
    #[test]
    fn version_10_upgrades_timeless_calls_and_branches() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, "2026-01-01T00:00:00Z", 10).unwrap();
        assert_eq!(version(&conn).unwrap(), 10);
        let call = |conn: &Connection, id: i64, task: &str, ts: &str, source: &str| {
            conn.execute(
                "INSERT INTO records (record_id, file_id, task_id, stream, \"offset\", line, ts, ts_source,
                                      event, model, input_tokens, output_tokens, cost_usd, body)
                 VALUES (?1, ?1, ?2, 's', 0, 1, ?3, ?4, 'llm.call', 'm', 10, 5, 0.25, '{}')",
                (id, task, ts, source),
            )
            .unwrap();
        };
        call(&conn, 1, "old", "2024-03-01T10:00:00.000000Z", "fallback");
        call(&conn, 2, "old", "2026-12-07T03:00:00.000000Z", "indexed");
        // A `ts` of "" is a text, not an unknown time: a day '' apart from
        // the NULL day, as a fresh aggregation groups it.
        call(&conn, 6, "old", "", "ts");
        conn.execute_batch(
            r#"INSERT INTO tasks (task_id, first_seen_at) VALUES ('old', 'x'), ('ses', 'x');
               INSERT INTO records (record_id, file_id, task_id, stream, "offset", line, ts, ts_source, event, body)
               VALUES (3, 3, 'ses', 's', 0, 1, '2024-03-01T00:00:00Z', 'fallback', 'session.start',
                       '{"event":"session.start","details":{"git_branch":"main"}}'),
                      (4, 3, 'ses', 's', 10, 2, '2024-03-01T00:00:01Z', 'fallback', 'session.start',
                       '{"event":"session.start","git_branch":"later"}');"#,
        )
        .unwrap();
        migrate(&mut conn, "2026-01-01T00:00:00Z").unwrap();
        let days = |conn: &Connection, table: &str| -> Vec<(Option<String>, i64)> {
            let sql = format!("SELECT day, calls FROM {table} ORDER BY day");
            let mut stmt = conn.prepare(&sql).unwrap();
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
            rows.collect::<rusqlite::Result<_>>().unwrap()
        };
        let want = vec![
            (None, 1),
            (Some(String::new()), 1),
            (Some("2024-03-01".to_owned()), 1),
        ];
        assert_eq!(days(&conn, "cost_rollup"), want);
        assert_eq!(days(&conn, "cost_daily"), want);
        let stamp: Option<String> = conn
            .query_row(
                "SELECT timestamp FROM api_calls WHERE call_id = 2",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stamp, None);
        let branch: Option<String> = conn
            .query_row(
                "SELECT git_branch FROM task_facts WHERE task_id = 'ses'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(branch.as_deref(), Some("main"));
        assert_eq!(
            crate::rollups::differences(&conn).unwrap(),
            Vec::<String>::new()
        );

        // The triggers after the upgrade: a second timeless call joins the
        // NULL day, removing calls empties it, and a fresh aggregation of
        // the calls agrees at every step (`task_activity` is the sink's to
        // keep, not a trigger's: rows inserted here leave it behind).
        let cost_differences = |conn: &Connection| -> Vec<String> {
            crate::rollups::differences(conn)
                .unwrap()
                .into_iter()
                .filter(|d| !d.starts_with("task_activity"))
                .collect()
        };
        call(&conn, 5, "old", "2026-12-07T04:00:00.000000Z", "indexed");
        assert_eq!(days(&conn, "cost_rollup")[0], (None, 2));
        assert_eq!(cost_differences(&conn), Vec::<String>::new());
        conn.execute("DELETE FROM records WHERE record_id IN (2, 5)", [])
            .unwrap();
        let want = vec![(Some(String::new()), 1), (Some("2024-03-01".to_owned()), 1)];
        assert_eq!(days(&conn, "cost_rollup"), want);
        assert_eq!(days(&conn, "cost_daily"), want);
        assert_eq!(cost_differences(&conn), Vec::<String>::new());
    }

    /// An index of version 11 upgraded to 12: calls already stored get their
    /// one-hour cache writes from the body (nested form, integers only),
    /// the price fingerprint is forgotten so the next open re-prices, and
    /// the view prices the one-hour part at its own rate (0 = five-minute).
    #[test]
    fn version_11_upgrades_to_one_hour_cache_prices() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, "2026-01-01T00:00:00Z", 11).unwrap();
        let call = |conn: &Connection, id: i64, body: &str| {
            conn.execute(
                "INSERT INTO records (record_id, file_id, task_id, stream, \"offset\", line, ts, ts_source,
                                      event, model, input_tokens, output_tokens, cache_read_tokens,
                                      cache_write_tokens, body)
                 VALUES (?1, ?1, 't', 's', 0, 1, '2026-01-15T00:00:00.000000Z', 'ts', 'llm.call', 'm',
                         5100, 500, 2000, 3000, ?2)",
                (id, body),
            )
            .unwrap();
        };
        let nested = r#"{"gen_ai":{"usage":{"cache_creation":{"input_tokens":3000,"ephemeral_1h":{"input_tokens":2000}}}}}"#;
        call(&conn, 1, nested);
        call(
            &conn,
            2,
            r#"{"gen_ai":{"usage":{"cache_creation":{"ephemeral_1h":{"input_tokens":"2000"}}}}}"#,
        );
        call(
            &conn,
            3,
            r#"{"gen_ai":{"usage":{"cache_creation":{"ephemeral_1h":{"input_tokens":1e3}}}}}"#,
        );
        conn.execute(
            "INSERT INTO indexer_state (key, value) VALUES ('prices_hash', 'x')",
            [],
        )
        .unwrap();
        migrate(&mut conn, "2026-01-01T00:00:00Z").unwrap();
        let one_hour: Vec<Option<i64>> = conn
            .prepare("SELECT cache_write_1h_tokens FROM records ORDER BY record_id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(one_hour, vec![Some(2000), None, None]);
        let hash: i64 = conn
            .query_row(
                "SELECT count(*) FROM indexer_state WHERE key = 'prices_hash'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(hash, 0);
        // 100 uncached * 3 + 2000 read * 0.3 + 1000 five-minute * 3.75
        // + 2000 one-hour * 6 + 500 out * 15 = 24150 per million.
        conn.execute(
            "INSERT INTO prices VALUES ('m', '2025-01-01', NULL, 3, 15, 0.3, 3.75, 'test', 6)",
            [],
        )
        .unwrap();
        let cost = |conn: &Connection| -> f64 {
            conn.query_row(
                "SELECT estimated_cost_usd FROM llm_call_rows WHERE call_id = 1",
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert!((cost(&conn) - 0.02415).abs() < 1e-12, "{}", cost(&conn));
        conn.execute("UPDATE prices SET cache_write_1h_per_mtok = NULL", [])
            .unwrap();
        assert!((cost(&conn) - 0.01965).abs() < 1e-12, "{}", cost(&conn));
    }

    /// The full-text search text is written three times in SQL (the view
    /// that shows it, the insert trigger that indexes it, the delete
    /// trigger that must hand FTS5 the same text back): this fails when
    /// the three diverge.
    #[test]
    fn the_search_text_is_one_expression() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, "2026-01-01T00:00:00Z").unwrap();
        let expression = |name: &str| -> String {
            let sql: String = conn
                .query_row(
                    "SELECT sql FROM sqlite_master WHERE name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .unwrap();
            let start = sql.find("CASE").expect("a CASE expression");
            let end = start + sql[start..].find("END").expect("its END") + 3;
            let text = sql[start..end]
                .replace("NEW.", "")
                .replace("OLD.", "")
                .replace("r.", "");
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        };
        let view = expression("records_fts_source");
        assert!(view.contains("'message'"), "{view}");
        assert_eq!(expression("records_fts_insert"), view);
        assert_eq!(expression("records_fts_delete"), view);
    }
}
