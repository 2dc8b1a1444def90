//! The indexer in the same process: `tasklog watch` on its own thread with
//! its own single-threaded runtime, so its synchronous reads and commits
//! never stall a request. When another process holds the database's writer
//! lock, there is no sidecar and the server only reads.
//!
//! The thread is a supervisor: when the watch loop fails (file descriptors
//! ran out, the disk filled, the database became unwritable) it records
//! why in [`Vitals`] (so `/healthz` answers 503 and `/metrics` shows
//! `tasklog_indexer_up 0`), waits (1 s, doubling up to 30 s) and opens the
//! index again. Reopening resumes from the committed offsets, so nothing
//! is lost or indexed twice.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tasklog_index::{IndexOptions, OpenSqlite, RunMode, Shutdown, Tailer};

use crate::error::Error;
use crate::vitals::Vitals;

/// First pause before a restart; it doubles after each failure in a row.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest pause between two restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How `stop` reaches the supervisor in any state: running (the current
/// loop's shutdown), or pausing before a restart (the condition variable).
#[derive(Debug, Default)]
struct Control {
    stopping: AtomicBool,
    current: Mutex<Option<Shutdown>>,
    wake: Condvar,
}

impl Control {
    /// Sleeps up to `pause`; true when a stop was asked meanwhile.
    fn pause(&self, pause: Duration) -> bool {
        let Ok(guard) = self.current.lock() else {
            return true;
        };
        let _ = self
            .wake
            .wait_timeout_while(guard, pause, |_| !self.stopping.load(Ordering::SeqCst));
        self.stopping.load(Ordering::SeqCst)
    }

    /// Makes `shutdown` the one `stop` requests; asks it at once when a
    /// stop came first.
    fn running(&self, shutdown: Shutdown) {
        if let Ok(mut current) = self.current.lock() {
            if self.stopping.load(Ordering::SeqCst) {
                shutdown.request();
            }
            *current = Some(shutdown);
        }
    }

    fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Ok(current) = self.current.lock() {
            if let Some(shutdown) = current.as_ref() {
                shutdown.request();
            }
        }
        self.wake.notify_all();
    }
}

/// A running in-process indexer.
#[derive(Debug)]
pub struct Sidecar {
    /// Ends the watch loop (which commits its open batch first, or rolls
    /// it back when the database is locked) or the pause before a restart.
    control: Arc<Control>,
    /// The supervisor's thread, joined on stop.
    thread: JoinHandle<()>,
}

impl Sidecar {
    /// Starts indexing `root` into `db`, or returns `None` when another
    /// indexer holds the database. Returns once the database is open and
    /// migrated, so readers can open it. `vitals` receives the indexer's
    /// state for `/healthz` and `/metrics`.
    pub fn start(
        root: PathBuf,
        db: PathBuf,
        options: IndexOptions,
        vitals: Arc<Vitals>,
    ) -> Result<Option<Sidecar>, Error> {
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let control = Arc::new(Control::default());
        let supervisor = Arc::clone(&control);
        let thread = std::thread::Builder::new()
            .name("tasklog-indexer".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(Some(Error::Sidecar(format!(
                            "starting its runtime: {e}"
                        )))));
                        return;
                    }
                };
                let tailer = match Tailer::open(&root, &db, options.clone(), RunMode::Watch) {
                    Ok(tailer) => tailer,
                    Err(e) => {
                        let _ = ready_tx.send(Err(match e {
                            tasklog_index::Error::AlreadyRunning { .. } => None,
                            e => Some(Error::Index(e)),
                        }));
                        return;
                    }
                };
                supervisor.running(tailer.shutdown());
                vitals.indexer_started();
                let _ = ready_tx.send(Ok(()));
                supervise(&runtime, tailer, &supervisor, &vitals, || {
                    Tailer::open(&root, &db, options.clone(), RunMode::Watch)
                });
            })
            .map_err(|e| Error::Sidecar(e.to_string()))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Some(Sidecar { control, thread })),
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
        self.control.stop();
        self.thread
            .join()
            .map_err(|_| Error::Sidecar("the thread panicked".into()))
    }
}

/// Runs the watch loop until a stop; restarts it with backoff after each
/// failure (`reopen` opens the index again).
fn supervise(
    runtime: &tokio::runtime::Runtime,
    first: Tailer,
    control: &Control,
    vitals: &Vitals,
    reopen: impl Fn() -> Result<Tailer, tasklog_index::Error>,
) {
    let mut tailer = Some(first);
    let mut backoff = FIRST_BACKOFF;
    loop {
        if let Some(t) = tailer.take() {
            match runtime.block_on(tasklog_index::watch(t)) {
                Ok(stats) if control.stopping.load(Ordering::SeqCst) => {
                    tracing::info!(records = stats.records, "in-process indexer stopped");
                    return;
                }
                Ok(_) => fail(vitals, "the watch loop ended by itself".into(), backoff),
                Err(e) => fail(vitals, e.to_string(), backoff),
            }
        }
        if control.pause(backoff) {
            return;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
        vitals.indexer_restarting();
        match reopen() {
            Ok(t) => {
                control.running(t.shutdown());
                vitals.indexer_started();
                tracing::info!(restarts = vitals.restarts(), "in-process indexer restarted");
                backoff = FIRST_BACKOFF;
                tailer = Some(t);
            }
            Err(e) => fail(vitals, format!("reopening: {e}"), backoff),
        }
    }
}

fn fail(vitals: &Vitals, why: String, backoff: Duration) {
    tracing::error!(error = %why, retry_in_ms = backoff.as_millis() as u64, "in-process indexer failed; serving what is indexed and restarting");
    vitals.indexer_failed(why);
}
