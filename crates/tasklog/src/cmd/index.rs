//! `tasklog index`: reconcile once and exit.

use std::time::Instant;

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
    let mut indexer = crate::cmd::open_tailer(config, &args.sink, RunMode::Once, Shutdown::new())?;
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
            summary["db"] = match config.sink_url(args.sink.sink.as_deref()) {
                Some(url) => config.pg_target(url)?.display().into(),
                None => config.db_shown().into(),
            };
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
