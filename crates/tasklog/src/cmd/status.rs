//! `tasklog status`.

use anyhow::Result;
use clap::Args;

use crate::cli::Format;
use crate::config::Config;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// `json` for scripts.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

pub fn run(config: &Config, args: StatusArgs) -> Result<Outcome> {
    let s = tasklog_index::status(&config.root, &config.db)?;
    if matches!(args.format, Some(Format::Json) | Some(Format::Jsonl)) {
        crate::output::print_json(&s)?;
        return Ok(Outcome::Success);
    }
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    println!("root:            {}", config.root.display());
    println!(
        "database:        {} (schema v{})",
        config.db.display(),
        s.schema_version
    );
    println!(
        "indexer running: {}",
        if s.indexer_running { "yes" } else { "no" }
    );
    println!("watch mode:      {}", opt(&s.watch_mode));
    println!(
        "watches:         {} watched, {} polled",
        s.watches.map_or("-".into(), |w| w.to_string()),
        s.polled_tasks.map_or("-".into(), |w| w.to_string())
    );
    println!("last commit:     {}", opt(&s.last_commit_at));
    println!("tasks:           {}", s.tasks);
    println!("records:         {}", s.records);
    println!("documents:       {}", s.documents);
    println!("quarantined:     {}", s.quarantined);
    println!(
        "lag:             {} bytes in {} task(s)",
        s.lag_bytes,
        s.lagging_tasks.len()
    );
    for t in s.lagging_tasks.iter().take(10) {
        println!("  {:>12} bytes  {}", t.lag_bytes, t.task_id);
    }
    Ok(Outcome::Success)
}
