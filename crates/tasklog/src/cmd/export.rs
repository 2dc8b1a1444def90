//! `tasklog export TASK`: everything the index knows about one task in one
//! JSON document (or one JSON object per line): the task row, documents,
//! every record, tool calls, model calls with cost, quarantined lines. Or
//! the task as a file to read: Markdown or standalone HTML, written by the
//! dashboard's renderer (`tasklog_serve::render`), so both give the same.

use std::io::Write;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use serde_json::{Map, Value};

use crate::config::Config;
use crate::rows;
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

/// Each section: its name, the `kind` of its lines, and its query. Columns
/// named `body`, `document` or ending in `input`/`output`/`data` hold JSON
/// text and are embedded as JSON.
const SECTIONS: &[(&str, &str, &str)] = &[
    ("documents", "document", "SELECT name, version, updated_at, body FROM documents WHERE task_id = ?1 ORDER BY name"),
    ("records", "record", r#"SELECT stream, "offset", line, ts, event, body FROM records WHERE task_id = ?1 ORDER BY ts, record_id"#),
    ("tool_calls", "tool_call", "SELECT span_id, tool_name, status, duration_ms, started_at, completed_at, input, output, error FROM tool_calls WHERE task_id = ?1 ORDER BY started_at"),
    ("api_calls", "api_call", "SELECT * FROM api_calls WHERE task_id = ?1 ORDER BY timestamp"),
    ("ingest_errors", "ingest_error", r#"SELECT path, generation, "offset", length, line, reason, prefix, detected_at, kind AS error_kind, resolved_at FROM ingest_errors WHERE task_id = ?1 ORDER BY path, "offset""#),
];

pub fn run(config: &Config, args: ExportArgs) -> Result<Outcome> {
    let lines = match args.format {
        ExportFormat::Markdown | ExportFormat::Html => return readable(config, &args),
        ExportFormat::Json => false,
        ExportFormat::Jsonl => true,
    };
    // On PostgreSQL: this host's task (or --host-id's).
    let mut conn = rows::Index::open_for_task(config)?;
    let Some(task_id) = conn.resolve_task(&args.task)? else {
        rows::unknown_task(&args.task);
        return Ok(Outcome::NothingFound);
    };
    let args = ExportArgs {
        task: task_id,
        ..args
    };
    let task = objects(
        &mut conn,
        "SELECT * FROM tasks WHERE task_id = ?1",
        &args.task,
    )?
    .pop()
    .unwrap_or(Value::Null);
    // Written for both SQLite and PostgreSQL (round of a double to 6
    // places is round(x * 1e6) / 1e6 in both).
    let cost = objects(
        &mut conn,
        "SELECT count(*) AS llm_calls, sum(tokens_input) AS tokens_input, sum(tokens_output) AS tokens_output,
                round(sum(estimated_cost_usd) * 1e6) / 1e6 AS cost_usd,
                count(*) FILTER (WHERE estimated_cost_usd IS NULL) AS unpriced_calls
           FROM api_calls WHERE task_id = ?1",
        &args.task,
    )?
    .pop()
    .unwrap_or(Value::Null);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match lines {
        false => {
            let mut doc = Map::new();
            doc.insert("task_id".into(), args.task.clone().into());
            doc.insert("task".into(), task);
            doc.insert("cost".into(), cost);
            for (name, _, sql) in SECTIONS {
                doc.insert(
                    (*name).into(),
                    Value::Array(objects(&mut conn, sql, &args.task)?),
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
            for (_, kind, sql) in SECTIONS {
                for v in objects(&mut conn, sql, &args.task)? {
                    line(kind, v)?;
                }
            }
        }
    }
    out.flush()?;
    Ok(Outcome::Success)
}

/// The task as Markdown or HTML, from the SQLite index.
fn readable(config: &Config, args: &ExportArgs) -> Result<Outcome> {
    rows::require(
        config,
        tasklog_index::Capability::ReadableExport,
        "export --format markdown|html",
    )?;
    let conn = tasklog_index::open_query_connection(&config.db)?;
    let known: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM tasks WHERE task_id = ?1)",
        [&args.task],
        |r| r.get(0),
    )?;
    if !known {
        rows::unknown_task(&args.task);
        return Ok(Outcome::NothingFound);
    }
    let summary = rows::collect(&conn, tasklog_index::TASK_SUMMARY, [&args.task])?;
    let summary: Map<String, Value> = summary
        .rows
        .into_iter()
        .next()
        .map(|row| summary.columns.iter().cloned().zip(row).collect())
        .unwrap_or_default();
    let items = tasklog_serve::transcript::all(
        &conn,
        &args.task,
        &tasklog_serve::transcript::Options::default(),
    )
    .with_context(|| format!("reading the transcript of {}", args.task))?;
    let text = if args.format == ExportFormat::Html {
        tasklog_serve::render::html(&args.task, &summary, &items)
    } else {
        tasklog_serve::render::markdown(&args.task, &summary, &items)
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(Outcome::Success)
}

/// Rows as JSON objects, with JSON-text columns embedded as JSON.
fn objects(conn: &mut rows::Index, sql: &str, task: &str) -> Result<Vec<Value>> {
    let rows = conn.collect_one(sql, task)?;
    Ok(rows
        .rows
        .into_iter()
        .map(|r| {
            let mut m = Map::new();
            for (c, v) in rows.columns.iter().zip(r) {
                let embedded = match (&v, c.as_str()) {
                    (
                        Value::String(s),
                        "body" | "document" | "input" | "output" | "labels" | "commits",
                    ) => serde_json::from_str(s).unwrap_or(v.clone()),
                    _ => v,
                };
                m.insert(c.clone(), embedded);
            }
            Value::Object(m)
        })
        .collect())
}
