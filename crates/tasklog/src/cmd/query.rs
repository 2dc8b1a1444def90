//! `tasklog query SQL`: read-only SQL, enforced by SQLite.

use anyhow::Result;
use clap::Args;

use crate::cli::Format;
use crate::config::Config;
use crate::output;
use crate::rows;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The SQL to run (one statement). Writes, ATTACH and state-changing PRAGMAs fail.
    pub sql: String,
    /// Output format [default: table on a terminal, jsonl otherwise]
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Answer across the main database and every monthly archive (read-only; see docs/RETENTION.md).
    #[arg(long)]
    pub archives: bool,
}

pub fn run(config: &Config, args: QueryArgs) -> Result<Outcome> {
    let conn = crate::cmd::archive::open_for_queries(config, args.archives)?;
    let rows = rows::collect(&conn, &args.sql, [])?;
    let found = !rows.rows.is_empty();
    output::print(&rows, output::resolve(args.format))?;
    Ok(if found {
        Outcome::Success
    } else {
        Outcome::NothingFound
    })
}
