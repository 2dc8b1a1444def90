//! `tasklog append TASK STREAM [JSON]`.

use std::io::{BufRead, Read};

use anyhow::{Context, Result};
use clap::Args;
use tasklog_writer::{Durability, Writer};

use crate::config::Config;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct AppendArgs {
    /// Task id: the folder under the log root (created if missing).
    pub task: String,
    /// Stream name: the file STREAM.jsonl in the task folder.
    pub stream: String,
    /// One JSON object; when absent, one object per line is read from stdin.
    pub json: Option<String>,
    /// fdatasync each record before returning (fsync policy `per-call`).
    #[arg(long)]
    pub sync: bool,
}

pub fn run(config: &Config, args: AppendArgs) -> Result<Outcome> {
    let writer = Writer::open(&config.root, config.writer.clone())?;
    let task = writer.task(&args.task)?;
    // Validate the stream name before reading any input.
    tasklog_format::StreamName::new(&args.stream)?;
    let durability = if args.sync {
        Durability::Sync
    } else {
        Durability::Default
    };
    if let Some(json) = args.json {
        task.append_json(&args.stream, json.as_bytes(), durability)?;
        return Ok(Outcome::Success);
    }
    let limit = config.index.line_limit;
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut line = Vec::new();
    let mut line_no = 0u64;
    let mut appended = 0u64;
    loop {
        line.clear();
        // Bounded read: a huge line is refused without holding all of it.
        let n = (&mut input)
            .take(limit + 1)
            .read_until(b'\n', &mut line)
            .context("reading stdin")?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if line.len() as u64 > limit && line.last() != Some(&b'\n') {
            anyhow::bail!(
                "stdin line {line_no}: longer than the {limit}-byte line limit; nothing of it was written ({appended} earlier record(s) appended)"
            );
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        task.append_json(&args.stream, &line, durability)
            .with_context(|| {
                format!("stdin line {line_no} ({appended} earlier record(s) appended)")
            })?;
        appended += 1;
    }
    Ok(Outcome::Success)
}
