//! `tasklog cost`: cost and tokens grouped by model, day, task or provider,
//! with a line for calls no price covers (never counted as $0 silently).

use anyhow::Result;
use clap::{Args, ValueEnum};
use serde_json::Value;

use crate::cli::Format;
use crate::config::Config;
use crate::output::{self, Rows};
use crate::rows;
use crate::time_arg;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct CostArgs {
    /// Only today's calls (UTC).
    #[arg(long, conflicts_with = "since")]
    pub today: bool,
    /// Only calls at or after T (RFC 3339, YYYY-MM-DD, or 7d / 24h ago).
    #[arg(long, value_name = "T")]
    pub since: Option<String>,
    /// Only calls before T (same forms as --since).
    #[arg(long, value_name = "T")]
    pub until: Option<String>,
    /// How to group.
    #[arg(long, value_enum, default_value_t = By::Model)]
    pub by: By,
    /// Output format [default: table on a terminal, jsonl otherwise]
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Answer across the main database and every monthly archive (read-only; see docs/RETENTION.md).
    #[arg(long)]
    pub archives: bool,
}

/// Grouping of `tasklog cost`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum By {
    /// gen_ai.request.model
    Model,
    /// UTC day
    Day,
    /// task folder
    Task,
    /// gen_ai.provider.name
    Provider,
}

impl By {
    fn column(self) -> &'static str {
        match self {
            By::Model => "model",
            By::Day => "day",
            By::Task => "task_id",
            By::Provider => "provider",
        }
    }
}

pub fn run(config: &Config, args: CostArgs) -> Result<Outcome> {
    let since = if args.today {
        Some(time_arg::parse_time("today")?)
    } else {
        args.since
            .as_deref()
            .map(time_arg::parse_time)
            .transpose()?
    };
    let until = args
        .until
        .as_deref()
        .map(time_arg::parse_time)
        .transpose()?;
    let conn = crate::cmd::archive::open_for_queries(config, args.archives)?;
    // Whole-day bounds read the daily rollup; others need the calls themselves.
    let days = (
        since.as_deref().map(time_arg::whole_day),
        until.as_deref().map(time_arg::whole_day),
    );
    let (source, lo, hi) = match days {
        (None | Some(Some(_)), None | Some(Some(_))) => (
            // Per task needs the per-task rollup; the rest read the
            // per-day one, tens of rows a day.
            if args.by == By::Task {
                tasklog_index::COST_BY_TASK_DAY
            } else {
                tasklog_index::COST_BY_DAY
            },
            days.0.flatten().map(str::to_owned),
            days.1.flatten().map(str::to_owned),
        ),
        _ => (tasklog_index::COST_BY_CALL, since, until),
    };
    let key = args.by.column();
    let sql = format!(
        "SELECT coalesce(nullif({key}, ''), '(none)') AS {key}, sum(calls) AS calls,
                sum(tokens_input) AS tokens_input, sum(tokens_output) AS tokens_output,
                sum(tokens_cached_read) AS tokens_cached_read, sum(tokens_cached_write) AS tokens_cached_write,
                round(sum(cost_usd), 6) AS cost_usd, sum(unpriced_calls) AS unpriced_calls
           FROM ({source}) GROUP BY 1 ORDER BY sum(cost_usd) DESC, 1"
    );
    let mut rows = rows::collect(&conn, &sql, (&lo, &hi))?;
    if rows.rows.is_empty() {
        eprintln!("tasklog: no model calls in that period");
        return Ok(Outcome::NothingFound);
    }
    let unpriced = rows::collect(
        &conn,
        &format!(
            "SELECT coalesce(nullif(model, ''), '(none)'), sum(unpriced_calls), sum(unpriced_tokens)
               FROM ({source}) WHERE unpriced_calls > 0 GROUP BY 1 ORDER BY 1"
        ),
        (&lo, &hi),
    )?;
    let format = output::resolve(args.format);
    if format == Format::Table {
        push_total(&mut rows);
    }
    if !unpriced.rows.is_empty() {
        push_unpriced(&mut rows, &unpriced);
    }
    output::print(&rows, format)?;
    Ok(Outcome::Success)
}

fn push_total(rows: &mut Rows) {
    let mut total = vec![Value::from("TOTAL")];
    for col in 1..rows.columns.len() {
        let sum: f64 = rows.rows.iter().filter_map(|r| r[col].as_f64()).sum();
        total.push(if rows.columns[col] == "cost_usd" {
            ((sum * 1e6).round() / 1e6).into()
        } else {
            (sum as i64).into()
        });
    }
    rows.rows.push(total);
}

/// One line naming every model without a price, with its calls and tokens;
/// the same on stderr, so that a piped total is never mistaken for complete.
fn push_unpriced(rows: &mut Rows, unpriced: &Rows) {
    let models: Vec<String> = unpriced
        .rows
        .iter()
        .map(|r| r[0].as_str().unwrap_or("?").to_owned())
        .collect();
    let calls: i64 = unpriced.rows.iter().filter_map(|r| r[1].as_i64()).sum();
    let tokens: i64 = unpriced.rows.iter().filter_map(|r| r[2].as_i64()).sum();
    eprintln!(
        "tasklog: {calls} call(s) with {tokens} tokens have no price and are not in cost_usd: {} (add them to a price file, see config/prices.toml)",
        models.join(", ")
    );
    let mut line = vec![Value::Null; rows.columns.len()];
    line[0] = format!("UNPRICED: {}", models.join(", ")).into();
    line[1] = calls.into();
    if let Some(i) = rows.columns.iter().position(|c| c == "unpriced_calls") {
        line[i] = calls.into();
    }
    rows.rows.push(line);
}
