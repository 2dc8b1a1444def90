//! The PostgreSQL store's answers to the core's
//! [`Questions`](tasklog_tail::Questions): each question's statement in
//! PostgreSQL's dialect, giving the same columns and values as SQLite's
//! (`tasklog-sqlite/src/answers.rs`), with `host_id` as a column of its own
//! where two hosts may share a task id. Parameters are `$n`, bound as
//! literals by [`PgIndex::query_with`](super::PgIndex::query_with).

use crate::live;
use tasklog_tail::questions::cost::CostDialect;
use tasklog_tail::questions::live::TranscriptPage;
use tasklog_tail::{
    CostQuery, ExportSection, Questions, Result, SearchQuery, StoreKind, Table, TaskFilter,
    TaskPart,
};

use crate::questions::{COST_BY_CALL, COST_BY_DAY, COST_BY_TASK_DAY, TASKS, TASK_SUMMARY};
use crate::{PgIndex, PgRows};

/// SQLite's `TIMELINE` (JSON through `doc`, numbers cast to text before
/// `coalesce` with text, `to_char` for `printf`): the same rows. `$1` the
/// task, `$2` the limit (NULL: all).
pub const TIMELINE: &str = r#"
SELECT ts, source, event, name, status, duration_ms, detail, error, record_id, span_id, body
FROM (
    SELECT d.updated_at AS ts, d.name || '.json' AS source, 'document' AS event, d.name AS name,
           NULL::text AS status, NULL::float8 AS duration_ms, 'version ' || d.version || ', ' || d.size || ' bytes' AS detail,
           NULL::text AS error, NULL::bigint AS record_id, NULL::text AS span_id, d.body AS body, 0 AS ord, 0::bigint AS id
      FROM documents d WHERE d.task_id = $1::text
    UNION ALL
    SELECT r.ts, r.stream || ':' || r.line, r.event, r.name, r.status, r.duration_ms,
           CASE
             WHEN r.event = 'llm.call' THEN
               coalesce(a.model, '?') || ' in ' || coalesce(a.tokens_input::text, '?')
               || CASE WHEN a.tokens_cached_read > 0 THEN ' (cache read ' || a.tokens_cached_read || ')' ELSE '' END
               || ' out ' || coalesce(a.tokens_output::text, '?')
               || CASE WHEN a.estimated_cost_usd IS NULL THEN ' unpriced'
                       ELSE ' $' || to_char(a.estimated_cost_usd, 'FM999999999990.000000') || ' (' || a.cost_source || ')' END
             WHEN r.event = 'tool.start' THEN substr(x.j ->> 'input', 1, 200)
             WHEN r.event = 'tool.complete' THEN substr(x.j ->> 'output', 1, 200)
             WHEN r.event = 'message' THEN r.role || ': ' || substr(x.j ->> 'content', 1, 200)
             WHEN r.event = 'decision' THEN substr(x.j ->> 'reason', 1, 200)
             WHEN r.event = 'system' THEN r.severity || ' ' || coalesce(r.component, '-') || ': ' || coalesce(x.j ->> 'message', '')
             WHEN r.event = 'trigger' THEN coalesce(x.j ->> 'source', '') || ' ' || substr(x.j ->> 'data', 1, 200)
             WHEN r.event IN ('worker.spawn', 'worker.exit') THEN x.j ->> 'worker_id'
             WHEN r.event = 'worktree' THEN (x.j ->> 'worktree_path') || ': ' || coalesce(x.j ->> 'reason', '')
           END,
           CASE
             WHEN r.event IN ('tool.fail', 'llm.call') OR r.error IS NOT NULL
               THEN coalesce(r.error, x.j ->> 'error')
             WHEN r.severity IN ('error', 'critical') THEN coalesce(x.j ->> 'message', r.severity)
             WHEN r.status IN ('error', 'failed') THEN r.status
           END,
           r.record_id, r.span_id, r.body, 1, r.record_id
      FROM records r LEFT JOIN api_calls a ON a.host_id = r.host_id AND a.call_id = r.record_id
      -- The line as written (json keeps its text, as SQLite's json_extract
      -- reads it; jsonb would respace objects). Only where jsonb took the
      -- line: a \u0000 escape cannot be read out as text.
      CROSS JOIN LATERAL (SELECT CASE WHEN r.doc IS NOT NULL THEN r.body::json END AS j) x
     WHERE r.task_id = $1::text
    UNION ALL
    SELECT e.detected_at, e.path || ':' || coalesce(e.line::text, '?'), 'quarantined', NULL, NULL, NULL,
           'byte ' || e."offset" || ': ' || coalesce(e.prefix, ''), e.reason, NULL, NULL, NULL, 2, e.error_id
      FROM ingest_errors e WHERE e.task_id = $1::text AND e.resolved_at IS NULL
) AS timeline
ORDER BY ts COLLATE "C", ord, id, source COLLATE "C"
LIMIT $2::bigint
"#;

