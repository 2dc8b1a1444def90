//! `tasklog compress --older-than AGE`: gzip the streams of finished tasks.

use anyhow::Result;
use clap::Args;
use tasklog_writer::Writer;

use crate::cli::Format;
use crate::config::Config;
use crate::output::{self, Rows};
use crate::Outcome;

#[derive(Debug, Args)]
pub struct CompressArgs {
    /// Compress sealed tasks whose result.json is older than this (30d, 12h, 2weeks; 0s: every sealed task);
    /// each stream's own last write must be older too, and no process may hold it open for writing.
    #[arg(long, value_name = "AGE")]
    pub older_than: String,
    /// List what would be compressed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format [default: table on a terminal, jsonl otherwise]
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

/// What one run did, a row per stream: compressed, or left plain and why.
/// `age` is also each stream's own quiet time: a stream written within
/// `age` stays plain even when its task was sealed long ago (the same rule
/// for `[retention] compress_after`, which calls this).
pub fn compress(config: &Config, age: std::time::Duration, dry_run: bool) -> Result<Rows> {
    let writer = Writer::open(&config.root, config.writer.clone())?;
    let expired = writer.expired_tasks(age)?;
    let mut rows = Rows {
        columns: ["path", "bytes", "compressed_bytes", "action"]
            .map(String::from)
            .to_vec(),
        rows: Vec::new(),
    };
    let bar = crate::progress::bar(expired.len() as u64, crate::progress::ITEMS);
    let (mut before, mut after) = (0u64, 0u64);
    // In chunks, so the progress bar moves: each chunk scans `/proc` twice
    // for all of its tasks (`Writer::compress_sealed_many`).
    for chunk in expired.chunks(64) {
        let ids: Vec<&str> = chunk.iter().map(|t| t.task_id.as_str()).collect();
        let outcomes = if dry_run {
            ids.iter()
                .map(|id| (*id, writer.compress_sealed(id, age, true)))
                .collect()
        } else {
            writer.compress_sealed_many(&ids, age)
        };
        for (_, outcome) in outcomes {
            for s in outcome? {
                let action = match &s.skipped {
                    Some(reason) => format!("skipped: {reason}"),
                    None if dry_run => "would compress".to_owned(),
                    None => "compressed".to_owned(),
                };
                if s.skipped.is_none() {
                    before += s.bytes;
                    after += s.compressed_bytes;
                }
                rows.rows.push(vec![
                    s.path.into(),
                    s.bytes.into(),
                    s.compressed_bytes.into(),
                    action.into(),
                ]);
            }
        }
        if let Some(b) = &bar {
            b.inc(chunk.len() as u64);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    tracing::info!(
        tasks = expired.len(),
        streams = rows.rows.len(),
        bytes = before,
        compressed_bytes = after,
        dry_run,
        "compress"
    );
    Ok(rows)
}

pub fn run(config: &Config, args: CompressArgs) -> Result<Outcome> {
    let age = crate::cmd::prune::parse_age(&args.older_than)?;
    let rows = compress(config, age, args.dry_run)?;
    if rows.rows.is_empty() {
        // Like prune: nothing old enough is success, said on stderr.
        tracing::info!("no plain stream of a sealed task is old enough to compress");
    }
    output::print(&rows, output::resolve(args.format))?;
    Ok(Outcome::Success)
}
