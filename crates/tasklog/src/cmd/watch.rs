//! `tasklog watch`: the sidecar, until SIGINT or SIGTERM.

use anyhow::{Context, Result};
use clap::Args;
use tasklog_index::{RunMode, Shutdown};

use crate::config::Config;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub sink: crate::cmd::SinkArgs,
}

pub fn run(config: &Config, args: WatchArgs) -> Result<Outcome> {
    if !config.retention.is_on() {
        return run_sidecar(config, &args, None);
    }
    if config.retention.archive_after.is_some()
        && tasklog_index::ships_to_postgres(&config.db, config.sink(args.sink.sink.as_deref()))
    {
        anyhow::bail!(
            "[retention] archive_after needs the SQLite index: monthly archives are SQLite files beside it, and this sidecar ships into PostgreSQL (docs/RETENTION.md, docs/POSTGRES.md)"
        );
    }
    // `[retention]`: a pass now, then the sidecar until the daily pass is
    // due (it stops the loop: archiving needs the writer lock), and again.
    // Signals stop the whole run, whichever sidecar is running.
    let timer = crate::cmd::retention::Timer::start(config.retention.every)?;
    let stop = Shutdown::new();
    listen_for_signals(stop.clone())?;
    timer.relay(stop.clone())?;
    loop {
        tracing::info!("retention: pass starting");
        crate::cmd::retention::apply(config);
        run_sidecar(config, &args, Some(&timer))?;
        if stop.is_requested() || !timer.take_due() {
            return Ok(Outcome::Success);
        }
    }
}

/// The sidecar until it is stopped: by a signal, or by the retention
/// `timer` when one is given (which then also relays the signals).
fn run_sidecar(
    config: &Config,
    args: &WatchArgs,
    timer: Option<&crate::cmd::retention::Timer>,
) -> Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // Listening first: on PostgreSQL the open waits for an unreachable
    // server, and a signal must end that wait.
    let shutdown = Shutdown::new();
    match timer {
        Some(t) => t.follow(shutdown.clone()),
        None => listen_for_signals(shutdown.clone())?,
    }
    let indexer = crate::cmd::open_tailer(config, &args.sink, RunMode::Watch, shutdown)?;
    let index = crate::cmd::shipping_into(config, &args.sink)?;
    tracing::info!(
        target: "tasklog::start",
        "watching {} into {index}; Ctrl-C or SIGTERM stops (lines not yet committed are read again at the next start)",
        config.root.display()
    );
    // Agent transcripts from `[[import]]`: their followers write task
    // folders under the root, which this same sidecar indexes.
    let followers = config
        .imports
        .iter()
        .map(|source| crate::cmd::import::spawn_follower(config, source))
        .collect::<Result<Vec<_>>>()?;
    let alerter = crate::cmd::alerts::start(config, args.sink.sink.as_deref())?;
    let result = runtime.block_on(tasklog_index::watch(indexer));
    if let Some(alerter) = alerter {
        alerter.stop(crate::cmd::alerts::STOP_WITHIN);
    }
    for (tx, _) in &followers {
        let _ = tx.send(tasklog_import::Wake::Shutdown);
    }
    for (_, thread) in followers {
        let _ = thread.join();
    }
    let stats = result?;
    tracing::info!(
        records = stats.records,
        quarantined = stats.quarantined,
        "sidecar stopped"
    );
    Ok(Outcome::Success)
}

/// Requests `shutdown` on the first SIGINT or SIGTERM; a second one exits
/// at once (as SIGKILL would: safe, the checkpoints roll back with the
/// rows). The signals are awaited on a thread of their own: the watch loop
/// may be busy or blocked when one arrives, and must not have to come back
/// to its `select!` to hear it.
pub(crate) fn listen_for_signals(shutdown: Shutdown) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal thread's runtime")?;
    // Installed before the thread starts, so a signal sent right after
    // `watch` prints "watching" is never missed.
    let (mut term, mut int, mut hup) = runtime
        .block_on(async {
            Ok::<_, std::io::Error>((
                signal(SignalKind::terminate())?,
                signal(SignalKind::interrupt())?,
                signal(SignalKind::hangup())?,
            ))
        })
        .context("installing signal handlers")?;
    std::thread::Builder::new()
        .name("tasklog-signals".into())
        .spawn(move || {
            runtime.block_on(async {
                let mut received = 0;
                loop {
                    let name = tokio::select! {
                        _ = term.recv() => "SIGTERM",
                        _ = int.recv() => "SIGINT",
                        // A terminal closing or a service manager's reload
                        // must not end the sidecar (its default action is
                        // to exit with 129, which "restart on failure"
                        // does not restart). Nothing needs reopening: the
                        // loop reconciles on its own timer.
                        _ = hup.recv() => {
                            tracing::info!("SIGHUP: ignored; the sidecar goes on (restart it to apply a changed configuration)");
                            continue;
                        }
                    };
                    received += 1;
                    if received > 1 {
                        tracing::warn!("{name} again: exiting now; uncommitted lines are read again at the next start");
                        std::process::exit(130);
                    }
                    tracing::info!("{name}: committing and stopping");
                    shutdown.request();
                }
            })
        })
        .context("starting the signal thread")?;
    Ok(())
}
