//! `tasklog tail TASK [-f]`: a task's records in the order they were
//! indexed; `-f` keeps polling the database for new ones.
//!
//! Polling a read-only connection (rather than watching files) shows
//! exactly what the index holds, and needs no second watcher: every new
//! statement sees the indexer's latest commit (WAL).

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use serde_json::Value;

use crate::cli::Format;
use crate::config::Config;
use crate::output::{self, Rows};
use crate::report;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct TailArgs {
    /// The task id (its folder name).
    pub task: String,
    /// Keep printing records as they are indexed, until interrupted.
    #[arg(short, long)]
    pub follow: bool,
    /// Print the last N records first (0: all of them).
    #[arg(short = 'n', long, default_value_t = 10, value_name = "N")]
    pub lines: u64,
    /// How often -f polls the index, in milliseconds.
    #[arg(long, default_value_t = 200, value_name = "MS")]
    pub interval: u64,
    /// Output format: jsonl prints each record exactly as written
    /// [default: table on a terminal, jsonl otherwise]
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

const COLUMNS: [&str; 7] = [
    "record_id",
    "ts",
    "stream",
    "event",
    "name",
    "status",
    "body",
];

const LAST: &str = "SELECT record_id, ts, stream, event, name, status, body FROM (
    SELECT * FROM records WHERE task_id = ?1 ORDER BY record_id DESC LIMIT ?2) ORDER BY record_id";

const NEWER: &str = "SELECT record_id, ts, stream, event, name, status, body FROM records
    WHERE task_id = ?1 AND record_id > ?2 ORDER BY record_id LIMIT 10000";

pub fn run(config: &Config, args: TailArgs) -> Result<Outcome> {
    let conn = tasklog_index::open_query_connection(&config.db)?;
    if !report::task_exists(&conn, &args.task)? {
        if !args.follow {
            report::unknown_task(&args.task);
            return Ok(Outcome::NotFound);
        }
        eprintln!(
            "tasklog: no task {:?} in the index yet; waiting for it",
            args.task
        );
    }
    let format = match output::resolve(args.format) {
        // A growing stream cannot be one JSON array.
        Format::Json if args.follow => Format::Jsonl,
        f => f,
    };
    let limit = if args.lines == 0 {
        -1
    } else {
        args.lines as i64
    };
    let first = report::collect(&conn, LAST, (&args.task, limit))?;
    let mut last_id = first.rows.last().and_then(|r| r[0].as_i64()).unwrap_or(0);
    let found = !first.rows.is_empty();
    if !args.follow {
        if !found {
            eprintln!("tasklog: task {:?} has no records yet", args.task);
            return Ok(Outcome::NotFound);
        }
        print_rows(&first, format, true)?;
        return Ok(Outcome::Success);
    }
    print_rows(&first, format, true)?;
    let mut header = first.rows.is_empty();
    loop {
        std::thread::sleep(Duration::from_millis(args.interval.max(10)));
        let rows = report::collect(&conn, NEWER, (&args.task, last_id))?;
        if let Some(id) = rows.rows.last().and_then(|r| r[0].as_i64()) {
            last_id = id;
            print_rows(&rows, format, header)?;
            header = false;
        }
    }
}

/// Prints one batch; the table and CSV header only once.
fn print_rows(rows: &Rows, format: Format, header: bool) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        Format::Jsonl => {
            for r in &rows.rows {
                writeln!(out, "{}", r[6].as_str().unwrap_or_default())?;
            }
        }
        Format::Json => {
            let docs: Vec<Value> = rows
                .rows
                .iter()
                .map(|r| {
                    serde_json::from_str(r[6].as_str().unwrap_or("null")).unwrap_or(Value::Null)
                })
                .collect();
            serde_json::to_writer_pretty(&mut out, &docs)?;
            writeln!(out)?;
        }
        Format::Csv => {
            drop(out);
            let mut batch = Rows {
                columns: COLUMNS.iter().map(|c| (*c).to_owned()).collect(),
                rows: rows.rows.clone(),
            };
            if !header {
                // output::print always writes a header; print without it.
                batch.columns.clear();
            }
            print_csv(&batch)?;
            return Ok(());
        }
        Format::Table => {
            if header {
                writeln!(
                    out,
                    "{:<27}  {:<16}  {:<14}  {:<24}  status",
                    "ts", "stream", "event", "name"
                )?;
            }
            for r in &rows.rows {
                let s = |i: usize| r[i].as_str().unwrap_or("-").to_owned();
                writeln!(
                    out,
                    "{:<27}  {:<16}  {:<14}  {:<24}  {}",
                    s(1),
                    s(2),
                    s(3),
                    s(4),
                    s(5)
                )?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn print_csv(rows: &Rows) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let field = |v: &Value| {
        let s = match v {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    };
    if !rows.columns.is_empty() {
        writeln!(out, "{}", rows.columns.join(","))?;
    }
    for r in &rows.rows {
        writeln!(out, "{}", r.iter().map(field).collect::<Vec<_>>().join(","))?;
    }
    out.flush()?;
    Ok(())
}
