//! Printing rows as a table, JSON, JSON Lines or CSV.

use std::io::{IsTerminal, Write};

use serde_json::{Map, Value};

use crate::cli::Format;

/// `--format` when given; otherwise a table on a terminal and JSON Lines in a pipe.
pub fn resolve(format: Option<Format>) -> Format {
    format.unwrap_or_else(|| {
        if std::io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Jsonl
        }
    })
}

/// A result set: column names and rows of JSON values.
#[derive(Debug, Default)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Prints `rows` in `format` on stdout.
pub fn print(rows: &Rows, format: Format) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match format {
        Format::Json => {
            let docs: Vec<Value> = rows.rows.iter().map(|r| object(&rows.columns, r)).collect();
            serde_json::to_writer_pretty(&mut out, &docs)?;
            writeln!(out)?;
        }
        Format::Jsonl => {
            for r in &rows.rows {
                serde_json::to_writer(&mut out, &object(&rows.columns, r))?;
                writeln!(out)?;
            }
        }
        Format::Csv => {
            writeln!(
                out,
                "{}",
                rows.columns
                    .iter()
                    .map(|c| csv_field(c))
                    .collect::<Vec<_>>()
                    .join(",")
            )?;
            for r in &rows.rows {
                writeln!(
                    out,
                    "{}",
                    r.iter()
                        .map(|v| csv_field(&cell(v)))
                        .collect::<Vec<_>>()
                        .join(",")
                )?;
            }
        }
        Format::Table => {
            const MAX_WIDTH: usize = 60;
            let cells: Vec<Vec<String>> = rows
                .rows
                .iter()
                .map(|r| {
                    r.iter()
                        .map(|v| truncate(&cell(v).replace(['\n', '\t'], " "), MAX_WIDTH))
                        .collect()
                })
                .collect();
            let mut widths: Vec<usize> = rows.columns.iter().map(|c| c.chars().count()).collect();
            for r in &cells {
                for (w, c) in widths.iter_mut().zip(r) {
                    *w = (*w).max(c.chars().count());
                }
            }
            let line = |out: &mut dyn Write, values: &[String]| -> std::io::Result<()> {
                let padded: Vec<String> = values
                    .iter()
                    .zip(&widths)
                    .map(|(v, w)| format!("{v:<w$}"))
                    .collect();
                writeln!(out, "{}", padded.join("  ").trim_end())
            };
            line(&mut out, &rows.columns)?;
            line(
                &mut out,
                &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
            )?;
            for r in &cells {
                line(&mut out, r)?;
            }
        }
    }
    out.flush()
}

fn object(columns: &[String], row: &[Value]) -> Value {
    let mut map = Map::new();
    for (c, v) in columns.iter().zip(row) {
        map.insert(c.clone(), v.clone());
    }
    Value::Object(map)
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Prints one serializable value as pretty JSON.
pub fn print_json(value: &impl serde::Serialize) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)
}