/// SQLite's `LAST_RECORDS`: `$1` the task, `$2` how many (NULL: all).
pub const LAST_RECORDS: &str = "SELECT record_id, ts, stream, event, name, status, body FROM (
    SELECT * FROM records WHERE task_id = $1::text ORDER BY record_id DESC LIMIT $2::bigint) AS last ORDER BY record_id";

/// SQLite's `RECORDS_AFTER`: `$1` the task, `$2` the record id, `$3` the limit.
pub const RECORDS_AFTER: &str =
    "SELECT record_id, ts, stream, event, name, status, body FROM records
    WHERE task_id = $1::text AND record_id > $2::bigint ORDER BY record_id LIMIT $3::bigint";

/// SQLite's export sections; the same text but `$1` and collation-exact order.
pub fn export_sql(section: ExportSection) -> &'static str {
    match section {
        ExportSection::Documents => "SELECT name, version, updated_at, body FROM documents WHERE task_id = $1::text ORDER BY name COLLATE \"C\"",
        ExportSection::Records => r#"SELECT stream, "offset", line, ts, event, body FROM records WHERE task_id = $1::text ORDER BY ts COLLATE "C", record_id"#,
        ExportSection::ToolCalls => "SELECT span_id, tool_name, status, duration_ms, started_at, completed_at, input, output, error FROM tool_calls WHERE task_id = $1::text ORDER BY started_at COLLATE \"C\", span_id COLLATE \"C\"",
        ExportSection::ApiCalls => "SELECT * FROM api_calls WHERE task_id = $1::text ORDER BY timestamp COLLATE \"C\", call_id",
        ExportSection::IngestErrors => r#"SELECT path, generation, "offset", length, line, reason, prefix, detected_at, kind AS error_kind, resolved_at FROM ingest_errors WHERE task_id = $1::text ORDER BY path COLLATE "C", "offset""#,
    }
}

/// SQLite's `TASK_COST`.
pub const TASK_COST: &str =
    "SELECT count(*) AS llm_calls, sum(tokens_input)::bigint AS tokens_input,
        sum(tokens_output)::bigint AS tokens_output,
        round(sum(estimated_cost_usd) * 1e6) / 1e6 AS cost_usd,
        count(*) FILTER (WHERE estimated_cost_usd IS NULL) AS unpriced_calls
   FROM api_calls WHERE task_id = $1::text";

/// SQLite's `DOCUMENTS`.
pub const DOCUMENTS: &str = "SELECT name, version, size, updated_at, body FROM documents WHERE task_id = $1::text ORDER BY name COLLATE \"C\"";

/// SQLite's `STREAMS`.
pub const STREAMS: &str = r#"SELECT name, "offset" AS bytes, line_count AS records FROM files
    WHERE task_id = $1::text AND kind = 'stream' ORDER BY name COLLATE "C""#;

/// SQLite's `TASK_IDS_STARTING` (distinct: several hosts may have the task).
pub const TASK_IDS_STARTING: &str = "SELECT task_id FROM tasks
 WHERE substr(task_id, 1, length($1::text)) = $1::text GROUP BY task_id
 ORDER BY task_id <> $1::text, task_id COLLATE \"C\" LIMIT 11";

