//! `tasklog show TASK`: the whole timeline of one task in time order:
//! documents, every record, tool calls with durations, model calls with
//! tokens and cost, quarantined lines; errors are marked `!!`.

use anyhow::Result;
use clap::Args;

use crate::cli::Format;
use crate::config::Config;
use crate::output;
use crate::rows;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The task id (its folder name), or a prefix of exactly one id.
    pub task: String,
    /// Include every record's and document's body.
    #[arg(long)]
    pub full: bool,
    /// Output format [default: table on a terminal, jsonl otherwise]
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

/// One row per document, record and quarantined line, in time order
/// (documents of the same time by name). `detail` summarizes
/// what matters per event kind; `error` is set on failures (tool.fail,
/// failed model calls, error-level system events, quarantined lines).
const SQL: &str = r#"
SELECT CASE WHEN error IS NOT NULL THEN '!!' ELSE '' END AS "!", ts, source, event, name, status,
       duration_ms, detail, error, body
FROM (
    SELECT d.updated_at AS ts, d.name || '.json' AS source, 'document' AS event, d.name AS name,
           NULL AS status, NULL AS duration_ms, 'version ' || d.version || ', ' || d.size || ' bytes' AS detail,
           NULL AS error, d.body AS body, 0 AS ord, 0 AS id
      FROM documents d WHERE d.task_id = ?1
    UNION ALL
    SELECT r.ts, r.stream || ':' || r.line, r.event, r.name, r.status, r.duration_ms,
           CASE
             WHEN r.event = 'llm.call' THEN
               coalesce(a.model, '?') || ' in ' || coalesce(a.tokens_input, '?')
               || CASE WHEN a.tokens_cached_read > 0 THEN ' (cache read ' || a.tokens_cached_read || ')' ELSE '' END
               || ' out ' || coalesce(a.tokens_output, '?')
               || CASE WHEN a.estimated_cost_usd IS NULL THEN ' unpriced'
                       ELSE ' $' || printf('%.6f', a.estimated_cost_usd) || ' (' || a.cost_source || ')' END
             WHEN r.event = 'tool.start' THEN substr(json_extract(r.body, '$.input'), 1, 200)
             WHEN r.event = 'tool.complete' THEN substr(json_extract(r.body, '$.output'), 1, 200)
             WHEN r.event = 'message' THEN r.role || ': ' || substr(json_extract(r.body, '$.content'), 1, 200)
             WHEN r.event = 'decision' THEN substr(json_extract(r.body, '$.reason'), 1, 200)
             WHEN r.event = 'system' THEN r.severity || ' ' || coalesce(r.component, '-') || ': ' || coalesce(json_extract(r.body, '$.message'), '')
             WHEN r.event = 'trigger' THEN coalesce(json_extract(r.body, '$.source'), '') || ' ' || substr(json_extract(r.body, '$.data'), 1, 200)
             WHEN r.event IN ('worker.spawn', 'worker.exit') THEN json_extract(r.body, '$.worker_id')
             WHEN r.event = 'worktree' THEN json_extract(r.body, '$.worktree_path') || ': ' || coalesce(json_extract(r.body, '$.reason'), '')
           END,
           CASE
             WHEN r.event IN ('tool.fail', 'llm.call') OR r.error IS NOT NULL
               THEN coalesce(r.error, json_extract(r.body, '$.error'))
             WHEN r.severity IN ('error', 'critical') THEN coalesce(json_extract(r.body, '$.message'), r.severity)
             WHEN r.status IN ('error', 'failed') THEN r.status
           END,
           r.body, 1, r.record_id
      FROM records r LEFT JOIN api_calls a ON a.call_id = r.record_id
     WHERE r.task_id = ?1
    UNION ALL
    SELECT e.detected_at, e.path || ':' || coalesce(e.line, '?'), 'quarantined', NULL, NULL, NULL,
           'byte ' || e."offset" || ': ' || coalesce(e.prefix, ''), e.reason, NULL, 2, e.error_id
      FROM ingest_errors e WHERE e.task_id = ?1 AND e.resolved_at IS NULL
)
ORDER BY ts, ord, id, source
"#;

/// [`SQL`] in PostgreSQL's dialect (JSON through `doc`, numbers cast to
/// text before `coalesce` with text, `to_char` for `printf`): the same rows.
const SQL_POSTGRES: &str = r#"
SELECT CASE WHEN error IS NOT NULL THEN '!!' ELSE '' END AS "!", ts, source, event, name, status,
       duration_ms, detail, error, body
