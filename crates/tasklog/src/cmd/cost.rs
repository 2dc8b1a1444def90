//! `tasklog cost`: cost and tokens grouped by model, day, task or provider,
//! with a line for calls no price covers (never counted as $0 silently).

use anyhow::Result;
use clap::{Args, ValueEnum};
use serde_json::Value;
use tasklog_index::{CostKey, CostQuery};

use crate::cli::Format;
use crate::config::Config;
use crate::output::{self, Rows};
use crate::rows;
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
    /// the task's project (its cwd or repository)
    Project,
    /// the agent that ran the task (claude-code, codex, ...)
    Agent,
}

impl From<By> for CostKey {
    fn from(by: By) -> CostKey {
        match by {
            By::Model => CostKey::Model,
            By::Day => CostKey::Day,
            By::Task => CostKey::Task,
            By::Provider => CostKey::Provider,
            By::Project => CostKey::Project,
            By::Agent => CostKey::Agent,
        }
    }
}

pub fn run(config: &Config, args: CostArgs) -> Result<Outcome> {
    let since = if args.today {
        Some(tasklog_index::parse_time("today")?)
    } else {
        args.since
            .as_deref()
            .map(tasklog_index::parse_time)
            .transpose()?
    };
    let until = args
        .until
        .as_deref()
        .map(tasklog_index::parse_time)
        .transpose()?;
    let query = CostQuery {
        by: vec![args.by.into()],
        since,
        until,
    };
    let mut index = rows::open(config, args.archives)?;
    let mut rows = index.cost(&query)?;
    if rows.rows.is_empty() {
        errln!("tasklog: no model calls in that period");
        return Ok(Outcome::NothingFound);
    }
    let unpriced = index.unpriced(&query)?;
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

/// Where a summary line's label goes: the key column, after PostgreSQL's
/// `host_id` when there is one (the host of a summary is none).
fn label_column(rows: &Rows) -> usize {
    usize::from(rows.columns.first().is_some_and(|c| c == "host_id"))
}

fn push_total(rows: &mut Rows) {
    let at = label_column(rows);
    let mut total = vec![Value::Null; at];
    total.push(Value::from("TOTAL"));
    for col in at + 1..rows.columns.len() {
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
    errln!(
        "tasklog: {calls} call(s) with {tokens} tokens have no price and are not in cost_usd: {} (add them to a price file, see config/prices.toml)",
        models.join(", ")
    );
    let mut line = vec![Value::Null; rows.columns.len()];
    line[label_column(rows)] = format!("UNPRICED: {}", models.join(", ")).into();
    for (name, value) in [
        ("calls", calls),
        ("unpriced_calls", calls),
        ("unpriced_tokens", tokens),
    ] {
        if let Some(i) = rows.column(name) {
            line[i] = value.into();
        }
    }
    rows.rows.push(line);
}
