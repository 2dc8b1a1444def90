//! `tasklog status`.

use anyhow::Result;
use clap::Args;

use crate::cli::ReportFormat;
use crate::config::Config;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// `json` for scripts.
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
}

pub fn run(config: &Config, args: StatusArgs) -> Result<Outcome> {
    let s = tasklog_index::status(&config.root, &config.db)?;
    if args.format == Some(ReportFormat::Json) {
        crate::output::print_json(&s)?;
        return Ok(Outcome::Success);
    }
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    outln!("root:            {}", config.root.display());
    outln!(
        "database:        {} (schema v{})",
        config.db.display(),
        s.schema_version
    );
    outln!(
        "indexer running: {}",
        if s.indexer_running { "yes" } else { "no" }
    );
    outln!("watch mode:      {}", opt(&s.watch_mode));
    outln!(
        "watches:         {} watched, {} polled",
        s.watches.map_or("-".into(), |w| w.to_string()),
        s.polled_tasks.map_or("-".into(), |w| w.to_string())
    );
    outln!("last commit:     {}", opt(&s.last_commit_at));
    outln!("tasks:           {}", s.tasks);
    outln!("records:         {}", s.records);
    outln!("documents:       {}", s.documents);
    outln!("quarantined:     {} line(s)", s.quarantined);
    outln!("diagnostics:     {} open", s.diagnostics.len());
    for d in s.diagnostics.iter().take(10) {
        outln!("  {}: {}", d.path, d.reason);
    }
    outln!(
        "wal:             {} bytes{}",
        s.wal_bytes,
        match &s.wal_reader_since {
            Some(since) =>
                format!(", held by a reader since {since} (it grows until that reader ends)"),
            None => ", no reader holding it".into(),
        }
    );
    outln!(
        "lag:             {} bytes in {} task(s)",
        s.lag_bytes,
        s.lagging_tasks.len()
    );
    for t in s.lagging_tasks.iter().take(10) {
        outln!("  {:>12} bytes  {}", t.lag_bytes, t.task_id);
    }
    Ok(Outcome::Success)
}
