//! `tasklog status`.

use anyhow::Result;
use clap::Args;

use tasklog_index::StatusReport;

use crate::cli::ReportFormat;
use crate::cmd::followers;
use crate::config::Config;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// `json` for scripts.
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
}

// Without the `postgres` feature the report has one variant.
#[cfg_attr(
    not(feature = "postgres"),
    allow(clippy::infallible_destructuring_match)
)]
pub fn run(config: &Config, args: StatusArgs) -> Result<Outcome> {
    let s = match tasklog_index::store_status(&config.root, &config.db, config.host_id.as_deref())?
    {
        StatusReport::Sqlite(s) => s,
        // The two reports differ in shape (one file and its WAL; many hosts).
        #[cfg(feature = "postgres")]
        StatusReport::Postgres(s) => return postgres(config, s, args.format),
    };
    if args.format == Some(ReportFormat::Json) {
        let value = crate::cmd::alerts::with_destinations(config, &s)?;
        crate::output::print_json(&followers::with_followers(&config.root, value))?;
        return Ok(Outcome::Success);
    }
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    outln!("root:            {}", config.root.display());
    outln!(
        "database:        {} (schema v{})",
        config.db_shown(),
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
    crate::cmd::alerts::print_destinations(config)?;
    followers::print(&config.root)?;
    Ok(Outcome::Success)
}

/// The status of a shared PostgreSQL index: every host, and this host's
/// lag. An unreachable server is reported, then exit 2.
#[cfg(feature = "postgres")]
fn postgres(
    config: &Config,
    s: tasklog_index::PgStatus,
    format: Option<ReportFormat>,
) -> Result<Outcome> {
    if format == Some(ReportFormat::Json) {
        let value = crate::cmd::alerts::with_destinations(config, &s)?;
        crate::output::print_json(&followers::with_followers(&config.root, value))?;
    } else {
        outln!("root:            {}", config.root.display());
        match (&s.error, s.reachable) {
            (None, _) => outln!(
                "database:        {} (PostgreSQL, schema v{})",
                s.server,
                s.schema_version.unwrap_or(0)
            ),
            (Some(e), true) => outln!("database:        {} (PostgreSQL): {e}", s.server),
            (Some(e), false) => outln!(
                "database:        {} (PostgreSQL): unreachable: {e}",
                s.server
            ),
        }
        outln!("this host:       {}", s.local_host);
        for h in &s.hosts {
            outln!(
                "host {}: sidecar {}, last commit {}, {} tasks, {} records, {} quarantined, {} diagnostics open",
                h.host_id,
                if h.sidecar_connected { "connected" } else { "not connected" },
                h.last_commit_at.as_deref().unwrap_or("-"),
                h.tasks,
                h.records,
                h.quarantined,
                h.open_diagnostics
            );
        }
        match s.lag_bytes {
            Some(bytes) => outln!(
                "lag:             {bytes} bytes in {} task(s)",
                s.lagging_tasks.len()
            ),
            None => outln!("lag:             unknown (the files keep growing; shipped when the server returns)"),
        }
        for t in s.lagging_tasks.iter().take(10) {
            outln!("  {:>12} bytes  {}", t.lag_bytes, t.task_id);
        }
        crate::cmd::alerts::print_destinations(config)?;
        followers::print(&config.root)?;
    }
    match s.error {
        Some(e) => anyhow::bail!("{}: {e}", s.server),
        None => Ok(Outcome::Success),
    }
}