FROM (
    SELECT d.updated_at AS ts, d.name || '.json' AS source, 'document' AS event, d.name AS name,
           NULL::text AS status, NULL::float8 AS duration_ms, 'version ' || d.version || ', ' || d.size || ' bytes' AS detail,
           NULL::text AS error, d.body AS body, 0 AS ord, 0::bigint AS id
      FROM documents d WHERE d.task_id = $1
    UNION ALL
    SELECT r.ts, r.stream || ':' || r.line, r.event, r.name, r.status, r.duration_ms,
           CASE
             WHEN r.event = 'llm.call' THEN
               coalesce(a.model, '?') || ' in ' || coalesce(a.tokens_input::text, '?')
               || CASE WHEN a.tokens_cached_read > 0 THEN ' (cache read ' || a.tokens_cached_read || ')' ELSE '' END
               || ' out ' || coalesce(a.tokens_output::text, '?')
               || CASE WHEN a.estimated_cost_usd IS NULL THEN ' unpriced'
                       ELSE ' $' || to_char(a.estimated_cost_usd, 'FM999999999990.000000') || ' (' || a.cost_source || ')' END
             WHEN r.event = 'tool.start' THEN substr(r.doc ->> 'input', 1, 200)
             WHEN r.event = 'tool.complete' THEN substr(r.doc ->> 'output', 1, 200)
             WHEN r.event = 'message' THEN r.role || ': ' || substr(r.doc ->> 'content', 1, 200)
             WHEN r.event = 'decision' THEN substr(r.doc ->> 'reason', 1, 200)
             WHEN r.event = 'system' THEN r.severity || ' ' || coalesce(r.component, '-') || ': ' || coalesce(r.doc ->> 'message', '')
             WHEN r.event = 'trigger' THEN coalesce(r.doc ->> 'source', '') || ' ' || substr(r.doc ->> 'data', 1, 200)
             WHEN r.event IN ('worker.spawn', 'worker.exit') THEN r.doc ->> 'worker_id'
             WHEN r.event = 'worktree' THEN (r.doc ->> 'worktree_path') || ': ' || coalesce(r.doc ->> 'reason', '')
           END,
           CASE
             WHEN r.event IN ('tool.fail', 'llm.call') OR r.error IS NOT NULL
               THEN coalesce(r.error, r.doc ->> 'error')
             WHEN r.severity IN ('error', 'critical') THEN coalesce(r.doc ->> 'message', r.severity)
             WHEN r.status IN ('error', 'failed') THEN r.status
           END,
           r.body, 1, r.record_id
      FROM records r LEFT JOIN api_calls a ON a.host_id = r.host_id AND a.call_id = r.record_id
     WHERE r.task_id = $1
    UNION ALL
    SELECT e.detected_at, e.path || ':' || coalesce(e.line::text, '?'), 'quarantined', NULL, NULL, NULL,
           'byte ' || e."offset" || ': ' || coalesce(e.prefix, ''), e.reason, NULL, 2, e.error_id
      FROM ingest_errors e WHERE e.task_id = $1 AND e.resolved_at IS NULL
) AS timeline
ORDER BY ts, ord, id, source
"#;

pub fn run(config: &Config, args: ShowArgs) -> Result<Outcome> {
    // On PostgreSQL: this host's task (or --host-id's).
    let mut index = rows::Index::open_for_task(config)?;
    let Some(task_id) = index.resolve_task(&args.task)? else {
        rows::unknown_task(&args.task);
        return Ok(Outcome::NothingFound);
    };
    let args = ShowArgs {
        task: task_id,
        ..args
    };
    let mut rows = match &mut index {
        rows::Index::Sqlite(conn) => rows::collect(conn, SQL, [&args.task])?,
        rows::Index::Postgres(pg) => rows::pg_collect(pg, SQL_POSTGRES, &[Some(&args.task)])?,
    };
    if !args.full {
        rows.columns.pop();
        for r in &mut rows.rows {
            r.pop();
        }
    }
    if rows.rows.is_empty() {
        errln!(
            "tasklog: task {:?} has no records or documents yet",
            args.task
        );
        return Ok(Outcome::NothingFound);
    }
    output::print(&rows, output::resolve(args.format))?;
    Ok(Outcome::Success)
}
