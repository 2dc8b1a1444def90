//! `tasklog prune --older-than AGE`: retention of sealed task folders.

use anyhow::{Context, Result};
use clap::Args;
use tasklog_writer::Writer;

use crate::cli::Format;
use crate::config::Config;
use crate::output::{self, Rows};
use crate::Outcome;

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove sealed tasks whose result.json is older than this (e.g. 30d, 12h, "2weeks").
    #[arg(long, value_name = "AGE")]
    pub older_than: String,
    /// List what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format [default: table on a terminal, jsonl otherwise]
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

/// `--older-than AGE` of `prune` and `compress` (and the `[retention]`
/// ages): one parser, one error message.
pub fn parse_age(age: &str) -> Result<std::time::Duration> {
    humantime::parse_duration(age).with_context(|| {
        format!("--older-than {age:?}: expected a duration such as 30d, 12h, 2weeks or 0s")
    })
}

pub fn run(config: &Config, args: PruneArgs) -> Result<Outcome> {
    let age = parse_age(&args.older_than)?;
    let rows = prune(config, age, args.dry_run)?;
    output::print(&rows, output::resolve(args.format))?;
    Ok(Outcome::Success)
}

/// Removes (or lists) the sealed tasks older than `age`; `watch`'s
/// `[retention] prune_after` calls it too.
pub fn prune(config: &Config, age: std::time::Duration, dry_run: bool) -> Result<Rows> {
    let writer = Writer::open(&config.root, config.writer.clone())?;
    let expired = writer.expired_tasks(age)?;
    if !dry_run && !config.db.to_string_lossy().contains("://") {
        // An archived task leaves its archive first, so no index keeps
        // rows of a folder that is gone (see archive.rs).
        let ids: Vec<String> = expired.iter().map(|t| t.task_id.clone()).collect();
        let mut by_month: std::collections::BTreeMap<tasklog_index::Month, Vec<String>> =
            Default::default();
        for (task, month) in tasklog_index::archived_among(&config.db, &ids)? {
            by_month.entry(month).or_default().push(task);
        }
        for (month, tasks) in by_month {
            tasklog_index::drop_archived(&config.db, &month, &tasks)?;
        }
    }
    let mut rows = Rows {
        columns: ["task_id", "sealed_at", "bytes", "action"]
            .map(String::from)
            .to_vec(),
        rows: Vec::new(),
    };
    for task in &expired {
        let action = if dry_run {
            "would remove"
        } else {
            match writer.remove_sealed(&task.task_id) {
                Ok(()) => "removed",
                // Changed since the listing (a folder swapped for a link, a
                // seal that is not a plain file): left alone, and the
                // other tasks are still pruned (docs/SECURITY.md).
                Err(
                    e @ (tasklog_writer::Error::Symlink { .. }
                    | tasklog_writer::Error::NotSealed { .. }),
                ) => {
                    tracing::warn!(task = %task.task_id, error = %e, "prune: skipped");
                    "skipped"
                }
                Err(e) => return Err(e.into()),
            }
        };
        rows.rows.push(vec![
            task.task_id.clone().into(),
            task.sealed_at.clone().into(),
            task.bytes.into(),
            action.into(),
        ]);
    }
    tracing::info!(tasks = expired.len(), dry_run, "prune");
    if expired.is_empty() {
        // Retention runs from cron: nothing to remove is success (exit 0),
        // said on stderr so that `prune && ...` chains keep going.
        tracing::info!("nothing is old enough to remove");
    }
    Ok(rows)
}
