//! `tasklog import FORMAT PATH...`: brings Claude Code, Codex, SWE-agent
//! and OpenHands logs into task folders. The work is done by the
//! `tasklog-import` crate; this module walks the paths, shows progress on a
//! terminal, prints the summary and maps it to the exit code contract:
//! 0 something was imported, 1 nothing new (everything already imported,
//! empty or skipped), 2 a file failed (the others are still imported).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use serde_json::{json, Value};
use tasklog_import::{discover, Action, FileReport, Format as SourceFormat, Importer, Totals};
use tasklog_writer::Writer;

use crate::cli::Format;
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
    /// Detect the format of each file from its content.
    Auto,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Source format: claude-code, codex, swe-agent, openhands, or auto.
    #[arg(value_enum, value_name = "FORMAT")]
    pub source_format: ImportFormat,
    /// Files or folders; folders are walked for .jsonl, .json and .traj files.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format of the summary [default: table on a terminal, else jsonl].
    /// `json` prints one document with totals and every file's report.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

pub fn run(config: &Config, args: ImportArgs) -> Result<Outcome> {
    let format = match args.source_format {
        ImportFormat::ClaudeCode => Some(SourceFormat::ClaudeCode),
        ImportFormat::Codex => Some(SourceFormat::Codex),
        ImportFormat::SweAgent => Some(SourceFormat::SweAgent),
        ImportFormat::Openhands => Some(SourceFormat::OpenHands),
        ImportFormat::Auto => None,
    };
    let candidates = discover(&args.paths)?;
    let writer = Writer::open(&config.root, config.writer.clone())?;
    let mut importer = Importer::new(writer, format);
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
    print(&reports, output::resolve(args.format))?;
    let failed = reports
        .iter()
        .filter(|r| r.action == Action::Failed)
        .count();
    if failed > 0 {
        anyhow::bail!("{failed} of {} file(s) failed to import", reports.len());
    }
    let imported = reports
        .iter()
        .any(|r| matches!(r.action, Action::Imported | Action::Appended));
    Ok(if imported {
        Outcome::Success
    } else {
        Outcome::NothingFound
    })
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
        let mut counts = json!({"imported": 0, "appended": 0, "skipped": 0, "failed": 0});
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
