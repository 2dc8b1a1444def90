//! `tasklog unarchive --month YYYY-MM`: move a month's archived tasks back
//! into the index.

use anyhow::Result;
use clap::Args;
use tasklog_index::Month;

use crate::cli::ReportFormat;
use crate::config::Config;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct UnarchiveArgs {
    /// The archived month, written YYYY-MM.
    #[arg(long, value_name = "YYYY-MM")]
    pub month: String,
    /// `json` prints the report as one JSON document.
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
}

pub fn run(config: &Config, args: UnarchiveArgs) -> Result<Outcome> {
    crate::cmd::archive::require_sqlite(config, "unarchive")?;
    let month = Month::parse(&args.month)?;
    let (bar, mut step) = crate::cmd::archive::progress();
    let report = tasklog_index::unarchive_month(&config.db, &month, &mut step)
        .map_err(|e| crate::cmd::archive::while_indexing(e, "unarchive"))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    crate::cmd::archive::print(&report, args.format, "moved back from")?;
    Ok(Outcome::Success)
}
