//! One module per subcommand.

pub mod alerts;
pub mod append;
pub mod archive;
pub mod completions;
pub mod compress;
pub mod cost;
pub mod export;
pub mod followers;
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

use anyhow::Result;
use clap::Args;
use tasklog_index::{RunMode, Shutdown, Tailer};

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

/// Opens the sidecar's reader over the chosen sink (the facade decides
/// which store). On PostgreSQL an unreachable server is waited for (with
/// backoff) until `shutdown`.
pub fn open_tailer(
    config: &Config,
    sink: &SinkArgs,
    mode: RunMode,
    shutdown: Shutdown,
) -> Result<Tailer> {
    Ok(tasklog_index::open_tailer(
        &config.root,
        &config.db,
        config.sink(sink.sink.as_deref()),
        config.host_id.as_deref(),
        config.index.clone(),
        mode,
        shutdown,
    )?)
}

/// Where a sidecar ships, for messages (a URL without its password).
pub fn shipping_into(config: &Config, sink: &SinkArgs) -> Result<String> {
    Ok(tasklog_index::shipping_into(
        &config.db,
        config.sink(sink.sink.as_deref()),
    )?)
}
