//! One module per subcommand.

pub mod alerts;
pub mod append;
pub mod archive;
pub mod completions;
pub mod compress;
pub mod cost;
pub mod export;
pub mod import;
pub mod index;
pub mod prune;
pub mod put;
pub mod query;
pub mod retention;
pub mod search;
pub mod serve;
pub mod show;
pub mod status;
pub mod tail;
pub mod tasks;
pub mod unarchive;
pub mod verify;
pub mod watch;

use crate::pg::OpenPostgres;
use anyhow::{bail, Result};
use clap::Args;
use tasklog_index::{OpenSqlite, RunMode, Shutdown, Tailer};

use crate::config::Config;

/// Where a sidecar ships (`watch`, `index`, `serve`).
#[derive(Debug, Args)]
pub struct SinkArgs {
    /// Ship into PostgreSQL instead of the SQLite file of --db: a libpq URL,
    /// postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=disable (password, port and
    /// options optional; PGPASSWORD is read), or `url` under `sink` in the config.
    /// Rows carry --host-id; see docs/POSTGRES.md.
    #[arg(long, env = "TASKLOG_SINK", value_name = "URL")]
    pub sink: Option<String>,
}

/// Opens the sidecar's reader over the chosen sink. On PostgreSQL an
/// unreachable server is waited for (with backoff) until `shutdown`.
pub fn open_tailer(
    config: &Config,
    sink: &SinkArgs,
    mode: RunMode,
    shutdown: Shutdown,
) -> Result<Tailer> {
    match config.sink_url(sink.sink.as_deref()) {
        Some(url) if crate::pg::is_url(url) => {
            let target = config.pg_target(url)?;
            tracing::info!(server = target.display(), host_id = target.host_id(), "shipping into PostgreSQL");
            Ok(Tailer::open_postgres(
                &config.root,
                &target,
                config.index.clone(),
                mode,
                shutdown,
            )?)
        }
        Some(other) => bail!(
            "--sink {other:?}: not a postgres:// or postgresql:// URL (leave --sink out to index into the SQLite file of --db)"
        ),
        None => Ok(Tailer::open_with(
            &config.root,
            &config.db,
            config.index.clone(),
            mode,
            shutdown,
        )?),
    }
}
