//! `tasklog query SQL`: read-only SQL, enforced by SQLite (or by a READ ONLY
//! transaction on PostgreSQL).

use anyhow::Result;
use clap::Args;

use crate::cli::Format;
use crate::config::Config;
use crate::output;
use crate::rows;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The SQL to run (one statement). Writes, ATTACH and state-changing PRAGMAs fail;
    /// on PostgreSQL it runs in a READ ONLY transaction.
    pub sql: String,
    /// Output format [default: table on a terminal, jsonl otherwise]
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Answer across the main database and every monthly archive (read-only; see docs/RETENTION.md).
    #[arg(long)]
    pub archives: bool,
}

pub fn run(config: &Config, args: QueryArgs) -> Result<Outcome> {
    // SQLite: a read-only connection with an authorizer; PostgreSQL: a
    // READ ONLY transaction, one statement.
    let rows = rows::open(config, args.archives)?.query(&args.sql)?;
    let found = !rows.rows.is_empty();
    output::print(&rows, output::resolve(args.format))?;
    Ok(if found {
        Outcome::Success
    } else {
        Outcome::NothingFound
    })
}
