//! `tasklog`: the command-line front end of the writer and the sidecar.

/// `println!` that returns the write error instead of panicking, so a
/// closed pipe (`tasklog status | head`) ends the command quietly (exit 0).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

/// `eprintln!` that never panics: a closed or broken stderr (the reader of
/// a service's log went away) must not end the command; the message is
/// dropped instead.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

mod cli;
mod cmd;
mod config;
mod fd_limit;
mod output;
mod progress;
mod rows;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::config::Config;

/// What a command concluded, mapped to the exit code contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0: done, or something was found.
    Success,
    /// Exit 1: a question found nothing (no rows, no match, no such task).
    NothingFound,
    /// Exit 1: `verify` found the index differs from the files.
    Differences,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.global.verbose, cli.global.quiet);
    let long_running = matches!(
        cli.command,
        Command::Watch(_) | Command::Serve(_) | Command::Index(_) | Command::Import(_)
    );
    let fds = fd_limit::raise().filter(|&n| long_running && n < fd_limit::NEEDED);
    if let Some(n) = fds {
        tracing::warn!("{}", fd_limit::advice(n));
    }
    match run(cli) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::NothingFound | Outcome::Differences) => ExitCode::from(1),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            errln!("tasklog: {e:#}");
            if let Some(n) = fds {
                errln!("tasklog: {}", fd_limit::advice(n));
            }
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<Outcome> {
    // Generated from the command line alone: a broken config must not keep
    // a user from installing completions or reading the manual.
    let command = match cli.command {
        Command::Completions(args) => return cmd::completions::completions(args),
        Command::Man => return cmd::completions::man(),
        other => other,
    };
    let g = cli.global;
    let config = Config::load(g.config.as_deref(), g.root, g.db, g.host_id)?;
    // Before any file or thread exists: every file this command creates
    // gets the policy's mode (docs/SECURITY.md, "Files").
    config.file_mode.apply();
    tracing::debug!(root = %config.root.display(), db = %config.db_shown(), config = ?config.source, "configuration");
    match command {
        Command::Append(args) => cmd::append::run(&config, args),
        Command::Put(args) => cmd::put::run(&config, args),
        Command::Index(args) => cmd::index::run(&config, args),
        Command::Watch(args) => cmd::watch::run(&config, args),
        Command::Verify(args) => cmd::verify::run(&config, args),
        Command::Status(args) => cmd::status::run(&config, args),
        Command::Query(args) => cmd::query::run(&config, args),
        Command::Import(args) => cmd::import::run(&config, args),
        Command::Tasks(args) => cmd::tasks::run(&config, args),
        Command::Show(args) => cmd::show::run(&config, args),
        Command::Cost(args) => cmd::cost::run(&config, args),
        Command::Search(args) => cmd::search::run(&config, args),
        Command::Tail(args) => cmd::tail::run(&config, args),
        Command::Export(args) => cmd::export::run(&config, args),
        Command::Prune(args) => cmd::prune::run(&config, args),
        Command::Compress(args) => cmd::compress::run(&config, args),
        Command::Archive(args) => cmd::archive::run(&config, args),
        Command::Unarchive(args) => cmd::unarchive::run(&config, args),
        Command::Serve(args) => cmd::serve::run(&config, args),
        Command::Alerts(args) => cmd::alerts::run(&config, args),
        // Answered above, before the config is read.
        Command::Completions(_) | Command::Man => Ok(Outcome::Success),
    }
}

fn init_tracing(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    // `tasklog::start` lines (what a long-running command reads and writes,
    // and how to stop it) show at the default level: a service started by
    // hand must say where it works. `-q` hides them.
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn,tasklog::start=info",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = EnvFilter::try_from_env("TASKLOG_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        // Its report of a failed write is an `eprintln!`, which panics when
        // stderr is closed: a sidecar whose log reader went away must go on.
        .log_internal_errors(false)
        .init();
}

/// A closed stdout (`tasklog query ... | head`) is not an error.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
