//! `tasklog put TASK DOC [JSON]`.

use std::io::Read;

use anyhow::{Context, Result};
use clap::Args;
use tasklog_writer::{Durability, Writer};

use crate::config::Config;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct PutArgs {
    /// Task id: the folder under the log root (created if missing).
    pub task: String,
    /// Document name: the file DOC.json in the task folder.
    pub doc: String,
    /// The whole document (any JSON value); read from stdin when absent. Kept byte for byte.
    pub json: Option<String>,
    /// fsync the document and its folder (fsync policy `per-call`).
    #[arg(long)]
    pub sync: bool,
}

pub fn run(config: &Config, args: PutArgs) -> Result<Outcome> {
    let writer = Writer::open(&config.root, config.writer.clone())?;
    let task = writer.task(&args.task)?;
    tasklog_format::DocName::new(&args.doc)?;
    let durability = if args.sync {
        Durability::Sync
    } else {
        Durability::Default
    };
    let bytes = match args.json {
        Some(json) => json.into_bytes(),
        None => {
            let limit = config.index.line_limit;
            let mut bytes = Vec::new();
            std::io::stdin()
                .lock()
                .take(limit + 1)
                .read_to_end(&mut bytes)
                .context("reading stdin")?;
            if bytes.len() as u64 > limit {
                anyhow::bail!(
                    "document on stdin is larger than the {limit}-byte limit; nothing was written"
                );
            }
            bytes
        }
    };
    task.put_json(&args.doc, &bytes, durability)?;
    Ok(Outcome::Success)
}
