//! `tasklog import FORMAT PATH...`: brings other agents' logs (Claude Code,
//! Codex, SWE-agent, mini-SWE-agent, OpenHands, Gemini CLI, OpenCode,
//! Cline, Copilot CLI) into task folders. The work is done by the
//! `tasklog-import` crate; this module walks the paths, shows progress on a
//! terminal, prints the summary and maps it to the exit code contract:
//! 0 success (sources imported, appended, or already current: the summary
//! says which), 2 a file failed (the others are still imported). Exit 1
//! ("nothing found") is for questions such as `query`; an import that had
//! nothing new to do did its job, so `tasklog import ... && tasklog index`
//! works from cron.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use serde_json::{json, Value};
use tasklog_import::{
    discover, Action, FileReport, FollowOptions, Format as SourceFormat, Importer, Totals, Wake,
};
use tasklog_writer::Writer;

use crate::cli::Format;
use crate::cmd::followers;
use crate::config::Config;
use crate::output::{self, Rows};
use crate::Outcome;

/// The source formats, plus `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    /// Claude Code transcripts (~/.claude/projects), sub-agent files included.
    ClaudeCode,
    /// OpenAI Codex rollouts (~/.codex/sessions).
    Codex,
    /// SWE-agent trajectories (.traj).
    SweAgent,
    /// OpenHands event streams (JSON array of events).
    Openhands,
    /// Gemini CLI chat recordings (JSONL) and chat documents (JSON).
    GeminiCli,
    /// OpenCode session exports (`opencode export`).
    Opencode,
    /// Cline / Roo Code api_conversation_history.json.
    Cline,
    /// GitHub Copilot CLI events.jsonl.
    CopilotCli,
    /// mini-SWE-agent trajectories (.traj.json).
    MiniSweAgent,
    /// iFlow CLI transcripts (~/.iflow/projects/*/session-*.jsonl).
    IflowCli,
    /// pi coding agent sessions (~/.pi/agent/sessions).
    Pi,
    /// VS Code GitHub Copilot Chat sessions (workspaceStorage/*/chatSessions/*.json).
    VscodeCopilotChat,
    /// Detect the format of each file from its content.
    Auto,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Source format (see `--help` for the list), or auto [default: auto].
    #[arg(value_enum, value_name = "FORMAT")]
    pub source_format: Option<ImportFormat>,
    /// Files or folders; folders are walked for .jsonl, .json and .traj
    /// files. None: every supported agent's standard folders that exist
    /// (~/.claude/projects or $CLAUDE_CONFIG_DIR/projects, ~/.codex/sessions
    /// or $CODEX_HOME/sessions, ~/.gemini/tmp, ~/.copilot/session-state,
    /// Cline and Roo Code task folders, VS Code Copilot Chat's chatSessions,
    /// ~/.iflow/projects, ~/.pi/agent/sessions, OpenCode's storage,
    /// OpenHands' sessions), or only FORMAT's. An OpenHands session's
    /// `events` folder is one source; each line of OpenHands evaluation
    /// output (output.jsonl) is one session.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format of the summary [default: table on a terminal, else jsonl].
    /// `json` prints one document with totals and every file's report.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Keep running: import new session files and appended lines as they
    /// appear, until SIGINT or SIGTERM; one JSON line per import on stdout.
    #[arg(long)]
    pub follow: bool,
    /// With --follow: seconds a source must stay unchanged before its task
    /// is sealed (result.json), unless the source has an end marker.
    #[arg(long, default_value_t = 600, value_name = "SECS", requires = "follow")]
    pub seal_after: u64,
    /// With --follow: milliseconds between two full looks at the paths
    /// (file events import a changed file at once in between).
    #[arg(long, default_value_t = 500, value_name = "MS", requires = "follow")]
    pub poll_ms: u64,
    /// Also copy new sources verbatim into their tasks (source.jsonl or
    /// source.json): every line as the agent wrote it, kept after the agent
    /// deletes its file, for about twice the disk. Not by default: the
    /// normalized events hold what the index and the dashboard use. A
    /// source imported before keeps its first choice.
    #[arg(long, conflicts_with = "no_source")]
    pub keep_source: bool,
    /// The default since 2026-12-07 (no verbatim copy); kept so scripts that
    /// pass it keep working.
    #[arg(long, hide = true)]
    pub no_source: bool,
    /// Gzip the streams of an imported task once it is sealed and every
    /// source of it has been unchanged this long (30m, 12h, 1d, 2weeks),
    /// as `tasklog compress` would; jq, grep and the index read them with
    /// zcat, zgrep and as before. A resumed session is made plain again.
    #[arg(
        long,
        value_name = "AGE",
        default_value = "1d",
        conflicts_with = "no_compress"
    )]
    pub compress_after: String,
    /// Leave imported tasks plain (no compression by the importer;
    /// `[retention] compress_after` still applies).
    #[arg(long)]
    pub no_compress: bool,
}

