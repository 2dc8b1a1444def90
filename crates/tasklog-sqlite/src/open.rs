//! Opening a tailer over the SQLite file: its writer lock, WAL thread
//! and one connection, then the core's committers and reader.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rusqlite::Connection;
use tasklog_tail::prices::PriceTable;
use tasklog_tail::{Companion, IndexOptions, Loaded, Result, RunMode, Shutdown, Tailer};

use crate::db::{self, WriterLock};
use crate::error::sqlite_error;
use crate::sink::SqliteSink;
use crate::wal::{WalCheckpointer, WRITER_BACKSTOP_PAGES};

/// Opens a [`Tailer`] over an SQLite database (`Tailer::open(root, db,
/// ...)` with this trait in scope).
pub trait OpenSqlite: Sized {
    /// Takes the database's writer lock, migrates it, loads the checkpoints
    /// and starts the committer thread.
    fn open(root: &Path, db_path: &Path, options: IndexOptions, mode: RunMode) -> Result<Self>;

    /// [`OpenSqlite::open`], stopped by a `shutdown` the caller already
    /// holds (a signal handler installed before the open).
    fn open_with(
        root: &Path,
        db_path: &Path,
        options: IndexOptions,
        mode: RunMode,
        shutdown: Shutdown,
    ) -> Result<Self>;
}

/// The SQLite sink's companions: the WAL thread, stopped after the
/// committer, and the writer lock, released last.
struct Companions {
    wal: WalCheckpointer,
    _lock: WriterLock,
}

impl Companion for Companions {
    fn finish(self: Box<Self>) {
        self.wal.finish();
    }
}

impl OpenSqlite for Tailer {
    /// Takes the database's writer lock, migrates it, loads the checkpoints
    /// and starts the committer thread.
    fn open(root: &Path, db_path: &Path, options: IndexOptions, mode: RunMode) -> Result<Tailer> {
        <Tailer as OpenSqlite>::open_with(root, db_path, options, mode, Shutdown::new())
    }

    /// [`Tailer::open`], stopped by a `shutdown` the caller already holds
    /// (a signal handler installed before the open).
    fn open_with(
        root: &Path,
        db_path: &Path,
        options: IndexOptions,
        mode: RunMode,
        shutdown: Shutdown,
    ) -> Result<Tailer> {
        let lock = WriterLock::acquire(db_path)?;
        let mut conn = db::open_for_writing(db_path)?;
        conn.busy_timeout(options.busy_timeout)
            .map_err(|e| sqlite_error(db_path, "setting busy timeout", e))?;
        // Prices first: a changed table re-prices stored calls before new ones arrive.
        crate::prices::install(
            &PriceTable::load(options.prices.as_deref())?,
            &mut conn,
            db_path,
        )?;
        let checkpoints = crate::files::load(&conn, db_path)?;
        // Tasks that already have their row: a restart then sends nothing
        // for them (100k INSERT OR IGNOREs into a cold database are seconds).
        let registered = load_task_ids(&conn, db_path)?;
        let archived = load_ids(&conn, db_path, "SELECT task_id FROM archived_tasks")?;
        let diagnostics = load_diagnostics(&conn, db_path)?;
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_BACKSTOP_PAGES)
            .map_err(|e| sqlite_error(db_path, "configuring checkpoints", e))?;
        let checkpointer = WalCheckpointer::spawn(db_path)?;
        let sink = SqliteSink::new(conn, db_path)?;
        let loaded = Loaded {
            checkpoints,
            registered,
            archived,
            diagnostics,
        };
        Tailer::assemble(root, options, mode, vec![sink], loaded, shutdown).map(|t| {
            t.with_companion(Box::new(Companions {
                wal: checkpointer,
                _lock: lock,
            }))
        })
    }
}

fn load_task_ids(conn: &Connection, db: &Path) -> Result<BTreeSet<String>> {
    load_ids(conn, db, "SELECT task_id FROM tasks")
}

fn load_ids(conn: &Connection, db: &Path, sql: &str) -> Result<BTreeSet<String>> {
    conn.prepare(sql)
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| sqlite_error(db, "loading tasks", e))
}

/// The open file-level diagnostics of a database, by path.
fn load_diagnostics(conn: &Connection, db: &Path) -> Result<BTreeMap<String, String>> {
    conn.prepare(
        "SELECT path, reason FROM ingest_errors WHERE kind = 'file' AND resolved_at IS NULL",
    )
    .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
    .map_err(|e| sqlite_error(db, "loading diagnostics", e))
}
