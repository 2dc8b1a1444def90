//! `tasklog tasks`: the task list with status, times, model calls, tokens and cost.

use anyhow::Result;
use clap::Args;

use crate::cli::Format;
use crate::config::Config;
use crate::output;
use crate::rows;
use crate::time_arg;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct TasksArgs {
    /// Only tasks with this status (detected, active, completed, failed, ...).
    #[arg(long, value_name = "S")]
    pub status: Option<String>,
    /// Only tasks started at or after T (RFC 3339, YYYY-MM-DD, or 7d / 24h ago).
    #[arg(long, value_name = "T")]
    pub since: Option<String>,
    /// Only tasks started before T (same forms as --since).
    #[arg(long, value_name = "T")]
    pub until: Option<String>,
    /// Output format [default: table on a terminal, jsonl otherwise]
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Answer across the main database and every monthly archive (read-only; see docs/RETENTION.md).
    #[arg(long)]
    pub archives: bool,
}

pub fn run(config: &Config, args: TasksArgs) -> Result<Outcome> {
    let since = args
        .since
        .as_deref()
        .map(time_arg::parse_time)
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(time_arg::parse_time)
        .transpose()?;
    let rows = match rows::Index::open(config, args.archives)? {
        rows::Index::Sqlite(conn) => {
            let none: Option<&str> = None;
            rows::collect(
                &conn,
                tasklog_index::TASKS,
                (args.status, since, until, none, -1, 0),
            )?
        }
        rows::Index::Postgres(mut pg) => rows::pg_collect(
            &mut pg,
            crate::pg::questions::TASKS,
            &[args.status.as_deref(), since.as_deref(), until.as_deref()],
        )?,
    };
    if rows.rows.is_empty() {
        errln!("tasklog: no tasks match");
        return Ok(Outcome::NothingFound);
    }
    output::print(&rows, output::resolve(args.format))?;
    Ok(Outcome::Success)
}
