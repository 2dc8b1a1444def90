//! WAL upkeep: checkpoints and truncation on their own thread and
//! connection. (The `files` table holds the other kind of checkpoint, the
//! byte offsets of the indexer; see `files.rs`.)
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses the
//! threshold, on the committer thread: copying WAL pages into the database
//! then delays that commit (and every record behind it) and keeps the
//! second core idle. Here a thread with its own connection runs a PASSIVE
//! checkpoint every [`INTERVAL`]; PASSIVE never blocks the writer or a
//! reader, it copies what it can. The writer keeps a high automatic
//! threshold only as a backstop, should this thread fall behind.
//!
//! Checkpoints move pages that are already committed: whether one runs, is
//! interrupted or fails changes nothing a reader sees and nothing about
//! exactly-once.
//!
//! A reader that holds a read transaction pins the WAL: frames after its
//! snapshot cannot be copied, and the log grows past them. Once the reader
//! ends, a PASSIVE checkpoint copies everything, but the file keeps its
//! size. So when a checkpoint finds the whole log copied and the file above
//! [`WAL_SIZE_LIMIT`], this thread truncates it (`TRUNCATE`, never waiting:
//! if the writer or a reader is busy it tries again next tick). A frame
//! that stays uncopied for [`PIN_AFTER`] means a reader pins the WAL; the
//! thread records since when in `indexer_state` (`wal_reader_since`), which
//! `tasklog status` shows.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::db::WAL_SIZE_LIMIT;
use crate::state;
use tasklog_tail::state::StateKey;
use tasklog_tail::{Error, Result};

/// How often the thread checkpoints.
const INTERVAL: Duration = Duration::from_millis(100);

/// The writer's own automatic checkpoint threshold (pages) while this
/// thread runs: about 64 MiB of WAL at 4 KiB pages, reached only when the
/// background checkpoints cannot keep up.
pub(crate) const WRITER_BACKSTOP_PAGES: i64 = 16_384;

/// How long a committed frame may stay uncopied before the WAL counts as
/// pinned by a reader (shorter waits are ordinary reads overlapping commits).
const PIN_AFTER: Duration = Duration::from_secs(1);

/// How long the thread waits for the write lock to record its state; the
/// committer holds it for one batch at most.
const STATE_BUSY: Duration = Duration::from_millis(50);