/// The importer's format for a command-line format (`None`: detect).
pub fn source_format(format: ImportFormat) -> Option<SourceFormat> {
    match format {
        ImportFormat::ClaudeCode => Some(SourceFormat::ClaudeCode),
        ImportFormat::Codex => Some(SourceFormat::Codex),
        ImportFormat::SweAgent => Some(SourceFormat::SweAgent),
        ImportFormat::Openhands => Some(SourceFormat::OpenHands),
        ImportFormat::GeminiCli => Some(SourceFormat::GeminiCli),
        ImportFormat::Opencode => Some(SourceFormat::OpenCode),
        ImportFormat::Cline => Some(SourceFormat::Cline),
        ImportFormat::CopilotCli => Some(SourceFormat::CopilotCli),
        ImportFormat::MiniSweAgent => Some(SourceFormat::MiniSweAgent),
        ImportFormat::IflowCli => Some(SourceFormat::IflowCli),
        ImportFormat::Pi => Some(SourceFormat::Pi),
        ImportFormat::VscodeCopilotChat => Some(SourceFormat::VscodeCopilotChat),
        ImportFormat::Auto => None,
    }
}

/// Starts following `source` on a thread of its own, as `tasklog import
/// --follow` would (`[[import]]` entries of `tasklog watch`). Send
/// [`Wake::Shutdown`] to stop it after the file in hand, then join.
///
/// The follower is supervised: a panic importing one file only fails that
/// file (follow.rs), and anything else that ends it (an error, a panic
/// between files) is logged and the follower is started again with a fresh
/// importer after 1 s, doubling up to a minute (followers.rs). Before, the
/// thread ended for good and the sidecar went on indexing without it.
pub fn spawn_follower(
    config: &Config,
    source: &crate::config::FollowedSource,
) -> Result<(std::sync::mpsc::Sender<Wake>, std::thread::JoinHandle<()>)> {
    let make = {
        let (root, options) = (config.root.clone(), config.writer.clone());
        let (format, keep, compress) = (
            source_format(source.format),
            source.keep_source,
            source.compress_after,
        );
        move || -> Result<Importer> {
            let mut importer = Importer::new(Writer::open(&root, options.clone())?, format);
            importer.keep_source(keep);
            importer.compress_after(compress);
            Ok(importer)
        }
    };
    // Opened here first, so a root it cannot write fails the start.
    let importer = make()?;
    let (tx, rx) = std::sync::mpsc::channel();
    let paths = vec![source.path.clone()];
    let options = FollowOptions {
        poll: source.poll,
        seal_after: source.seal_after,
    };
    let what = source.path.display().to_string();
    let root = config.root.clone();
    let thread = std::thread::Builder::new()
        .name("tasklog-import".into())
        .spawn(move || {
            tracing::info!(path = %what, "following agent transcripts");
            let mut on_report = |report: &FileReport| {
                diagnose(report);
                if report.action == Action::Failed {
                    let error = format!(
                        "{}: {}",
                        report.path.display(),
                        report.reason.as_deref().unwrap_or("failed")
                    );
                    followers::failed(&root, &what, error, |s| s.failed_files += 1);
                } else if report.action != Action::Unchanged {
                    tracing::info!(path = %report.path.display(), action = ?report.action, "imported");
                }
            };
            let supervisor = followers::Supervisor {
                root: &root,
                path: &what,
                first_wait: followers::FIRST_WAIT,
                wake: &rx,
            };
            supervisor.run(importer, &make, |importer| {
                tasklog_import::follow(importer, &paths, options, &rx, &mut on_report)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            });
        })?;
    Ok((tx, thread))
}

