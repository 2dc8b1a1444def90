//! `tasklog export TASK`: everything the index knows about one task in one
//! JSON document (or one JSON object per line): the task row, documents,
//! every record, tool calls, model calls with cost, quarantined lines. Or
//! the task as a file to read: Markdown or standalone HTML, written by the
//! dashboard's renderer (`tasklog_serve::render`), so both give the same.

use std::io::Write;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use serde_json::{Map, Value};
use tasklog_index::ExportSection;

use crate::config::Config;
use crate::rows::{self, Rows};
use crate::Outcome;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The task id (its folder name), or a prefix of exactly one id.
    pub task: String,
    /// One JSON document, JSON Lines with a `kind` on every line, or the
    /// transcript to read: Markdown or one standalone HTML file.
    #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
    pub format: ExportFormat,
}

/// Output shapes of `tasklog export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// One JSON document.
    Json,
    /// One JSON object per line, each with `kind`.
    Jsonl,
    /// The summary and the transcript as Markdown.
    Markdown,
    /// The same as one HTML file (no scripts; markup in records is shown as text).
    Html,
}

pub fn run(config: &Config, args: ExportArgs) -> Result<Outcome> {
    let lines = match args.format {
        ExportFormat::Markdown | ExportFormat::Html => return readable(config, &args),
        ExportFormat::Json => false,
        ExportFormat::Jsonl => true,
    };
    // On PostgreSQL: this host's task (or --host-id's).
    let mut index = rows::open_for_task(config)?;
    let Some(task_id) = rows::resolve_task(index.as_mut(), &args.task)? else {
        rows::unknown_task(&args.task);
        return Ok(Outcome::NothingFound);
    };
    let task = objects(index.task_row(&task_id)?)
        .pop()
        .unwrap_or(Value::Null);
    let cost = objects(index.task_cost(&task_id)?)
        .pop()
        .unwrap_or(Value::Null);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match lines {
        false => {
            let mut doc = Map::new();
            doc.insert("task_id".into(), task_id.clone().into());
            doc.insert("task".into(), task);
            doc.insert("cost".into(), cost);
            for section in ExportSection::ALL {
                doc.insert(
                    section.name().into(),
                    Value::Array(objects(index.export(&task_id, section)?)),
                );
            }
            serde_json::to_writer_pretty(&mut out, &Value::Object(doc))?;
            writeln!(out)?;
        }
        true => {
            let mut line = |kind: &str, v: Value| -> Result<()> {
                let mut m = Map::new();
                m.insert("kind".into(), kind.into());
                if let Value::Object(o) = v {
                    m.extend(o);
                }
                serde_json::to_writer(&mut out, &Value::Object(m))?;
                writeln!(out)?;
                Ok(())
            };
            line("task", task)?;
            line("cost", cost)?;
            for section in ExportSection::ALL {
                for v in objects(index.export(&task_id, section)?) {
                    line(section.kind(), v)?;
                }
            }
        }
    }
    out.flush()?;
    Ok(Outcome::Success)
}

/// The task as Markdown or HTML, from the transcript question of either
/// store (the dashboard's export, `tasklog_serve::transcript`).
fn readable(config: &Config, args: &ExportArgs) -> Result<Outcome> {
    let mut index = rows::open_for_task(config)?;
    let Some(task) = rows::resolve_task(index.as_mut(), &args.task)? else {
        rows::unknown_task(&args.task);
        return Ok(Outcome::NothingFound);
    };
    let summary = index
        .task_summary(&task)?
        .objects(&[])
        .into_iter()
        .next()
        .unwrap_or_default();
    let items = tasklog_serve::transcript::all(
        index.as_mut(),
        &task,
        &tasklog_serve::transcript::Options::default(),
    )
    .with_context(|| format!("reading the transcript of {task}"))?;
    let text = if args.format == ExportFormat::Html {
        tasklog_serve::render::html(&task, &summary, &items)
    } else {
        tasklog_serve::render::markdown(&task, &summary, &items)
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(Outcome::Success)
}

/// Rows as JSON objects, with JSON-text columns embedded as JSON.
fn objects(rows: Rows) -> Vec<Value> {
    rows.objects(&["body", "document", "input", "output", "labels", "commits"])
        .into_iter()
        .map(Value::Object)
        .collect()
}
