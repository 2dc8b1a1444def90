//! `tasklog status`: how far behind the index is, and how it is watching.

use std::path::Path;

use serde::Serialize;

use crate::db::open_read_only;
use crate::error::{Error, Result};

/// Lag of one task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskLag {
    /// The task.
    pub task_id: String,
    /// Bytes on disk after the checkpoints.
    pub lag_bytes: u64,
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
    /// Rows in `ingest_errors`.
    pub quarantined: i64,
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
}

/// Reads the status of the index at `db` over the files under `root`.
pub fn status(root: &Path, db: &Path) -> Result<Status> {
    let conn = open_read_only(db)?;
    let sql = |e| Error::sqlite(db, "reading status", e);
    let count = |table: &str| -> Result<i64> {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .map_err(sql)
    };
    let state = |key: &str| -> Result<Option<String>> {
        match conn.query_row(
            "SELECT value FROM indexer_state WHERE key = ?1",
            [key],
            |r| r.get(0),
        ) {
            Ok(v) => Ok(Some(v)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(sql(e)),
        }
    };
    let mut lag: std::collections::BTreeMap<String, u64> = Default::default();
    let files: Vec<(String, String, i64)> = conn
        .prepare(r#"SELECT task_id, path, "offset" FROM files WHERE kind = 'stream'"#)
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .map_err(sql)?;
    for (task, path, offset) in files {
        if let Ok(meta) = std::fs::metadata(root.join(&path)) {
            let behind = meta.len().saturating_sub(offset as u64);
            if behind > 0 {
                *lag.entry(task).or_default() += behind;
            }
        }
    }
    let mut lagging_tasks: Vec<TaskLag> = lag
        .into_iter()
        .map(|(task_id, lag_bytes)| TaskLag { task_id, lag_bytes })
        .collect();
    lagging_tasks.sort_by_key(|t| std::cmp::Reverse(t.lag_bytes));
    let indexer_running = match crate::db::WriterLock::acquire(db) {
        Ok(_lock) => false,
        Err(Error::AlreadyRunning { .. }) => true,
        Err(_) => false,
    };
    Ok(Status {
        schema_version: crate::schema::version(&conn).map_err(sql)?,
        tasks: count("tasks")?,
        records: count("records")?,
        documents: count("documents")?,
        quarantined: count("ingest_errors")?,
        lag_bytes: lagging_tasks.iter().map(|t| t.lag_bytes).sum(),
        lagging_tasks,
        indexer_running,
        watch_mode: state("watch_mode")?,
        watches: state("watches")?.and_then(|v| v.parse().ok()),
        polled_tasks: state("polled_tasks")?.and_then(|v| v.parse().ok()),
        last_commit_at: state("last_commit_at")?,
    })
}