pub fn run(config: &Config, mut args: ImportArgs) -> Result<Outcome> {
    let format = source_format(args.source_format.unwrap_or(ImportFormat::Auto));
    if args.paths.is_empty() {
        args.paths = standard_folders(format);
    }
    let candidates = discover(&args.paths)?;
    let writer = Writer::open(&config.root, config.writer.clone())?;
    let mut importer = Importer::new(writer, format);
    importer.keep_source(args.keep_source);
    importer.compress_after(match args.no_compress {
        true => None,
        false => Some(
            humantime::parse_duration(&args.compress_after).with_context(|| {
                format!(
                    "--compress-after {:?}: expected a duration such as 30m, 12h, 1d or 2weeks",
                    args.compress_after
                )
            })?,
        ),
    });
    if args.follow {
        return follow(&mut importer, &args);
    }
    let progress = crate::progress::bar(candidates.len() as u64, crate::progress::ITEMS);
    let mut reports = Vec::with_capacity(candidates.len());
    for candidate in &candidates {
        if let Some(bar) = &progress {
            bar.set_message(candidate.path.display().to_string());
        }
        let report = importer.import_file(candidate);
        diagnose(&report);
        reports.push(report);
        if let Some(bar) = &progress {
            bar.inc(1);
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    // After the whole pass: a session's sub-agent files go to its task too,
    // and compressing between them would only make it plain again.
    let sources: Vec<&std::path::Path> = candidates.iter().map(|c| c.path.as_path()).collect();
    let compressed = importer.compress_quiet(&sources);
    if compressed.0 > 0 {
        tracing::info!(
            tasks = compressed.0,
            bytes = compressed.1,
            compressed_bytes = compressed.2,
            "compressed the tasks of sessions quiet for --compress-after"
        );
    }
    print(&reports, output::resolve(args.format))?;
    let failed = reports
        .iter()
        .filter(|r| r.action == Action::Failed)
        .count();
    if failed > 0 {
        anyhow::bail!("{failed} of {} file(s) failed to import", reports.len());
    }
    let unchanged = reports
        .iter()
        .filter(|r| r.action == Action::Unchanged)
        .count();
    if unchanged > 0 {
        tracing::info!(
            "{unchanged} of {} file(s) already imported and unchanged",
            reports.len()
        );
    }
    Ok(Outcome::Success)
}

/// The standard folders of every agent (or `format`'s) that exist, said
/// on stderr, for an import given no path.
pub fn standard_folders(format: Option<SourceFormat>) -> Vec<PathBuf> {
    let found = tasklog_import::agent_folders(format);
    if found.is_empty() {
        tracing::warn!(
            "no agent's standard session folder was found; name the files or folders to import"
        );
    }
    for f in &found {
        tracing::info!(agent = %f.format, path = %f.path.display(), "found agent sessions");
    }
    found.into_iter().map(|f| f.path).collect()
}

/// `--follow`: imports until SIGINT or SIGTERM, one JSON line per import.
fn follow(importer: &mut Importer, args: &ImportArgs) -> Result<Outcome> {
    let (tx, rx) = std::sync::mpsc::channel();
    // Signals arrive on a small runtime of their own; the follower itself
    // is synchronous and looks at the channel between two files.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let signals = runtime.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        )
    });
    let (Ok(mut term), Ok(mut int)) = signals else {
        anyhow::bail!("cannot install signal handlers for --follow");
    };
    std::thread::spawn(move || {
        runtime.block_on(async {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: stopping after the current file"),
                _ = int.recv() => tracing::info!("SIGINT: stopping after the current file"),
            }
        });
        let _ = tx.send(Wake::Shutdown);
    });
    let options = FollowOptions {
        poll: std::time::Duration::from_millis(args.poll_ms.max(10)),
        seal_after: std::time::Duration::from_secs(args.seal_after),
    };
    let mut stdout = std::io::stdout().lock();
    let mut failed = 0u64;
    tasklog_import::follow(importer, &args.paths, options, &rx, |report| {
        diagnose(report);
        failed += u64::from(report.action == Action::Failed);
        if report.action != Action::Unchanged {
            if let Ok(line) = serde_json::to_string(report) {
                use std::io::Write;
                // stdout is data; a closed pipe is not worth stopping for.
                let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
            }
        }
    })?;
    if failed > 0 {
        tracing::warn!("{failed} import(s) failed while following");
    }
    Ok(Outcome::Success)
}

/// Failures and unparseable lines go to stderr as they happen.
fn diagnose(report: &FileReport) {
    let path = report.path.display();
    for problem in &report.parse_errors {
        tracing::warn!("{path}:{}: {}", problem.line, problem.message);
    }
    if report.action == Action::Failed {
        tracing::error!("{}", report.reason.as_deref().unwrap_or("failed"));
    } else if report.action == Action::Skipped {
        tracing::info!(
            "{path}: skipped: {}",
            report.reason.as_deref().unwrap_or("")
        );
    }
}

fn print(reports: &[FileReport], format: Format) -> std::io::Result<()> {
    if format == Format::Json {
        let mut totals = Totals::default();
        let mut counts =
            json!({"imported": 0, "appended": 0, "unchanged": 0, "skipped": 0, "failed": 0});
        for r in reports {
            totals.add(&r.written);
            let key = serde_json::to_value(r.action)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            if let Some(n) = counts.get_mut(&key) {
                *n = json!(n.as_u64().unwrap_or(0) + 1);
            }
        }
        return output::print_json(&json!({
            "files": counts,
            "totals": totals,
            "reports": reports,
        }));
    }
    let columns = [
        "path",
        "action",
        "task_id",
        "records",
        "llm_calls",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cost_usd",
        "unknown",
        "parse_errors",
        "reason",
    ];
    let rows = reports
        .iter()
        .map(|r| {
            let w = &r.written;
            vec![
                json!(r.path.display().to_string()),
                serde_json::to_value(r.action).unwrap_or(Value::Null),
                json!(r.task_id),
                json!(w.source_records + w.events),
                json!(w.llm_calls),
                json!(w.input_tokens),
                json!(w.output_tokens),
                json!(w.cache_read_tokens),
                // Zero means "no cost in the source", not "free".
                json!((w.cost_usd > 0.0).then_some(w.cost_usd)),
                json!(r.unknown_types.values().sum::<u64>()),
                json!(r.parse_errors.len()),
                json!(r.reason),
            ]
        })
        .collect();
    output::print(
        &Rows {
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows,
        },
        format,
    )
}
