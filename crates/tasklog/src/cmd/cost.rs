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
    /// the task's project (its cwd or repository)
    Project,
    /// the agent that ran the task (claude-code, codex, ...)
    Agent,
}

impl By {
    fn column(self) -> &'static str {
        match self {
            By::Model => "model",
            By::Day => "day",
            By::Task => "task_id",
            By::Provider => "provider",
            By::Project => "project",
            By::Agent => "agent",
        }
    }

    /// Groupings that need each row's task (the per-task rollup or the calls).
    fn per_task(self) -> bool {
        matches!(self, By::Task | By::Project | By::Agent)
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
    let mut index = rows::Index::open(config, args.archives)?;
    let q = Dialect::of(&index);
    // Whole-day bounds read the daily rollup; others need the calls themselves.
    let days = (
        since.as_deref().map(time_arg::whole_day),
        until.as_deref().map(time_arg::whole_day),
    );
    let (source, lo, hi) = match days {
        (None | Some(Some(_)), None | Some(Some(_))) => (
            // Per task needs the per-task rollup; the rest read the
            // per-day one, tens of rows a day.
            if args.by.per_task() {
                q.by_task_day
            } else {
                q.by_day
            },
            days.0.flatten().map(str::to_owned),
            days.1.flatten().map(str::to_owned),
        ),
        _ => (q.by_call, since, until),
    };
    let key = args.by.column();
    let postgres = matches!(index, rows::Index::Postgres(_));
    // Project and agent are facts of the task each row belongs to: the rows
    // are joined to their task inside a subquery, so that the sums outside
    // see the cost columns only.
    let source = match args.by {
        By::Project | By::Agent => {
            let fact = task_fact(&mut index, key)?;
            let on = if postgres {
                "t.host_id = calls.host_id AND t.task_id = calls.task_id"
            } else {
                "t.task_id = calls.task_id"
            };
            format!(
                "SELECT calls.*, {fact} AS {key} FROM ({source}) AS calls LEFT JOIN tasks t ON {on}"
            )
        }
        _ => source.to_owned(),
    };
    // Two hosts may both have a task of that name: on PostgreSQL the host
    // is a column of its own before the task, never folded into its name.
    let (host, keys) = if postgres && args.by == By::Task {
        ("host_id, ", "1, 2")
    } else {
        ("", "1")
    };
    let (sums, alias) = (q.sums, q.alias);
    // Days in calendar order (a report over time); the rest costliest first.
    let order = if args.by == By::Day {
        keys.to_owned()
    } else {
        format!("sum(cost_usd) DESC, {keys}")
    };
    let sql = format!(
        "SELECT {host}coalesce(nullif({key}, ''), '(none)') AS {key}, {sums}
           FROM ({source}) {alias} GROUP BY {keys} ORDER BY {order}"
    );
    let mut rows = collect(&mut index, &sql, &lo, &hi)?;
    if rows.rows.is_empty() {
        errln!("tasklog: no model calls in that period");
        return Ok(Outcome::NothingFound);
    }
    let unpriced = collect(
        &mut index,
        &format!(
            "SELECT coalesce(nullif(model, ''), '(none)'), {}, {}
               FROM ({source}) {alias} WHERE unpriced_calls > 0 GROUP BY 1 ORDER BY 1",
            q.sum("unpriced_calls"),
            q.sum("unpriced_tokens")
        ),
        &lo,
        &hi,
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

/// The expression of a task fact (`project`, `agent`) of `tasks t`: the
/// index's column of that name when it has one (task facts, issue 20), else
/// task.json's key of that name (what the importers write).
fn task_fact(index: &mut rows::Index, fact: &str) -> Result<String> {
    Ok(match index {
        rows::Index::Sqlite(conn) => {
            let has: bool = conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM pragma_table_info('tasks') WHERE name = ?1)",
                [fact],
                |r| r.get(0),
            )?;
            if has {
                format!("coalesce(t.{fact}, json_extract(t.document, '$.{fact}'))")
            } else {
                format!("json_extract(t.document, '$.{fact}')")
            }
        }
        rows::Index::Postgres(pg) => {
            let has = !pg
                .query_with(
                    "SELECT 1 FROM information_schema.columns WHERE table_name = 'tasks' AND column_name = $1",
                    &[Some(fact)],
                )?
                .rows
                .is_empty();
            if has {
                format!("coalesce(t.{fact}, t.document::jsonb ->> '{fact}')")
            } else {
                format!("(t.document::jsonb ->> '{fact}')")
            }
        }
    })
}

/// The statements of one index's dialect.
struct Dialect {
    by_task_day: &'static str,
    by_day: &'static str,
    by_call: &'static str,
    /// The summed columns of a group.
    sums: &'static str,
    /// PostgreSQL wants a subquery named.
    alias: &'static str,
    /// What makes a sum of integers an integer (PostgreSQL's is numeric).
    int_cast: &'static str,
}

impl Dialect {
    fn of(index: &rows::Index) -> Dialect {
        match index {
            rows::Index::Sqlite(_) => Dialect {
                by_task_day: tasklog_index::COST_BY_TASK_DAY,
                by_day: tasklog_index::COST_BY_DAY,
                by_call: tasklog_index::COST_BY_CALL,
                sums: "sum(calls) AS calls,
                sum(tokens_input) AS tokens_input, sum(tokens_output) AS tokens_output,
                sum(tokens_cached_read) AS tokens_cached_read, sum(tokens_cached_write) AS tokens_cached_write,
                round(sum(cost_usd), 6) AS cost_usd, sum(unpriced_calls) AS unpriced_calls",
                alias: "",
                int_cast: "",
            },
            // Sums of bigints are numeric in PostgreSQL: cast back.
            rows::Index::Postgres(_) => Dialect {
                by_task_day: crate::pg::questions::COST_BY_TASK_DAY,
                by_day: crate::pg::questions::COST_BY_DAY,
                by_call: crate::pg::questions::COST_BY_CALL,
                sums: "sum(calls)::bigint AS calls,
                sum(tokens_input)::bigint AS tokens_input, sum(tokens_output)::bigint AS tokens_output,
                sum(tokens_cached_read)::bigint AS tokens_cached_read,
                sum(tokens_cached_write)::bigint AS tokens_cached_write,
                round(sum(cost_usd)::numeric, 6)::float8 AS cost_usd,
                sum(unpriced_calls)::bigint AS unpriced_calls",
                alias: "AS calls",
                int_cast: "::bigint",
            },
        }
    }

    fn sum(&self, column: &str) -> String {
        format!("sum({column}){}", self.int_cast)
    }
}

/// Runs a cost statement with its two bounds on either index.
fn collect(
    index: &mut rows::Index,
    sql: &str,
    lo: &Option<String>,
    hi: &Option<String>,
) -> Result<Rows> {
    match index {
        rows::Index::Sqlite(conn) => rows::collect(conn, sql, (lo, hi)),
        rows::Index::Postgres(pg) => rows::pg_collect(pg, sql, &[lo.as_deref(), hi.as_deref()]),
    }
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
    for name in ["calls", "unpriced_calls"] {
        if let Some(i) = rows.columns.iter().position(|c| c == name) {
            line[i] = calls.into();
        }
    }
    rows.rows.push(line);
}
