//! `tasklog watch`: the sidecar, until SIGINT or SIGTERM.

use anyhow::{Context, Result};
use clap::Args;
use tasklog_index::{Indexer, RunMode};

use crate::config::Config;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct WatchArgs {}

pub fn run(config: &Config, _args: WatchArgs) -> Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let indexer = Indexer::open(&config.root, &config.db, config.index.clone(), RunMode::Watch)?;
        tracing::info!(root = %config.root.display(), db = %config.db.display(), "sidecar starting");
        let stats = tasklog_index::watch(indexer, shutdown_signal()).await?;
        tracing::info!(records = stats.records, quarantined = stats.quarantined, "sidecar stopped");
        Ok(Outcome::Success)
    })
}

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: committing and stopping"),
        _ = int.recv() => tracing::info!("SIGINT: committing and stopping"),
    }
}
