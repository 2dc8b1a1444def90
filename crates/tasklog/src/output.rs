//! The one output path of the data commands: rows as a table, JSON, JSON
//! Lines or CSV, and reports as prose or JSON. Tables are aligned by
//! display width (comfy-table: a double-width task id takes two columns),
//! CSV is quoted as RFC 4180 says (the csv crate).

use std::io::{IsTerminal, Write};

use comfy_table::{ColumnConstraint, ContentArrangement, Table, Width};
use serde_json::{Map, Value};

use crate::cli::Format;
pub use crate::rows::Rows;

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

/// Widest cell a table shows; longer text is cut with `…`.
const MAX_CELL: usize = 60;

/// Prints `rows` in `format` on stdout.
pub fn print(rows: &Rows, format: Format) -> std::io::Result<()> {
    RowPrinter::new(format).print(rows)
}

/// Prints result sets one batch at a time (`tail -f`): the table and CSV
/// header once, a JSON document per batch.
pub struct RowPrinter {
    format: Format,
    /// Fixed column widths, so batches printed apart line up.
    widths: Option<Vec<u16>>,
    header_done: bool,
}

impl RowPrinter {
    /// A printer whose table columns take the width each batch needs.
    pub fn new(format: Format) -> RowPrinter {
        RowPrinter {
            format,
            widths: None,
            header_done: false,
        }
    }

    /// A printer whose table columns have these widths (in display columns).
    pub fn with_widths(format: Format, widths: &[u16]) -> RowPrinter {
        RowPrinter {
            widths: Some(widths.to_vec()),
            ..RowPrinter::new(format)
        }
    }

    /// Prints one batch.
    pub fn print(&mut self, rows: &Rows) -> std::io::Result<()> {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        let header = !std::mem::replace(&mut self.header_done, true);
        match self.format {
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
                let mut csv = csv::Writer::from_writer(&mut out);
                if header {
                    csv.write_record(&rows.columns)?;
                }
                for r in &rows.rows {
                    csv.write_record(r.iter().map(cell))?;
                }
                csv.flush()?;
            }
            Format::Table => {
                let table = self.table(rows, header);
                for line in table.lines() {
                    writeln!(out, "{}", line.trim_end())?;
                }
            }
        }
        out.flush()
    }

    fn table(&self, rows: &Rows, header: bool) -> Table {
        let mut table = Table::new();
        // Plain columns two spaces apart, a header row, no rules: what
        // `ps` and `kubectl get` print, and what `cut`/`awk` can split.
        table
            .load_preset(comfy_table::presets::NOTHING)
            .set_content_arrangement(ContentArrangement::Disabled);
        if header {
            table.set_header(&rows.columns);
        }
        for r in &rows.rows {
            table.add_row(
                r.iter()
                    .map(|v| truncate(&cell(v).replace(['\n', '\r', '\t'], " "), MAX_CELL)),
            );
        }
        if let Some(widths) = &self.widths {
            table.set_constraints(
                widths
                    .iter()
                    .map(|w| ColumnConstraint::Absolute(Width::Fixed(*w))),
            );
        }
        for column in table.column_iter_mut() {
            column.set_padding((0, 2));
        }
        table
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
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

/// Prints one serializable value as pretty JSON.
pub fn print_json(value: &impl serde::Serialize) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(columns: &[&str], data: &[&[&str]]) -> Rows {
        Rows {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: data
                .iter()
                .map(|r| r.iter().map(|v| Value::from(*v)).collect())
                .collect(),
        }
    }

    #[test]
    fn tables_align_by_display_width() {
        let r = rows(&["task_id", "n"], &[&["任务-1", "1"], &["ascii", "22"]]);
        let table = RowPrinter::new(Format::Table).table(&r, true);
        let lines: Vec<String> = table.lines().map(|l| l.trim_end().to_owned()).collect();
        // The second column starts at the same display column on every line.
        let col = |l: &str| unicode_width(l.rsplit_once(' ').map_or(l, |(head, _)| head)) + 1;
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(col(&lines[0]), col(&lines[1]), "{lines:?}");
        assert_eq!(col(&lines[1]), col(&lines[2]), "{lines:?}");
    }

    /// Display width as terminals count it: CJK ideographs take two columns.
    fn unicode_width(s: &str) -> usize {
        s.chars()
            .map(|c| {
                if ('\u{4e00}'..='\u{9fff}').contains(&c) {
                    2
                } else {
                    1
                }
            })
            .sum()
    }
}
