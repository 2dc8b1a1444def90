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
use crate::output::{self, RowPrinter, Rows};
use crate::rows;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct TailArgs {
    /// The task id (its folder name), or a prefix of exactly one id.
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

/// The table shows these columns of the rows below, at fixed widths so
/// that batches printed apart line up.
const TABLE_COLUMNS: std::ops::Range<usize> = 1..6;
const TABLE_WIDTHS: [u16; 5] = [29, 18, 16, 26, 10];

/// Most records one poll of -f prints.
const BATCH: u64 = 10_000;

pub fn run(config: &Config, args: TailArgs) -> Result<Outcome> {
    // On PostgreSQL: this host's task (or --host-id's). A task's rows are
    // written by one connection of its host's sidecar (shards.rs), so its
    // record ids become visible in order and polling by id misses none.
    let mut index = rows::open_for_task(config)?;
    // A prefix names its task; a task not indexed yet is waited for by
    // its whole id.
    let mut args = args;
    if let Some(id) = rows::resolve_task(index.as_mut(), &args.task)? {
        args.task = id;
    } else {
        if !args.follow {
            rows::unknown_task(&args.task);
            return Ok(Outcome::NothingFound);
        }
        errln!(
            "tasklog: no task {:?} in the index yet; waiting for it",
            args.task
        );
    }
    let format = match output::resolve(args.format) {
        // A growing stream cannot be one JSON array.
        Format::Json if args.follow => Format::Jsonl,
        f => f,
    };
    let mut printer = match format {
        Format::Table => RowPrinter::with_widths(format, &TABLE_WIDTHS),
        _ => RowPrinter::new(format),
    };
    let first = index.last_records(&args.task, (args.lines > 0).then_some(args.lines))?;
    let mut last_id = first.rows.last().and_then(|r| r[0].as_i64()).unwrap_or(0);
    if !args.follow {
        if first.rows.is_empty() {
            errln!("tasklog: task {:?} has no records yet", args.task);
            return Ok(Outcome::NothingFound);
        }
        print_batch(&mut printer, &first, format)?;
        return Ok(Outcome::Success);
    }
    print_batch(&mut printer, &first, format)?;
    loop {
        std::thread::sleep(Duration::from_millis(args.interval.max(10)));
        let rows = index.records_after(&args.task, last_id, BATCH)?;
        if let Some(id) = rows.rows.last().and_then(|r| r[0].as_i64()) {
            last_id = id;
            print_batch(&mut printer, &rows, format)?;
        }
    }
}

/// Prints one batch: the records themselves for JSON (each body exactly
/// as written), the index's columns for a table or CSV.
fn print_batch(printer: &mut RowPrinter, rows: &Rows, format: Format) -> Result<()> {
    let body = |r: &[Value]| r[6].as_str().unwrap_or_default().to_owned();
    match format {
        Format::Jsonl => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            for r in &rows.rows {
                writeln!(out, "{}", body(r))?;
            }
            out.flush()?;
        }
        Format::Json => {
            let docs: Vec<Value> = rows
                .rows
                .iter()
                .map(|r| serde_json::from_str(&body(r)).unwrap_or(Value::Null))
                .collect();
            output::print_json(&docs)?;
        }
        Format::Table => {
            let shown = Rows {
                columns: rows.columns[TABLE_COLUMNS].to_vec(),
                rows: rows
                    .rows
                    .iter()
                    .map(|r| {
                        r[TABLE_COLUMNS]
                            .iter()
                            .map(|v| if v.is_null() { "-".into() } else { v.clone() })
                            .collect()
                    })
                    .collect(),
            };
            printer.print(&shown)?;
        }
        Format::Csv => printer.print(rows)?,
    }
    Ok(())
}
