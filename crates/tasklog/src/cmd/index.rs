//! `tasklog index`: reconcile once and exit.

use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use tasklog_index::{RunMode, Shutdown};

use crate::cli::ReportFormat;
use crate::config::Config;
use crate::Outcome;

/// Backfills larger than this drop the secondary indexes and build them
/// once at the end (see `Tailer::begin_bulk`).
const BULK_THRESHOLD: u64 = 32 << 20;

#[derive(Debug, Args)]
pub struct IndexArgs {
    /// Print a summary: one line of text, or JSON for scripts; nothing by default.
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
    #[command(flatten)]
    pub sink: crate::cmd::SinkArgs,
}

pub fn run(config: &Config, args: IndexArgs) -> Result<Outcome> {
    let started = Instant::now();
    let mut indexer =
        match crate::cmd::open_tailer(config, &args.sink, RunMode::Once, Shutdown::new()) {
            Ok(indexer) => indexer,
            Err(e) if is_already_running(&e) => return wait_for_running_sidecar(config, e),
            Err(e) => return Err(e),
        };
    let total = indexer.pending_bytes();
    if total >= BULK_THRESHOLD {
        tracing::info!(
            bytes = total,
            "large backfill: building secondary indexes once at the end"
        );
        indexer.begin_bulk()?;
    }
    let bar = crate::progress::bar(total, crate::progress::BYTES);
    indexer.reconcile_all(&mut |stats| {
        if let Some(bar) = &bar {
            bar.set_position(stats.bytes);
            let secs = started.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!(
                "{} records, {:.0} records/s",
                stats.records,
                stats.records as f64 / secs
            ));
        }
    })?;
    let stats = indexer.finish()?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let elapsed = started.elapsed();
    tracing::info!(
        records = stats.records,
        quarantined = stats.quarantined,
        seconds = elapsed.as_secs_f64(),
        "index caught up"
    );
    match args.format {
        Some(ReportFormat::Json) => {
            let mut summary = serde_json::to_value(&stats)?;
            summary["seconds"] = elapsed.as_secs_f64().into();
            summary["records_per_second"] = (stats.records as f64
                / elapsed.as_secs_f64().max(1e-9))
            .round()
            .into();
            summary["db"] = crate::cmd::shipping_into(config, &args.sink)?.into();
            summary["root"] = config.root.display().to_string().into();
            crate::output::print_json(&summary)?;
        }
        Some(ReportFormat::Text) => {
            outln!(
                "{} records, {} quarantined, {} documents, {} task folders in {:.2}s",
                stats.records,
                stats.quarantined,
                stats.documents,
                stats.tasks,
                elapsed.as_secs_f64()
            );
        }
        None => {}
    }
    Ok(Outcome::Success)
}

/// How long `index` waits for a running sidecar to catch up.
const CATCH_UP_WAIT: Duration = Duration::from_secs(60);

/// How long `index` waits for a lock holder's index to become readable.
const UNREADABLE_GRACE: Duration = Duration::from_secs(10);

fn is_already_running(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<tasklog_index::Error>(),
        Some(tasklog_index::Error::AlreadyRunning { .. })
    )
}

/// `index` beside a running `watch` (or `serve`): that sidecar owns the
/// database and indexes the same files, so "catch up once" means waiting
/// until it has read everything on disk now, not failing (README's "Try
/// it" runs `index` beside `watch`).
fn wait_for_running_sidecar(config: &Config, held: anyhow::Error) -> Result<Outcome> {
    let started = Instant::now();
    let deadline = started + CATCH_UP_WAIT;
    loop {
        let status = match tasklog_index::status(&config.root, &config.db) {
            Ok(status) => status,
            // A sidecar that has just started holds the lock while it
            // creates or migrates the schema, so the index is briefly
            // unreadable; past that grace the holder is no sidecar (or is
            // stuck): report the lock as it is, with why it was unreadable.
            Err(e) if started.elapsed() >= UNREADABLE_GRACE => {
                return Err(held.context(format!("the index is not readable: {e:#}")));
            }
            Err(_) => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if status.lag_bytes == 0 {
            tracing::info!(
                target: "tasklog::start",
                "a running sidecar keeps {} current; it has indexed everything on disk",
                config.db_shown()
            );
            return Ok(Outcome::Success);
        }
        if Instant::now() >= deadline {
            return Err(held.context(format!(
                "the running sidecar still has {} bytes to index after {}s (see `tasklog status`)",
                status.lag_bytes,
                CATCH_UP_WAIT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
