//! `tasklog tasks`: the task list with status, times, model calls, tokens and cost.

use anyhow::Result;
use clap::Args;

use crate::cli::Format;
use crate::config::Config;
use crate::output;
use crate::rows;
use crate::time_arg;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct TasksArgs {
    /// Only tasks with this status (detected, active, completed, failed, ...).
    #[arg(long, value_name = "S")]
    pub status: Option<String>,
    /// Only tasks started at or after T (RFC 3339, YYYY-MM-DD, or 7d / 24h ago).
    #[arg(long, value_name = "T")]
    pub since: Option<String>,
    /// Only tasks started before T (same forms as --since).
    #[arg(long, value_name = "T")]
    pub until: Option<String>,
    /// Output format [default: table on a terminal, jsonl otherwise]
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

/// "Started" is the first of task.json's detected_at / created_at, else the
/// time the indexer first saw the folder; cost and tokens come from the rollup.
const SQL: &str = r#"
SELECT t.task_id, t.status, t.title,
       coalesce(t.detected_at, t.created_at, t.first_seen_at) AS started_at,
       t.updated_at,
       coalesce(t.completed_at, t.failed_at) AS finished_at,
       t.sealed,
       coalesce(sum(c.calls), 0) AS llm_calls,
       coalesce(sum(c.tokens_input + c.tokens_output), 0) AS tokens,
       round(coalesce(sum(c.cost_usd), 0), 6) AS cost_usd,
       coalesce(sum(c.unpriced_calls), 0) AS unpriced_calls
  FROM tasks t
  LEFT JOIN cost_rollup c ON c.task_id = t.task_id
 WHERE (?1 IS NULL OR t.status = ?1)
   AND (?2 IS NULL OR coalesce(t.detected_at, t.created_at, t.first_seen_at) >= ?2)
   AND (?3 IS NULL OR coalesce(t.detected_at, t.created_at, t.first_seen_at) < ?3)
 GROUP BY t.task_id
 ORDER BY started_at DESC, t.task_id
"#;

pub fn run(config: &Config, args: TasksArgs) -> Result<Outcome> {
    let since = args
        .since
        .as_deref()
        .map(time_arg::parse_time)
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(time_arg::parse_time)
        .transpose()?;
    let conn = tasklog_index::open_query_connection(&config.db)?;
    let rows = rows::collect(&conn, SQL, (args.status, since, until))?;
    if rows.rows.is_empty() {
        eprintln!("tasklog: no tasks match");
        return Ok(Outcome::NothingFound);
    }
    output::print(&rows, output::resolve(args.format))?;
    Ok(Outcome::Success)
}
