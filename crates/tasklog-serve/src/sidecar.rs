//! The indexer in the same process: `tasklog watch` on its own thread with
//! its own single-threaded runtime, so its synchronous reads and commits
//! never stall a request. When another process holds the database's writer
//! lock, there is no sidecar and the server only reads.

use std::path::PathBuf;
use std::thread::JoinHandle;

use tasklog_index::{IndexOptions, OpenSqlite, RunMode, Shutdown, Tailer};

use crate::error::Error;

/// A running in-process indexer.
#[derive(Debug)]
pub struct Sidecar {
    /// Ends the watch loop (which commits its open batch first, or rolls
    /// it back when the database is locked); it reaches the loop in any
    /// state (see `tasklog_index::Shutdown`).
    stop: Shutdown,
    /// The indexer's thread, joined on stop.
    thread: JoinHandle<()>,
}

impl Sidecar {
    /// Starts indexing `root` into `db`, or returns `None` when another
    /// indexer holds the database. Returns once the database is open and
    /// migrated, so readers can open it.
    pub fn start(
        root: PathBuf,
        db: PathBuf,
        options: IndexOptions,
    ) -> Result<Option<Sidecar>, Error> {
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("tasklog-indexer".into())
            .spawn(move || {
                let tailer = match Tailer::open(&root, &db, options, RunMode::Watch) {
                    Ok(tailer) => tailer,
                    Err(e) => {
                        let _ = ready_tx.send(Err(match e {
                            tasklog_index::Error::AlreadyRunning { .. } => None,
                            e => Some(Error::Index(e)),
                        }));
                        return;
                    }
                };
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(Some(Error::Sidecar(format!("starting its runtime: {e}")))));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(tailer.shutdown()));
                match runtime.block_on(tasklog_index::watch(tailer)) {
                    Ok(stats) => tracing::info!(records = stats.records, "in-process indexer stopped"),
                    Err(e) => tracing::error!(error = %e, "in-process indexer failed; serving what is indexed"),
                }
            })
            .map_err(|e| Error::Sidecar(e.to_string()))?;
        match ready_rx.recv() {
            Ok(Ok(stop)) => Ok(Some(Sidecar { stop, thread })),
            Ok(Err(None)) => {
                let _ = thread.join();
                Ok(None)
            }
            Ok(Err(Some(e))) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(Error::Sidecar(
                "the thread ended before the database opened".into(),
            )),
        }
    }

    /// Stops the loop, lets it commit, and waits for the thread.
    pub fn stop(self) -> Result<(), Error> {
        self.stop.request();
        self.thread
            .join()
            .map_err(|_| Error::Sidecar("the thread panicked".into()))
    }
}
