//! `tasklog status`: how far behind the index is, how it is watching, the
//! WAL, and the diagnostics that still hold.
//!
//! Lag is measured from the files, not from the index's list of files: a
//! stream the indexer has not seen yet (a folder it missed, a root it lost)
//! counts in full, so bytes waiting are never reported as zero lag.

use std::path::Path;

use serde::Serialize;

use tasklog_tail::lag::{lag_from, TaskLag};
use tasklog_tail::state::StateKey;
use tasklog_tail::Result;

use crate::db::open_read_only;
use crate::state;

/// A file-level diagnostic that still holds (a file or task folder that
/// cannot be indexed as it is now).
#[derive(Debug, Clone, Serialize)]
pub struct Diagnostic {
    /// `<task>/<file>`, or `<task>` for a task folder.
    pub path: String,
    /// What is wrong.
    pub reason: String,
    /// When the indexer found it.
    pub detected_at: String,
}

/// A snapshot of the index's health.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Schema version of the database.
    pub schema_version: i64,
    /// Task folders indexed.
    pub tasks: i64,
    /// Rows in `records`.
    pub records: i64,
    /// Current documents.
    pub documents: i64,
    /// Quarantined lines and document versions (`ingest_errors` of kind `line`).
    pub quarantined: i64,
    /// File-level diagnostics that still hold, by path (resolved ones are
    /// kept in `ingest_errors` with `resolved_at` set, not listed here).
    pub diagnostics: Vec<Diagnostic>,
    /// Bytes on disk not indexed yet, over all streams.
    pub lag_bytes: u64,
    /// Tasks with lag, largest first.
    pub lagging_tasks: Vec<TaskLag>,
    /// Whether a `watch` (or `index`) holds the database right now.
    pub indexer_running: bool,
    /// `inotify`, `inotify+polling` or `polling`, as the last watcher reported.
    pub watch_mode: Option<String>,
    /// Task folders with an inotify watch.
    pub watches: Option<i64>,
    /// Task folders being polled.
    pub polled_tasks: Option<i64>,
    /// When the last batch committed.
    pub last_commit_at: Option<String>,
    /// Size of the `-wal` file in bytes (0 when there is none).
    pub wal_bytes: u64,
    /// Since when a reader's open read transaction has kept the running
    /// indexer from copying the WAL into the database (the WAL grows until
    /// it ends); `None` when no reader pins it or no indexer runs.
    pub wal_reader_since: Option<String>,
}

/// Reads the status of the index at `db` over the files under `root`.
pub fn status(root: &Path, db: &Path) -> Result<Status> {
    let conn = open_read_only(db)?;
    let sql = |e| crate::error::sqlite_error(db, "reading status", e);
    let count = |table: &str| -> Result<i64> {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .map_err(sql)
    };
    let state = |key: StateKey| state::get(&conn, key).map_err(sql);
    let lag = lag_by_task(&conn, root, db)?;
    let mut lagging_tasks: Vec<TaskLag> = lag
        .into_iter()
        .map(|(task_id, lag_bytes)| TaskLag { task_id, lag_bytes })
        .collect();
    lagging_tasks.sort_by_key(|t| std::cmp::Reverse(t.lag_bytes));
    // Probed read-only: a user who may only read the database can ask too.
    let indexer_running = crate::db::WriterLock::is_held(db).unwrap_or(false);
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let schema_version = crate::schema::version(&conn).map_err(sql)?;
    // Before migration 6 every row counted as quarantined, none as open.
    let (quarantined, diagnostics) = if schema_version >= 6 {
        let open = conn
            .prepare(
                "SELECT path, reason, detected_at FROM ingest_errors
                  WHERE kind = 'file' AND resolved_at IS NULL ORDER BY path, reason",
            )
            .and_then(|mut s| {
                s.query_map([], |r| {
                    Ok(Diagnostic {
                        path: r.get(0)?,
                        reason: r.get(1)?,
                        detected_at: r.get(2)?,
                    })
                })?
                .collect()
            })
            .map_err(sql)?;
        let lines = conn
            .query_row(
                "SELECT count(*) FROM ingest_errors WHERE kind = 'line'",
                [],
                |r| r.get(0),
            )
            .map_err(sql)?;
        (lines, open)
    } else {
        (count("ingest_errors")?, Vec::new())
    };
    Ok(Status {
        schema_version,
        tasks: count("tasks")?,
        records: count("records")?,
        documents: count("documents")?,
        quarantined,
        diagnostics,
        lag_bytes: lagging_tasks.iter().map(|t| t.lag_bytes).sum(),
        lagging_tasks,
        indexer_running,
        watch_mode: state(StateKey::WatchMode)?,
        watches: state(StateKey::Watches)?.and_then(|v| v.parse().ok()),
        polled_tasks: state(StateKey::PolledTasks)?.and_then(|v| v.parse().ok()),
        last_commit_at: state(StateKey::LastCommitAt)?,
        wal_bytes: std::fs::metadata(std::path::PathBuf::from(wal)).map_or(0, |m| m.len()),
        wal_reader_since: if indexer_running {
            state(StateKey::WalReaderSince)?
        } else {
            None
        },
    })
}

/// Bytes of every stream under `root` after its checkpoint, by task: a
/// stream with no checkpoint, or whose file is not the one checkpointed
/// (another inode), counts from byte 0.
fn lag_by_task(
    conn: &rusqlite::Connection,
    root: &Path,
    db: &Path,
) -> Result<std::collections::BTreeMap<String, u64>> {
    let known: std::collections::HashMap<String, (u64, u64, u64)> = conn
        .prepare(r#"SELECT path, coalesce(dev, 0), coalesce(ino, 0), "offset" FROM files WHERE kind = 'stream'"#)
        .and_then(|mut s| {
            s.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    (
                        r.get::<_, i64>(1)? as u64,
                        r.get::<_, i64>(2)? as u64,
                        r.get::<_, i64>(3)? as u64,
                    ),
                ))
            })?
            .collect()
        })
        .map_err(|e| crate::error::sqlite_error(db, "reading status", e))?;
    // Archived tasks are indexed in their archive, not behind (archive.rs).
    let archived: std::collections::HashSet<String> = conn
        .prepare("SELECT task_id FROM archived_tasks")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .unwrap_or_default();
    Ok(lag_from(root, &known, &archived))
}
