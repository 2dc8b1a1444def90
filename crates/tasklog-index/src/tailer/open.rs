//! Opening a tailer over a sink: the SQLite file (its writer lock, WAL
//! thread and one connection) or a PostgreSQL database (two connections,
//! `pg/`); then the same committers and reader for both.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use super::{diagnostics, RunMode, Stats, Tailer};
use crate::committer::CommitPolicy;
use crate::db::{self, WriterLock};
use crate::error::{Error, Result};
use crate::files::Checkpoint;
use crate::options::IndexOptions;
use crate::shards::Committers;
use crate::shutdown::Shutdown;
use crate::sink::{Sink, SqliteSink};
use crate::wal::{WalCheckpointer, WRITER_BACKSTOP_PAGES};

/// What a sink's database says before the reader starts.
struct Loaded {
    checkpoints: BTreeMap<String, Checkpoint>,
    registered: BTreeSet<String>,
    archived: BTreeSet<String>,
    diagnostics: BTreeMap<String, String>,
}

/// Ops queued per connection when several commit in parallel: while one
/// sends its COPY, the reader keeps feeding the others.
const SHARD_CHANNEL_CAPACITY: usize = 32;

/// The least age at which `tasklog index` commits a batch: large
/// transactions are what a backfill wants, and nobody waits on freshness.
const ONCE_BATCH_INTERVAL: Duration = Duration::from_secs(1);

impl Tailer {
    /// Takes the database's writer lock, migrates it, loads the checkpoints
    /// and starts the committer thread.
    pub fn open(
        root: &Path,
        db_path: &Path,
        options: IndexOptions,
        mode: RunMode,
    ) -> Result<Tailer> {
        Tailer::open_with(root, db_path, options, mode, Shutdown::new())
    }

    /// [`Tailer::open`], stopped by a `shutdown` the caller already holds
    /// (a signal handler installed before the open).
    pub fn open_with(
        root: &Path,
        db_path: &Path,
        options: IndexOptions,
        mode: RunMode,
        shutdown: Shutdown,
    ) -> Result<Tailer> {
        let lock = WriterLock::acquire(db_path)?;
        let mut conn = db::open_for_writing(db_path)?;
        conn.busy_timeout(options.busy_timeout)
            .map_err(|e| Error::sqlite(db_path, "setting busy timeout", e))?;
        // Prices first: a changed table re-prices stored calls before new ones arrive.
        crate::prices::PriceTable::load(options.prices.as_deref())?.install(&mut conn, db_path)?;
        let checkpoints = crate::files::load(&conn, db_path)?;
        // Tasks that already have their row: a restart then sends nothing
        // for them (100k INSERT OR IGNOREs into a cold database are seconds).
        let registered = load_task_ids(&conn, db_path)?;
        let archived = load_ids(&conn, db_path, "SELECT task_id FROM archived_tasks")?;
        let diagnostics = diagnostics::load(&conn, db_path)?;
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_BACKSTOP_PAGES)
            .map_err(|e| Error::sqlite(db_path, "configuring checkpoints", e))?;
        let checkpointer = WalCheckpointer::spawn(db_path)?;
        let sink = SqliteSink::new(conn, db_path)?;
        let loaded = Loaded {
            checkpoints,
            registered,
            archived,
            diagnostics,
        };
        Tailer::assemble(root, options, mode, vec![sink], loaded, shutdown)
            .map(|t| t.with_sqlite(checkpointer, lock))
    }

    /// Opens a sidecar that ships into PostgreSQL as `target`'s host
    /// (issue 13). While the server is unreachable it retries with backoff
    /// (`tasklog index`: for 30 s; `tasklog watch`: until `shutdown`, so a
    /// signal handler can be listening before the server comes back).
    pub fn open_postgres(
        root: &Path,
        target: &crate::pg::PgTarget,
        options: IndexOptions,
        mode: RunMode,
        shutdown: Shutdown,
    ) -> Result<Tailer> {
        let prices = crate::prices::PriceTable::load(options.prices.as_deref())?;
        let opened = crate::pg::open(target, &prices, mode.retry_for(), &shutdown)?;
        let loaded = Loaded {
            checkpoints: opened.checkpoints,
            registered: opened.registered,
            // Monthly archives are SQLite's (RETENTION.md): none here.
            archived: BTreeSet::new(),
            diagnostics: opened.diagnostics,
        };
        Tailer::assemble(root, options, mode, opened.sinks, loaded, shutdown)
    }

    /// Starts a committer over each of `sinks` (connections to one
    /// database); the rest is the same for every kind of sink.
    fn assemble<S: Sink + Send + 'static>(
        root: &Path,
        options: IndexOptions,
        mode: RunMode,
        sinks: Vec<S>,
        loaded: Loaded,
        shutdown: Shutdown,
    ) -> Result<Tailer> {
        // A backfill keeps every connection fed; a live sidecar keeps the
        // queue short, since every op waiting in it is latency.
        let channel = match (sinks.len(), mode) {
            (1, _) | (_, RunMode::Watch) => crate::committer::CHANNEL_CAPACITY,
            (_, RunMode::Once) => SHARD_CHANNEL_CAPACITY,
        };
        let committer = Committers::spawn(
            sinks,
            CommitPolicy {
                batch_rows: options.batch_rows,
                batch_interval: match mode {
                    // A backfill has no reader waiting: commit by size.
                    RunMode::Once => options.batch_interval.max(ONCE_BATCH_INTERVAL),
                    RunMode::Watch => options.batch_interval,
                },
                retry_for: mode.retry_for(),
                channel,
            },
            shutdown.flag(),
        )?;
        Ok(Tailer {
            root: root.to_owned(),
            options,
            checkpoints: loaded.checkpoints,
            diagnostics: loaded.diagnostics,
            sealed_reported: BTreeSet::new(),
            sealed: BTreeSet::new(),
            registered: loaded.registered,
            archived: loaded.archived,
            committer: Some(committer),
            wal: None,
            read_buf: Vec::new(),
            gz_cursor: None,
            mode,
            bulk: false,
            shutdown,
            stats: Stats::default(),
            _lock: None,
        })
    }

    /// The SQLite sink's companions: the WAL thread and the writer lock.
    fn with_sqlite(mut self, wal: WalCheckpointer, lock: WriterLock) -> Tailer {
        self.wal = Some(wal);
        self._lock = Some(lock);
        self
    }
}

fn load_task_ids(conn: &Connection, db: &Path) -> Result<BTreeSet<String>> {
    load_ids(conn, db, "SELECT task_id FROM tasks")
}

fn load_ids(conn: &Connection, db: &Path, sql: &str) -> Result<BTreeSet<String>> {
    conn.prepare(sql)
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| Error::sqlite(db, "loading tasks", e))
}