/// SQLite's `part_sql`: `$1` the task, `$2` the limit (NULL: all).
pub fn part_sql(part: TaskPart) -> &'static str {
    match part {
        TaskPart::ToolCalls => "SELECT id, span_id, tool_name, status, input, output, error, duration_ms, started_at, completed_at
   FROM tool_calls WHERE task_id = $1::text ORDER BY started_at COLLATE \"C\", id LIMIT $2::bigint",
        TaskPart::Decisions => "SELECT flow_id, timestamp, decision_point, function_name, decision_input, decision_output,
        decision_reason, duration_ms
   FROM logic_flow WHERE flow_id IN (SELECT record_id FROM records WHERE task_id = $1::text AND event = 'decision')
  ORDER BY timestamp COLLATE \"C\", flow_id LIMIT $2::bigint",
        TaskPart::Conversation => "SELECT conversation_id, message_index, block_index, timestamp, role, content_type, content,
        tool_name, tool_input, tool_output, tool_success
   FROM conversations WHERE conversation_id IN (SELECT record_id FROM records WHERE task_id = $1::text AND event = 'message')
  ORDER BY timestamp COLLATE \"C\", conversation_id, block_index LIMIT $2::bigint",
        TaskPart::Quarantined => r#"SELECT path, line, "offset", reason, prefix, detected_at FROM ingest_errors
    WHERE task_id = $1::text ORDER BY path COLLATE "C", "offset" LIMIT $2::bigint"#,
        TaskPart::Errors => r#"SELECT r.record_id, coalesce(s.record_id, r.record_id) AS at, r.ts, r.event,
       coalesce(r.tool_name, r.name) AS name,
       coalesce(r.error, r.doc ->> 'error',
                CASE WHEN r.severity IN ('error', 'critical') THEN coalesce(r.doc ->> 'message', r.severity) END,
                r.status) AS error
  FROM records r
  LEFT JOIN records s ON r.event = 'tool.fail' AND s.span_id = r.span_id AND s.task_id = r.task_id
       AND s.host_id = r.host_id AND s.event = 'tool.start'
 WHERE r.task_id = $1::text
   AND (r.event = 'tool.fail' OR r.error IS NOT NULL OR r.severity IN ('error', 'critical')
        OR (r.event = 'llm.call' AND r.status IN ('error', 'failed'))
        OR (r.event <> 'tool.start' AND jsonb_typeof(r.doc -> 'error') IN ('object', 'string')))
 ORDER BY r.ts COLLATE "C", r.record_id
 LIMIT $2::bigint"#,
        TaskPart::Counts => "SELECT count(*) AS records, count(*) FILTER (WHERE event = 'tool.start') AS tool_calls
   FROM records WHERE task_id = $1::text AND coalesce($2::bigint, 1) <> 0",
    }
}

/// SQLite's `UNPRICED_CALLS`.
pub const UNPRICED_CALLS: &str =
    "SELECT call_id, timestamp, task_id, model, provider, tokens_input, tokens_output
   FROM api_calls WHERE cost_source = 'unpriced'
    AND ($1::text IS NULL OR timestamp >= $1::text) AND ($2::text IS NULL OR timestamp < $2::text)
  ORDER BY timestamp COLLATE \"C\" DESC, call_id DESC LIMIT $3::bigint";

/// The search of `questions.rs` (`SEARCH`, full text by
/// `websearch_to_tsquery`) in the columns of SQLite's: the host's record
/// id and the task's title joined, `host_id` kept first; best first, ties
/// by time and place (`$1` words, `$2` task, `$3` limit, `$4` host).
static SEARCH_ROWS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT s.host_id, s.ts, s.task_id, s.source, s.event, s.name, s.snippet, s.rank, r.record_id, t.title
           FROM ({}) AS s
           LEFT JOIN records r ON r.host_id = s.host_id AND r.task_id = s.task_id
                AND r.stream || ':' || r.line = s.source
           LEFT JOIN tasks t ON t.host_id = s.host_id AND t.task_id = s.task_id
          ORDER BY s.rank, s.ts COLLATE \"C\", s.task_id COLLATE \"C\", s.source COLLATE \"C\", s.host_id",
        crate::questions::SEARCH
    )
});

