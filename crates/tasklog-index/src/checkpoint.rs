//! WAL checkpoints on their own thread and connection.
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

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};

/// How often the thread checkpoints.
const INTERVAL: Duration = Duration::from_millis(100);

/// The writer's own automatic checkpoint threshold (pages) while this
/// thread runs: about 64 MiB of WAL at 4 KiB pages, reached only when the
/// background checkpoints cannot keep up.
pub(crate) const WRITER_BACKSTOP_PAGES: i64 = 16_384;

/// Handle to the checkpointing thread; [`Checkpointer::finish`] stops it.
pub(crate) struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a second connection to `db` and starts checkpointing it.
    pub(crate) fn spawn(db: &Path) -> Result<Checkpointer> {
        let conn = Connection::open_with_flags(
            db,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| Error::sqlite(db, "opening the checkpoint connection", e))?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let thread_stop = Arc::clone(&stop);
        let path = db.to_owned();
        let thread = std::thread::Builder::new()
            .name("tasklog-checkpoint".into())
            .spawn(move || run(conn, &path, &thread_stop))
            .map_err(|e| Error::io(db, "spawning checkpoint thread", e))?;
        Ok(Checkpointer {
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

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn run(conn: Connection, path: &Path, stop: &(Mutex<bool>, Condvar)) {
    let (flag, wake) = stop;
    let mut stopped = flag.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let done = *stopped;
        drop(stopped);
        checkpoint(&conn, path);
        if done {
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

/// One PASSIVE checkpoint. A failure is only logged: the next one, or the
/// writer's backstop, copies the same pages.
fn checkpoint(conn: &Connection, path: &Path) {
    let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    });
    match result {
        Ok((wal_pages, copied)) => {
            tracing::trace!(wal_pages, copied, "checkpointed");
        }
        Err(e) => tracing::debug!(path = %path.display(), error = %e, "checkpoint failed"),
    }
}
