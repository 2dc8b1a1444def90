//! `tasklog show TASK`: the whole timeline of one task in time order:
//! documents, every record, tool calls with durations, model calls with
//! tokens and cost, quarantined lines; errors are marked `!!`. The
//! timeline is the index's one question (`Questions::timeline`), the same
//! the server's task page shows.

use anyhow::Result;
use clap::Args;

use crate::cli::Format;
use crate::config::Config;
use crate::output;
use crate::rows::{self, Rows};
use crate::Outcome;

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The task id (its folder name), or a prefix of exactly one id.
    pub task: String,
    /// Include every record's and document's body.
    #[arg(long)]
    pub full: bool,
    /// Output format [default: table on a terminal, jsonl otherwise]
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

pub fn run(config: &Config, args: ShowArgs) -> Result<Outcome> {
    // On PostgreSQL: this host's task (or --host-id's).
    let mut index = rows::open_for_task(config)?;
    let Some(task) = rows::resolve_task(index.as_mut(), &args.task)? else {
        rows::unknown_task(&args.task);
        return Ok(Outcome::NothingFound);
    };
    let timeline = index.timeline(&task, None)?;
    if timeline.rows.is_empty() {
        errln!("tasklog: task {task:?} has no records or documents yet");
        return Ok(Outcome::NothingFound);
    }
    output::print(&shown(timeline, args.full), output::resolve(args.format))?;
    Ok(Outcome::Success)
}

/// The timeline as `show` prints it: a `!!` column first for errors, the
/// ids left out (they are the index's, not the files'), the bodies only
/// with --full.
fn shown(mut timeline: Rows, full: bool) -> Rows {
    timeline.drop_column("record_id");
    timeline.drop_column("span_id");
    if !full {
        timeline.drop_column("body");
    }
    let error = timeline.column("error");
    timeline.columns.insert(0, "!".to_owned());
    for row in &mut timeline.rows {
        let failed = error.is_some_and(|i| !row[i].is_null());
        row.insert(0, if failed { "!!" } else { "" }.into());
    }
    timeline
}