/// What a search box means, in `websearch_to_tsquery`'s syntax: each word
/// and "quoted phrase" quoted, all required (so `or` and `-x` are words).
fn websearch_words(text: &str) -> String {
    tasklog_tail::search_terms(text)
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', " ")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The task's row as stored.
pub const TASK_ROW: &str = "SELECT * FROM tasks WHERE task_id = $1::text ORDER BY host_id";

/// PostgreSQL's cost dialect: sums of bigints are numeric here, cast back.
pub const COST: CostDialect = CostDialect {
    by_task_day: COST_BY_TASK_DAY,
    by_day: COST_BY_DAY,
    by_call: COST_BY_CALL,
    hosts: true,
    int_cast: "::bigint",
    round6: "round({}::numeric, 6)::float8",
};

/// The answers of one PostgreSQL index (all hosts, or the one it was
/// narrowed to).
#[derive(Debug)]
pub struct PgQuestions {
    index: PgIndex,
}

impl PgQuestions {
    /// Answers from `index`.
    pub fn new(index: PgIndex) -> PgQuestions {
        PgQuestions { index }
    }

    fn collect(&mut self, sql: &str, params: &[Option<&str>]) -> Result<Table> {
        let PgRows { columns, rows } = self.index.query_with(sql, params)?;
        Ok(Table { columns, rows })
    }

    fn tasks_params(f: &TaskFilter, limit: Option<u64>, offset: u64) -> Vec<Option<String>> {
        vec![
            f.status.clone(),
            f.since.clone(),
            f.until.clone(),
            f.text.clone(),
            limit.map(|l| l.to_string()),
            Some(offset.to_string()),
            f.agent.clone(),
            f.project.clone(),
            f.model.clone(),
            f.errors.then(|| "1".to_owned()),
            Some(f.sort.key().to_owned()),
            Some(if f.ascending { "asc" } else { "desc" }.to_owned()),
        ]
    }
}

fn refs(v: &[Option<String>]) -> Vec<Option<&str>> {
    v.iter().map(Option::as_deref).collect()
}

impl Questions for PgQuestions {
    fn kind(&self) -> StoreKind {
        StoreKind::Postgres
    }

    fn task_ids_starting(&mut self, given: &str) -> Result<Vec<String>> {
        let t = self.collect(TASK_IDS_STARTING, &[Some(given)])?;
        Ok(t.rows
            .into_iter()
            .filter_map(|r| r.into_iter().next()?.as_str().map(str::to_owned))
            .collect())
    }

    fn tasks(&mut self, f: &TaskFilter) -> Result<Table> {
        let p = Self::tasks_params(f, f.limit, f.offset);
        self.collect(TASKS, &refs(&p))
    }

    fn count_tasks(&mut self, f: &TaskFilter) -> Result<u64> {
        let p = Self::tasks_params(f, None, 0);
        let t = self.collect(&format!("SELECT count(*) FROM ({TASKS}) AS n"), &refs(&p))?;
        Ok(t.rows
            .first()
            .and_then(|r| r.first())
            .and_then(|v| v.as_u64())
            .unwrap_or(0))
    }

    fn task_summary(&mut self, task: &str) -> Result<Table> {
        self.collect(
            &format!("{TASK_SUMMARY} ORDER BY host_id COLLATE \"C\""),
            &[Some(task)],
        )
    }

    fn task_row(&mut self, task: &str) -> Result<Table> {
        self.collect(TASK_ROW, &[Some(task)])
    }

    fn timeline(&mut self, task: &str, limit: Option<u64>) -> Result<Table> {
        let limit = limit.map(|l| l.to_string());
        self.collect(TIMELINE, &[Some(task), limit.as_deref()])
    }

    fn cost(&mut self, query: &CostQuery) -> Result<Table> {
        let sql = COST.compose(query);
        self.collect(&sql.report, &[sql.lo.as_deref(), sql.hi.as_deref()])
    }

    fn unpriced(&mut self, query: &CostQuery) -> Result<Table> {
        let sql = COST.compose(query);
        self.collect(&sql.unpriced, &[sql.lo.as_deref(), sql.hi.as_deref()])
    }

    fn search(&mut self, q: &SearchQuery) -> Result<Table> {
        let words = if q.raw {
            q.text.clone()
        } else {
            websearch_words(&q.text)
        };
        let limit = q.limit.to_string();
        self.collect(
            &SEARCH_ROWS,
            &[Some(&words), q.task.as_deref(), Some(&limit), None],
        )
    }

    fn last_records(&mut self, task: &str, n: Option<u64>) -> Result<Table> {
        let n = n.map(|n| n.to_string());
        self.collect(LAST_RECORDS, &[Some(task), n.as_deref()])
    }

    fn records_after(&mut self, task: &str, record_id: i64, limit: u64) -> Result<Table> {
        let (id, limit) = (record_id.to_string(), limit.to_string());
        self.collect(RECORDS_AFTER, &[Some(task), Some(&id), Some(&limit)])
    }

    fn export(&mut self, task: &str, section: ExportSection) -> Result<Table> {
        self.collect(export_sql(section), &[Some(task)])
    }

    fn task_cost(&mut self, task: &str) -> Result<Table> {
        self.collect(TASK_COST, &[Some(task)])
    }

    fn task_part(&mut self, task: &str, part: TaskPart, limit: Option<u64>) -> Result<Table> {
        let limit = limit.map(|l| l.to_string());
        self.collect(part_sql(part), &[Some(task), limit.as_deref()])
    }

    fn unpriced_calls(
        &mut self,
        since: Option<&str>,
        until: Option<&str>,
        limit: u64,
    ) -> Result<Table> {
        let limit = limit.to_string();
        self.collect(UNPRICED_CALLS, &[since, until, Some(&limit)])
    }

    fn documents(&mut self, task: &str) -> Result<Table> {
        self.collect(DOCUMENTS, &[Some(task)])
    }

    fn streams(&mut self, task: &str) -> Result<Table> {
        self.collect(STREAMS, &[Some(task)])
    }

    fn query(&mut self, sql: &str) -> Result<Table> {
        let PgRows { columns, rows } = self.index.query(sql)?;
        Ok(Table { columns, rows })
    }

    fn transcript_rows(&mut self, page: &TranscriptPage<'_>) -> Result<Table> {
        let (cmp, dir) = if page.backwards {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        let sql = live::TRANSCRIPT_PAGE
            .replace("{cmp}", cmp)
            .replace("{dir}", dir);
        let hidden = serde_json::to_string(page.hidden).unwrap_or_else(|_| "[]".into());
        let (id, sources, limit) = (
            page.after_id.to_string(),
            page.with_sources.to_string(),
            page.limit.to_string(),
        );
        self.collect(
            &sql,
            &[
                Some(page.task),
                Some(page.after_ts),
                Some(&id),
                Some(&sources),
                Some(&hidden),
                Some(&limit),
            ],
        )
    }

    fn source_streams(&mut self, task: &str) -> Result<Vec<String>> {
        Ok(self.collect(live::SOURCE_STREAMS, &[Some(task)])?.texts(0))
    }

    fn transcript_anchor(&mut self, task: &str, record_id: i64) -> Result<Option<(String, i64)>> {
        let id = record_id.to_string();
        let found = self.collect(live::ANCHOR, &[Some(&id), Some(task)])?;
        Ok(found.text_and_integer())
    }

    fn has_records_through(&mut self, task: &str, ts: &str, record_id: i64) -> Result<bool> {
        let id = record_id.to_string();
        let found = self.collect(
            live::HAS_RECORDS_THROUGH,
            &[Some(task), Some(ts), Some(&id)],
        )?;
        Ok(found.integer().unwrap_or(0) != 0)
    }

    fn documents_between(
        &mut self,
        task: &str,
        lo: Option<&str>,
        hi: Option<&str>,
        backwards: bool,
    ) -> Result<Table> {
        let sql = if backwards {
            live::DOCUMENTS_BACKWARDS
        } else {
            live::DOCUMENTS_FORWARDS
        };
        self.collect(sql, &[Some(task), lo, hi])
    }

    fn stream_records(
        &mut self,
        task: &str,
        stream: &str,
        after: i64,
        limit: Option<u64>,
    ) -> Result<Table> {
        let (after, limit) = (after.to_string(), limit.map(|l| l.to_string()));
        self.collect(
            live::STREAM_RECORDS,
            &[Some(task), Some(stream), Some(&after), limit.as_deref()],
        )
    }

    fn newest_record_id(&mut self) -> Result<i64> {
        Ok(self.collect(live::NEWEST, &[])?.integer().unwrap_or(0))
    }

    fn records_since(
        &mut self,
        after: i64,
        also: &[i64],
        task: Option<&str>,
        limit: u64,
        max_bytes: u64,
    ) -> Result<Table> {
        let bytes = max_bytes.min(i64::MAX as u64).to_string();
        let (after, limit) = (after.to_string(), limit.to_string());
        let also = serde_json::to_string(also).unwrap_or_else(|_| "[]".into());
        self.collect(
            live::FEED,
            &[Some(&after), Some(&also), task, Some(&limit), Some(&bytes)],
        )
    }
}