/// Handle to the checkpointing thread; [`WalCheckpointer::finish`] stops it.
pub(crate) struct WalCheckpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl WalCheckpointer {
    /// Opens a second connection to `db` and starts checkpointing it.
    pub(crate) fn spawn(db: &Path) -> Result<WalCheckpointer> {
        let conn = Connection::open_with_flags(
            db,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| crate::error::sqlite_error(db, "opening the checkpoint connection", e))?;
        // This connection may be the last to close: it too keeps the WAL files.
        crate::db::keep_wal_files(&conn, db)?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let thread_stop = Arc::clone(&stop);
        let path = db.to_owned();
        let thread = std::thread::Builder::new()
            .name("tasklog-checkpoint".into())
            .spawn(move || run(conn, &path, &thread_stop))
            .map_err(|e| Error::io(db, "spawning checkpoint thread", e))?;
        Ok(WalCheckpointer {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread after one last checkpoint.
    pub(crate) fn finish(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let (flag, wake) = &*self.stop;
        *flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for WalCheckpointer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn run(conn: Connection, path: &Path, stop: &(Mutex<bool>, Condvar)) {
    let (flag, wake) = stop;
    let mut health = WalHealth::new(path);
    let mut stopped = flag.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let done = *stopped;
        drop(stopped);
        if let Some(progress) = checkpoint(&conn, path) {
            health.observe(&conn, progress);
        }
        if done {
            health.forget(&conn);
            return;
        }
        stopped = flag.lock().unwrap_or_else(|p| p.into_inner());
        if !*stopped {
            stopped = wake
                .wait_timeout(stopped, INTERVAL)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// Frames in the WAL and frames copied into the database, after one checkpoint.
#[derive(Debug, Clone, Copy)]
struct Progress {
    log: i64,
    copied: i64,
}

/// One PASSIVE checkpoint. A failure is only logged: the next one, or the
/// writer's backstop, copies the same pages.
fn checkpoint(conn: &Connection, path: &Path) -> Option<Progress> {
    let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok(Progress {
            log: r.get(1)?,
            copied: r.get(2)?,
        })
    });
    match result {
        Ok(p) => {
            tracing::trace!(wal_pages = p.log, copied = p.copied, "checkpointed");
            Some(p)
        }
        Err(e) => {
            tracing::debug!(path = %path.display(), error = %e, "checkpoint failed");
            None
        }
    }
}

/// What the thread knows about the WAL between ticks.
struct WalHealth {
    wal: std::path::PathBuf,
    /// The oldest uncopied state seen: when, and the log length then. Reset
    /// whenever the frames of that moment have been copied since.
    behind: Option<(Instant, i64, String)>,
    /// What `indexer_state` says now (`None`: not written yet).
    recorded: Option<Option<String>>,
    /// A reader pinned the WAL since the last truncation: the file grew
    /// past what the indexer's own commits need.
    grown_by_reader: bool,
}

impl WalHealth {
    fn new(db: &Path) -> WalHealth {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        WalHealth {
            wal: wal.into(),
            behind: None,
            recorded: None,
            grown_by_reader: false,
        }
    }

    fn observe(&mut self, conn: &Connection, p: Progress) {
        let pinned_since = if p.copied >= p.log {
            self.behind = None;
            self.truncate_if_large(conn);
            None
        } else {
            let fresh = || Some((Instant::now(), p.log, tasklog_format::now_rfc3339()));
            match self.behind.take() {
                // The frames of that moment were copied since (or the log
                // was reset): no reader held them; start watching anew.
                Some((_, log_then, _)) if p.copied >= log_then || p.log < log_then => {
                    self.behind = fresh();
                    None
                }
                Some((at, log_then, since)) => {
                    let pinned = (at.elapsed() >= PIN_AFTER).then(|| since.clone());
                    self.behind = Some((at, log_then, since));
                    pinned
                }
                None => {
                    self.behind = fresh();
                    None
                }
            }
        };
        self.grown_by_reader |= pinned_since.is_some();
        self.record(conn, pinned_since);
    }

    /// The whole log is copied: a WAL grown while a reader pinned it goes
    /// back to zero bytes. Never waits: a busy writer or a reader that
    /// still uses the log makes it return at once, and the next tick retries.
    ///
    /// Only after a reader pinned the log: a TRUNCATE takes the write lock
    /// and syncs the database, and a WAL cut and grown again under a
    /// steady load doubled the p99 of write → visible (bench_freshness:
    /// 31 -> 66 ms). Without a pin the file keeps the size the load needs
    /// (bounded by the writer's backstop checkpoint and `journal_size_limit`).
    fn truncate_if_large(&mut self, conn: &Connection) {
        if !self.grown_by_reader {
            return; // no stat either: this runs every tick
        }
        let size = std::fs::metadata(&self.wal).map_or(0, |m| m.len());
        if size <= WAL_SIZE_LIMIT as u64 {
            self.grown_by_reader = false;
            return;
        }
        let _ = conn.busy_timeout(Duration::ZERO);
        match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            r.get::<_, i64>(0)
        }) {
            Ok(0) => {
                self.grown_by_reader = false;
                tracing::debug!(bytes = size, "WAL truncated after readers let go");
            }
            Ok(_) => tracing::trace!("WAL truncation deferred: busy"),
            Err(e) => tracing::trace!(error = %e, "WAL truncation deferred"),
        }
    }

    /// Writes `wal_reader_since` when it changes. A busy write lock only
    /// defers it to the next tick.
    fn record(&mut self, conn: &Connection, since: Option<String>) {
        if self.recorded.as_ref() == Some(&since) {
            return;
        }
        let _ = conn.busy_timeout(STATE_BUSY);
        let result = match &since {
            Some(at) => state::set(conn, StateKey::WalReaderSince, at),
            None => state::delete(conn, StateKey::WalReaderSince),
        };
        match result {
            Ok(_) => {
                if let Some(at) = &since {
                    tracing::warn!(since = %at, "a reader has held a read transaction for over a second; the WAL grows until it ends");
                }
                self.recorded = Some(since);
            }
            Err(e) => tracing::trace!(error = %e, "recording WAL state deferred"),
        }
    }

    /// On the way out nobody checkpoints any more: the state would go stale.
    fn forget(&mut self, conn: &Connection) {
        self.record(conn, None);
    }
}
