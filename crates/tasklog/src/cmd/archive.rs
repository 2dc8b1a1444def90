//! `tasklog archive --month YYYY-MM`: move a month's finished tasks out of
//! the index into its monthly archive database (see docs/RETENTION.md).

use anyhow::Result;
use clap::Args;
use tasklog_index::{Month, MoveReport};

use crate::cli::ReportFormat;
use crate::config::Config;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// The month (UTC) the tasks finished in, written YYYY-MM.
    #[arg(long, value_name = "YYYY-MM")]
    pub month: String,
    /// `json` prints the report as one JSON document.
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
}

/// Archives live beside a SQLite file: a server URL has no "beside".
pub fn require_sqlite(config: &Config, command: &str) -> Result<()> {
    crate::rows::require(config, tasklog_index::Capability::Archives, command)
}

/// A progress bar over tasks moved, at a terminal (`progress.rs`).
pub fn progress() -> (Option<indicatif::ProgressBar>, impl FnMut(u64, u64)) {
    let bar = crate::progress::bar(0, crate::progress::ITEMS);
    let handle = bar.clone();
    (bar, move |done, total| {
        if let Some(b) = &handle {
            b.set_length(total);
            b.set_position(done);
        }
    })
}

/// A move needs the database's writer lock: when a sidecar holds it, says
/// what to do instead of only that the lock is held.
pub fn while_indexing(e: tasklog_index::Error, command: &str) -> anyhow::Error {
    match e {
        tasklog_index::Error::AlreadyRunning { .. } => anyhow::Error::new(e).context(format!(
            "tasklog {command} moves index rows and needs the writer lock a running sidecar holds: stop `tasklog watch` (or `serve`) first, or set `[retention] archive_after` so that watch archives in its daily pass (docs/RETENTION.md)"
        )),
        e => e.into(),
    }
}

pub fn print(report: &MoveReport, format: Option<ReportFormat>, verb: &str) -> Result<()> {
    if format == Some(ReportFormat::Json) {
        crate::output::print_json(report)?;
    } else {
        outln!(
            "{}: {} task(s), {} record(s) {verb} {}",
            report.month,
            report.tasks,
            report.records,
            report.archive.display()
        );
    }
    Ok(())
}

pub fn run(config: &Config, args: ArchiveArgs) -> Result<Outcome> {
    require_sqlite(config, "archive")?;
    let month = Month::parse(&args.month)?;
    let (bar, mut step) = progress();
    let report = tasklog_index::archive_month(&config.db, &month, &mut step)
        .map_err(|e| while_indexing(e, "archive"))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    print(&report, args.format, "moved to")?;
    Ok(Outcome::Success)
}
