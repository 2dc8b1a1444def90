//! The command line: global options and one subcommand per module of `cmd`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Record everything AI agents do as plain files, and keep a SQL index of it current.
///
/// Task folders live under the log root (`--root`); the SQLite index is `--db`.
/// Run `tasklog watch` beside your agents, or `tasklog index` to catch up once.
///
/// Exit codes: 0 success (or found), 1 nothing found / differences, 2 error.
#[derive(Debug, Parser)]
#[command(
    name = "tasklog",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("TASKLOG_COMMIT"), ")"),
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Log root holding one folder per task [default: $XDG_DATA_HOME/tasklog/tasks]
    #[arg(long, global = true, env = "TASKLOG_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Index: a SQLite file, or postgres://user@host:port/db for read commands
    /// [default: $XDG_DATA_HOME/tasklog/index.db]
    #[arg(long, global = true, env = "TASKLOG_DB", value_name = "FILE|URL")]
    pub db: Option<PathBuf>,
    /// This host's id in a shared PostgreSQL index [default: the host name];
    /// with read commands on PostgreSQL, only this host's rows.
    #[arg(long, global = true, env = "TASKLOG_HOST_ID", value_name = "ID")]
    pub host_id: Option<String>,
    /// Config file (TOML) [default: $XDG_CONFIG_HOME/tasklog/tasklog.toml if present]
    #[arg(long, global = true, env = "TASKLOG_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// More diagnostics on stderr (-v info, -vv debug); TASKLOG_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// Output format of commands that print rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people (default on a terminal).
    Table,
    /// One JSON document.
    Json,
    /// One JSON object per line (default when piped).
    Jsonl,
    /// Comma-separated values with a header row (RFC 4180 quoting).
    Csv,
}

/// Output format of commands that print one report (`status`, `verify`,
/// `index`): prose for people, or one JSON document for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Lines of text (the default).
    Text,
    /// One JSON document.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Append one record (or one per stdin line) to ROOT/TASK/STREAM.jsonl.
    ///
    /// Missing envelope fields (v, ts, seq, id) are added in front; every
    /// field you give is kept, byte for byte, in your order. A line that is
    /// not exactly one JSON object is refused (exit 2) and nothing of it is
    /// written; with stdin, lines before it stay appended.
    Append(crate::cmd::append::AppendArgs),
    /// Atomically replace ROOT/TASK/DOC.json (from stdin when JSON is absent).
    Put(crate::cmd::put::PutArgs),
    /// Catch the index up with the files once, then exit.
    Index(crate::cmd::index::IndexArgs),
    /// Run the sidecar: index everything, then follow changes until SIGINT/SIGTERM.
    Watch(crate::cmd::watch::WatchArgs),
    /// Prove the index equals the files (exit 0), or list every difference (exit 1).
    Verify(crate::cmd::verify::VerifyArgs),
    /// Show lag, quarantined files, watches and the last commit.
    Status(crate::cmd::status::StatusArgs),
    /// Run read-only SQL against the index (exit 1 when no rows).
    Query(crate::cmd::query::QueryArgs),
    /// Import other agents' logs (Claude Code, Codex, Gemini CLI, Copilot CLI,
    /// OpenCode, Cline, SWE-agent, mini-SWE-agent, OpenHands) as task folders.
    ///
    /// Each source session becomes one task: the source kept verbatim, import.json
    /// (provenance), normalized events and the final result. Importing again writes
    /// only what is new; --follow keeps importing as sources grow. Exit 0 success
    /// (sources already current included), 2 a file failed.
    Import(crate::cmd::import::ImportArgs),
    /// List tasks with status, times, model calls, tokens and cost (exit 1 when none).
    Tasks(crate::cmd::tasks::TasksArgs),
    /// Show a task's whole timeline in time order; errors are marked `!!`.
    Show(crate::cmd::show::ShowArgs),
    /// Cost and tokens by model, day, task or provider, with unpriced calls listed.
    Cost(crate::cmd::cost::CostArgs),
    /// Full-text search over messages, decisions and tool calls (exit 1 when nothing matches).
    Search(crate::cmd::search::SearchArgs),
    /// Print a task's records as they are indexed; -f follows live.
    Tail(crate::cmd::tail::TailArgs),
    /// Everything about one task as one JSON document (or JSON Lines).
    Export(crate::cmd::export::ExportArgs),
    /// Remove sealed task folders (with result.json) older than an age; the index follows.
    ///
    /// Retention for finished work: a task still being written is never
    /// removed. At its next reconcile the index moves the task's rows to
    /// superseded_records. Exit 0 whether or not anything was old enough, 2 on error.
    Prune(crate::cmd::prune::PruneArgs),
    /// Gzip the streams of sealed tasks older than an age (X.jsonl -> X.jsonl.gz).
    ///
    /// Documents stay plain. The index keeps its rows: a compressed stream is
    /// the same stream. Appending to it afterwards is refused. Read them with
    /// zcat, zgrep or `tasklog export`. Exit 0 whether or not anything was old
    /// enough, 2 on error. See docs/RETENTION.md.
    Compress(crate::cmd::compress::CompressArgs),
    /// Move the index rows of the tasks that finished in a month into its archive database.
    ///
    /// The archive is `archive/<db stem>-YYYY-MM.db` beside the database: a
    /// complete index of those tasks (same schema and views). The task folders
    /// stay. The sidecar does not index archived tasks back; `query`, `tasks`,
    /// `cost` and `verify` take --archives to answer across all archives. Safe
    /// to interrupt: run it again to finish. Needs the sidecar stopped (or let
    /// `tasklog watch` do it: `[retention] archive_after`). Exit 0 done, 2 error.
    Archive(crate::cmd::archive::ArchiveArgs),
    /// Move a month's archived tasks back into the index (the reverse of `archive`).
    Unarchive(crate::cmd::unarchive::UnarchiveArgs),
    /// Serve the REST API, live events and the dashboard over the index (runs the indexer too).
    ///
    /// Binds 127.0.0.1:7070 by default; a non-loopback address needs --token. The
    /// indexer runs in the same process unless another one holds the database. With
    /// `--db postgres://...` it serves every host's tasks (or `--host-id`'s) and only
    /// reads: each host ships with `tasklog watch --sink`. Stops on SIGINT/SIGTERM.
    /// See docs/SERVE.md.
    Serve(crate::cmd::serve::ServeArgs),
    /// List fired and pending alerts (exit 1 when none), or `alerts test NAME`.
    ///
    /// Rules are `[[alert]]` tables in the config; `tasklog watch` and
    /// `tasklog serve` evaluate them. See docs/ALERTS.md.
    Alerts(crate::cmd::alerts::AlertsArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    ///
    /// bash: `tasklog completions bash > ~/.local/share/bash-completion/completions/tasklog`;
    /// zsh: into a folder of $fpath as `_tasklog`; fish: `~/.config/fish/completions/tasklog.fish`.
    Completions(crate::cmd::completions::CompletionsArgs),
    /// Print the manual page (roff) to stdout: `tasklog man > ~/.local/share/man/man1/tasklog.1`.
    Man,
}
