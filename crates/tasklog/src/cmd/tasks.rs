//! `tasklog tasks`: the task list with each task's facts (title, status,
//! times, project, agent, models, errors; docs/FORMAT.md section 11) and
//! its model calls, tokens and cost.

use anyhow::Result;
use clap::{Args, ValueEnum};
use serde_json::Value;
use tasklog_index::{TaskFilter, TaskSort};

use crate::cli::Format;
use crate::config::Config;
use crate::output;
use crate::rows::{self, Rows};
use crate::Outcome;

#[derive(Debug, Args)]
pub struct TasksArgs {
    /// Only tasks with this status: running, completed, completed_with_errors, failed,
    /// cancelled, or a source's own status the index keeps as written.
    #[arg(long, value_name = "S")]
    pub status: Option<String>,
    /// Only tasks started at or after T (RFC 3339, YYYY-MM-DD, or 7d / 24h ago).
    #[arg(long, value_name = "T")]
    pub since: Option<String>,
    /// Only tasks started before T (same forms as --since).
    #[arg(long, value_name = "T")]
    pub until: Option<String>,
    /// Only tasks of this agent (claude-code, codex, ..., or a writer's agent name).
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
    /// Only tasks of this project (a repository or working directory, as the source names it).
    #[arg(long, value_name = "P")]
    pub project: Option<String>,
    /// Only tasks that used this model.
    #[arg(long, value_name = "M")]
    pub model: Option<String>,
    /// Only tasks with at least one error (failed tools, errors, a failed result).
    #[arg(long)]
    pub errors: bool,
    /// Order of the list; unknown values come last.
    #[arg(long, value_enum, default_value_t = Sort::Started)]
    pub sort: Sort,
    /// Smallest first instead of largest (latest) first.
    #[arg(long)]
    pub asc: bool,
    /// At most N tasks.
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// In a table, every column at full width (other formats always carry every column).
    #[arg(long)]
    pub wide: bool,
    /// Output format [default: table on a terminal, jsonl otherwise]
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Answer across the main database and every monthly archive (read-only; see docs/RETENTION.md).
    #[arg(long)]
    pub archives: bool,
}

/// What `--sort` orders by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Sort {
    /// When the task started.
    Started,
    /// The task's latest known time.
    LastActivity,
    /// Cost in USD.
    Cost,
    /// Duration from start to finish.
    Duration,
}

impl From<Sort> for TaskSort {
    fn from(sort: Sort) -> TaskSort {
        match sort {
            Sort::Started => TaskSort::Started,
            Sort::LastActivity => TaskSort::LastActivity,
            Sort::Cost => TaskSort::Cost,
            Sort::Duration => TaskSort::Duration,
        }
    }
}

pub fn run(config: &Config, args: TasksArgs) -> Result<Outcome> {
    let since = args
        .since
        .as_deref()
        .map(tasklog_index::parse_time)
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(tasklog_index::parse_time)
        .transpose()?;
    let filter = TaskFilter {
        status: args.status,
        since,
        until,
        text: None,
        agent: args.agent,
        project: args.project,
        model: args.model,
        errors: args.errors,
        sort: args.sort.into(),
        ascending: args.asc,
        limit: args.limit.map(u64::from),
        offset: 0,
    };
    let rows = rows::open(config, args.archives)?.tasks(&filter)?;
    if rows.rows.is_empty() {
        errln!("tasklog: no tasks match");
        return Ok(Outcome::NothingFound);
    }
    let format = output::resolve(args.format);
    if format == Format::Table {
        output::print(&table_view(&rows, args.wide), format)?;
    } else {
        output::print(&rows, format)?;
    }
    Ok(Outcome::Success)
}

/// Columns of the default table, each with its widest cell: with two
/// spaces between columns the table fits 120 columns.
const NARROW: &[(&str, usize)] = &[
    ("task_id", 22),
    ("status", 21),
    ("started_at", 19),
    ("duration_ms", 8),
    ("cost_usd", 8),
    ("error_count", 6),
    ("title", 24),
];

/// The rows as a person reads them: times to the second in UTC without
/// the `T` and `Z`, durations as `4m44s`; by default only [`NARROW`]'s
/// columns, cut to their width.
fn table_view(rows: &Rows, wide: bool) -> Rows {
    let picked: Vec<(usize, Option<usize>)> = if wide {
        (0..rows.columns.len()).map(|i| (i, None)).collect()
    } else {
        NARROW
            .iter()
            .filter_map(|(name, width)| {
                let i = rows.columns.iter().position(|c| c == name)?;
                Some((i, Some(*width)))
            })
            .collect()
    };
    let columns = picked
        .iter()
        .map(|&(i, _)| header(&rows.columns[i]).to_owned())
        .collect();
    let rows = rows
        .rows
        .iter()
        .map(|row| {
            picked
                .iter()
                .map(|&(i, width)| {
                    let value = readable(&rows.columns[i], &row[i]);
                    match (width, &value) {
                        (Some(w), Value::String(s)) if s.chars().count() > w => {
                            let mut cut: String = s.chars().take(w - 1).collect();
                            cut.push('…');
                            Value::String(cut)
                        }
                        _ => value,
                    }
                })
                .collect()
        })
        .collect();
    Rows { columns, rows }
}

/// A short header for the narrow columns.
fn header(column: &str) -> &str {
    match column {
        "started_at" => "started",
        "duration_ms" => "duration",
        "cost_usd" => "cost",
        "error_count" => "errors",
        other => other,
    }
}

/// One cell as the table shows it.
fn readable(column: &str, v: &Value) -> Value {
    match (column, v) {
        (c, Value::String(s)) if c.ends_with("_at") => Value::String(second(s)),
        ("duration_ms", v) => v
            .as_f64()
            .map_or(Value::Null, |ms| Value::String(duration(ms))),
        _ => v.clone(),
    }
}

/// `2026-11-22T10:00:01.500Z` → `2026-11-22 10:00:01`.
fn second(t: &str) -> String {
    match t.get(..19) {
        Some(head) if t.len() > 19 && t.as_bytes()[10] == b'T' => head.replacen('T', " ", 1),
        _ => t.to_owned(),
    }
}

/// Milliseconds as the two largest units: `850ms`, `45s`, `4m44s`, `5h20m`, `3d04h`.
fn duration(ms: f64) -> String {
    if ms < 0.0 {
        return format!("{ms:.0}ms");
    }
    if ms < 1000.0 {
        return format!("{ms:.0}ms");
    }
    let s = (ms / 1000.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_two_units() {
        for (ms, want) in [
            (850.0, "850ms"),
            (45_200.0, "45s"),
            (284_000.0, "4m44s"),
            (19_200_000.0, "5h20m"),
            (273_600_000.0, "3d04h"),
            (-2602.0, "-2602ms"),
        ] {
            assert_eq!(duration(ms), want, "{ms}");
        }
    }

    #[test]
    fn times_read_to_the_second() {
        assert_eq!(second("2026-11-22T10:00:01.500Z"), "2026-11-22 10:00:01");
        assert_eq!(second("not a time"), "not a time");
    }

    #[test]
    fn the_default_table_fits_120_columns() {
        let width: usize = NARROW.iter().map(|(_, w)| w + 2).sum::<usize>() - 2;
        assert!(width <= 120, "{width}");
    }
}
