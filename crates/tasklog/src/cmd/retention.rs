//! `[retention]` in `tasklog watch`: compress, archive and prune once when
//! the sidecar starts and then once a day (`every`), so months of operation
//! need no cron (docs/RETENTION.md).
//!
//! Compressing and pruning only touch task folders, which the running
//! sidecar follows like any change. Archiving moves index rows and takes
//! the database's writer lock, which the sidecar holds: so the daily pass
//! stops the sidecar's loop (as SIGTERM would: the open batch is read
//! again), runs, and `watch` opens the sidecar again. A failing step is
//! logged and the sidecar carries on: retention must not stop indexing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tasklog_index::Shutdown;

use crate::config::Config;

/// One pass: compress, then archive, then prune, each when configured.
pub fn apply(config: &Config) {
    let r = &config.retention;
    if let Some(age) = r.compress_after {
        match crate::cmd::compress::compress(config, age, false) {
            Ok(rows) => tracing::info!(streams = rows.rows.len(), "retention: compressed"),
            Err(e) => tracing::error!("retention: compress failed: {e:#}"),
        }
    }
    if let Some(age) = r.archive_after {
        if let Err(e) = archive(config, age) {
            tracing::error!("retention: archive failed: {e:#}");
        }
    }
    if let Some(age) = r.prune_after {
        match crate::cmd::prune::prune(config, age, false) {
            Ok(rows) => tracing::info!(tasks = rows.rows.len(), "retention: pruned"),
            Err(e) => tracing::error!("retention: prune failed: {e:#}"),
        }
    }
}

/// Archives every month that ended more than `age` ago: the months before
/// the one `now - age` falls in.
fn archive(config: &Config, age: Duration) -> anyhow::Result<()> {
    crate::cmd::archive::require_sqlite(config, "watch ([retention] archive_after)")?;
    if !config.db.exists() {
        return Ok(());
    }
    let cutoff = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::try_from(age)?)?
        .strftime("%Y-%m")
        .to_string();
    let before = tasklog_index::Month::parse(&cutoff)?;
    for month in tasklog_index::months_to_archive(&config.db, &before)? {
        let report = tasklog_index::archive_month(&config.db, &month, &mut |_, _| {})?;
        tracing::info!(month = %month, tasks = report.tasks, records = report.records, "retention: archived");
    }
    Ok(())
}

/// The daily timer and who it stops: `watch` points it at each sidecar it
/// opens; when a pass is due it stops that sidecar's loop and says so.
#[derive(Clone, Default)]
pub struct Timer {
    /// The running sidecar's stop handle; a std mutex (held for a swap).
    current: Arc<Mutex<Option<Shutdown>>>,
    /// Set when the timer (not a signal) stopped the loop.
    due: Arc<AtomicBool>,
}

impl Timer {
    /// Starts the thread that wakes once per `every` (`[retention] every`,
    /// a day by default).
    pub fn start(every: Duration) -> anyhow::Result<Timer> {
        let timer = Timer::default();
        let t = timer.clone();
        std::thread::Builder::new()
            .name("tasklog-retention".into())
            .spawn(move || loop {
                std::thread::sleep(every);
                t.due.store(true, Ordering::SeqCst);
                if let Some(s) = t.current.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                    tracing::info!("retention: daily pass due; pausing the sidecar");
                    s.request();
                }
            })?;
        Ok(timer)
    }

    /// The sidecar the next pass stops.
    pub fn follow(&self, shutdown: Shutdown) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(shutdown);
    }

    /// Whether the loop stopped for a pass (and clears it).
    pub fn take_due(&self) -> bool {
        self.due.swap(false, Ordering::SeqCst)
    }

    /// Forwards a stop request on `stop` (what the signal thread sets,
    /// once for the whole run) to whichever sidecar runs now.
    pub fn relay(&self, stop: Shutdown) -> anyhow::Result<()> {
        let current = Arc::clone(&self.current);
        std::thread::Builder::new()
            .name("tasklog-stop-relay".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_millis(20));
                if stop.is_requested() {
                    if let Some(s) = current.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                        s.request();
                    }
                }
            })?;
        Ok(())
    }
}
