//! The SQLite store's answers to the core's [`Questions`]: each question's
//! statement in SQLite's dialect, beside the PostgreSQL one of
//! `tasklog-postgres/src/answers.rs` (the same columns and values; the
//! parity tests compare them). The task list and cost sources are the
//! constants of `questions.rs`, which the server used before this seam.

use std::borrow::Borrow;

use rusqlite::{Connection, Params};
use tasklog_tail::questions::cost::CostDialect;
use tasklog_tail::{
    questions::live::TranscriptPage, CostQuery, ExportSection, Questions, Result, SearchQuery,
    StoreKind, Table, TaskFilter, TaskPart,
};

use crate::error::sqlite_error;
use crate::live;
use crate::questions::{
    json_value, COST_BY_CALL, COST_BY_DAY, COST_BY_TASK_DAY, TASKS, TASK_IDS_STARTING, TASK_SUMMARY,
};

/// The timeline of one task (`?1`): documents, records and open quarantined
/// lines in time order, `?2` rows at most (-1: all). `detail` summarizes
/// what matters per event kind; `error` is set on failures (tool.fail,
/// failed model calls, error-level system events, quarantined lines).
pub const TIMELINE: &str = r#"
SELECT ts, source, event, name, status, duration_ms, detail, error, record_id, span_id, body
FROM (
    SELECT d.updated_at AS ts, d.name || '.json' AS source, 'document' AS event, d.name AS name,
           NULL AS status, NULL AS duration_ms, 'version ' || d.version || ', ' || d.size || ' bytes' AS detail,
           NULL AS error, NULL AS record_id, NULL AS span_id, d.body AS body, 0 AS ord, 0 AS id
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
           r.record_id, r.span_id, r.body, 1, r.record_id
      FROM records r LEFT JOIN api_calls a ON a.call_id = r.record_id
     WHERE r.task_id = ?1
    UNION ALL
    SELECT e.detected_at, e.path || ':' || coalesce(e.line, '?'), 'quarantined', NULL, NULL, NULL,
           'byte ' || e."offset" || ': ' || coalesce(e.prefix, ''), e.reason, NULL, NULL, NULL, 2, e.error_id
      FROM ingest_errors e WHERE e.task_id = ?1 AND e.resolved_at IS NULL
)
ORDER BY ts, ord, id, source
LIMIT ?2
"#;

/// Full-text search (FTS5, contentless `records_fts`; the text comes from
/// `records_fts_source`): `?1` the FTS5 query, `?2` the task or NULL, `?3`
/// the limit.
pub const SEARCH: &str = r#"
SELECT r.ts, r.task_id, r.stream || ':' || r.line AS source, r.event, r.name,
       substr(s.text, 1, 100000) AS snippet, round(f.rank, 3) AS rank, r.record_id, t.title
  FROM records_fts f
  JOIN records r ON r.record_id = f.rowid
  JOIN records_fts_source s ON s.rowid = f.rowid
  LEFT JOIN tasks t ON t.task_id = r.task_id
 WHERE records_fts MATCH ?1 AND (?2 IS NULL OR r.task_id = ?2)
 ORDER BY f.rank, r.record_id
 LIMIT ?3
"#;

/// The last `?2` records of task `?1` (-1: all), in index order.
pub const LAST_RECORDS: &str = "SELECT record_id, ts, stream, event, name, status, body FROM (
    SELECT * FROM records WHERE task_id = ?1 ORDER BY record_id DESC LIMIT ?2) AS last ORDER BY record_id";

/// Records of task `?1` after record `?2`, at most `?3`.
pub const RECORDS_AFTER: &str =
    "SELECT record_id, ts, stream, event, name, status, body FROM records
    WHERE task_id = ?1 AND record_id > ?2 ORDER BY record_id LIMIT ?3";

/// The sections of `tasklog export` (`?1` the task). Written in SQL both
/// dialects read alike; PostgreSQL's copy is the same text with `$1`.
pub fn export_sql(section: ExportSection) -> &'static str {
    match section {
        ExportSection::Documents => "SELECT name, version, updated_at, body FROM documents WHERE task_id = ?1 ORDER BY name",
        ExportSection::Records => r#"SELECT stream, "offset", line, ts, event, body FROM records WHERE task_id = ?1 ORDER BY ts, record_id"#,
        ExportSection::ToolCalls => "SELECT span_id, tool_name, status, duration_ms, started_at, completed_at, input, output, error FROM tool_calls WHERE task_id = ?1 ORDER BY started_at, span_id",
        ExportSection::ApiCalls => "SELECT * FROM api_calls WHERE task_id = ?1 ORDER BY timestamp, call_id",
        ExportSection::IngestErrors => r#"SELECT path, generation, "offset", length, line, reason, prefix, detected_at, kind AS error_kind, resolved_at FROM ingest_errors WHERE task_id = ?1 ORDER BY path, "offset""#,
    }
}

/// A task's model calls in one row (round of a double to 6 places is
/// `round(x * 1e6) / 1e6` in both dialects).
pub const TASK_COST: &str = "SELECT count(*) AS llm_calls, sum(tokens_input) AS tokens_input, sum(tokens_output) AS tokens_output,
        round(sum(estimated_cost_usd) * 1e6) / 1e6 AS cost_usd,
        count(*) FILTER (WHERE estimated_cost_usd IS NULL) AS unpriced_calls
   FROM api_calls WHERE task_id = ?1";

/// A task's documents.
pub const DOCUMENTS: &str =
    "SELECT name, version, size, updated_at, body FROM documents WHERE task_id = ?1 ORDER BY name";

/// A task's streams, from the checkpoints.
pub const STREAMS: &str = r#"SELECT name, "offset" AS bytes, line_count AS records FROM files
    WHERE task_id = ?1 AND kind = 'stream' ORDER BY name"#;

/// The parts of a task's page (`?1` the task, `?2` the limit, -1: all).
/// `logic_flow` and `conversations` have no index by task: their rows are
/// reached through the task's records (`+event` keeps SQLite on
/// `records(task_id, ts)` rather than reading every row of the kind).
pub fn part_sql(part: TaskPart) -> &'static str {
    match part {
        TaskPart::ToolCalls => "SELECT id, span_id, tool_name, status, input, output, error, duration_ms, started_at, completed_at
   FROM tool_calls WHERE task_id = ?1 ORDER BY started_at, id LIMIT ?2",
        TaskPart::Decisions => "SELECT flow_id, timestamp, decision_point, function_name, decision_input, decision_output,
        decision_reason, duration_ms
   FROM logic_flow WHERE flow_id IN (SELECT record_id FROM records WHERE task_id = ?1 AND +event = 'decision')
  ORDER BY timestamp, flow_id LIMIT ?2",
        TaskPart::Conversation => "SELECT conversation_id, message_index, block_index, timestamp, role, content_type, content,
        tool_name, tool_input, tool_output, tool_success
   FROM conversations WHERE conversation_id IN (SELECT record_id FROM records WHERE task_id = ?1 AND +event = 'message')
  ORDER BY timestamp, conversation_id, block_index LIMIT ?2",
        TaskPart::Quarantined => r#"SELECT path, line, "offset", reason, prefix, detected_at FROM ingest_errors
    WHERE task_id = ?1 ORDER BY path, "offset" LIMIT ?2"#,
        TaskPart::Errors => r#"SELECT r.record_id, coalesce(s.record_id, r.record_id) AS at, r.ts, r.event,
       coalesce(r.tool_name, r.name) AS name,
       coalesce(r.error, json_extract(r.body, '$.error'),
                CASE WHEN r.severity IN ('error', 'critical') THEN coalesce(json_extract(r.body, '$.message'), r.severity) END,
                r.status) AS error
  FROM records r
  LEFT JOIN records s ON r.event = 'tool.fail' AND s.span_id = r.span_id AND s.task_id = r.task_id AND s.event = 'tool.start'
 WHERE r.task_id = ?1
   AND (r.event = 'tool.fail' OR r.error IS NOT NULL OR r.severity IN ('error', 'critical')
        OR (r.event = 'llm.call' AND r.status IN ('error', 'failed'))
        OR (r.event <> 'tool.start' AND json_type(r.body, '$.error') IN ('object', 'text')))
 ORDER BY r.ts, r.record_id
 LIMIT ?2"#,
        TaskPart::Counts => "SELECT count(*) AS records, count(*) FILTER (WHERE event = 'tool.start') AS tool_calls
   FROM records WHERE task_id = ?1 AND ?2 <> 0",
    }
}

/// Unpriced model calls, latest first: `?1` since, `?2` until (NULL: open), `?3` the limit.
pub const UNPRICED_CALLS: &str =
    "SELECT call_id, timestamp, task_id, model, provider, tokens_input, tokens_output
   FROM api_calls WHERE cost_source = 'unpriced'
    AND (?1 IS NULL OR timestamp >= ?1) AND (?2 IS NULL OR timestamp < ?2)
  ORDER BY timestamp DESC, call_id DESC LIMIT ?3";

/// The task's row as stored.
pub const TASK_ROW: &str = "SELECT * FROM tasks WHERE task_id = ?1";

/// SQLite's cost dialect.
pub const COST: CostDialect = CostDialect {
    by_task_day: COST_BY_TASK_DAY,
    by_day: COST_BY_DAY,
    by_call: COST_BY_CALL,
    hosts: false,
    int_cast: "",
    round6: "round({}, 6)",
};

/// `text` as an FTS5 query: each term a quoted FTS5 string (a phrase when
/// it has several words), all of them required.
pub fn fts_query(text: &str) -> String {
    tasklog_tail::search_terms(text)
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The answers of one SQLite index, over a read-only connection (owned, or
/// borrowed from a pool: `C` is `Connection` or `&Connection`).
pub struct SqliteQuestions<C = Connection> {
    conn: C,
    /// The database file, for messages.
    at: String,
}

impl<C: Borrow<Connection>> SqliteQuestions<C> {
    /// Answers from `conn` (opened by `open_query_connection`), which reads `at`.
    pub fn new(conn: C, at: impl Into<String>) -> SqliteQuestions<C> {
        SqliteQuestions {
            conn,
            at: at.into(),
        }
    }

    /// The connection, for what is not a question (the server's streams of events).
    pub fn connection(&self) -> &Connection {
        self.conn.borrow()
    }

    fn collect(&self, sql: &str, params: impl Params) -> Result<Table> {
        self.collect_while(sql, params, |_| true)
    }

    /// [`Self::collect`], stopping before the first row `keep` refuses.
    fn collect_while(
        &self,
        sql: &str,
        params: impl Params,
        mut keep: impl FnMut(&[serde_json::Value]) -> bool,
    ) -> Result<Table> {
        let err = |op| move |e| sqlite_error(&self.at, op, e);
        let conn = self.conn.borrow();
        let mut stmt = conn.prepare_cached(sql).map_err(err("invalid SQL"))?;
        let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
        let n = columns.len();
        let mut out = Table {
            columns,
            rows: Vec::new(),
        };
        let mut rows = stmt.query(params).map_err(err("query failed"))?;
        while let Some(row) = rows.next().map_err(err("query failed"))? {
            let row: Vec<serde_json::Value> = (0..n)
                .map(|i| row.get_ref(i).map(json_value))
                .collect::<rusqlite::Result<_>>()
                .map_err(err("query failed"))?;
            if !keep(&row) {
                break;
            }
            out.rows.push(row);
        }
        Ok(out)
    }

    /// The twelve parameters of [`TASKS`] (more than rusqlite's tuples take).
    fn tasks_params(
        f: &TaskFilter,
        limit: i64,
        offset: i64,
    ) -> rusqlite::ParamsFromIter<Vec<rusqlite::types::Value>> {
        use rusqlite::types::Value as V;
        let text = |s: &Option<String>| s.clone().map_or(V::Null, V::Text);
        rusqlite::params_from_iter(vec![
            text(&f.status),
            text(&f.since),
            text(&f.until),
            text(&f.text),
            V::Integer(limit),
            V::Integer(offset),
            text(&f.agent),
            text(&f.project),
            text(&f.model),
            if f.errors { V::Integer(1) } else { V::Null },
            V::Text(f.sort.key().to_owned()),
            V::Text(if f.ascending { "asc" } else { "desc" }.to_owned()),
        ])
    }
}

fn signed(n: Option<u64>) -> i64 {
    n.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX))
}

impl<C: Borrow<Connection>> Questions for SqliteQuestions<C> {
    fn kind(&self) -> StoreKind {
        StoreKind::Sqlite
    }

    fn task_ids_starting(&mut self, given: &str) -> Result<Vec<String>> {
        let t = self.collect(TASK_IDS_STARTING, [given])?;
        Ok(t.rows
            .into_iter()
            .filter_map(|r| r.into_iter().next()?.as_str().map(str::to_owned))
            .collect())
    }

    fn tasks(&mut self, f: &TaskFilter) -> Result<Table> {
        let offset = i64::try_from(f.offset).unwrap_or(i64::MAX);
        self.collect(TASKS, Self::tasks_params(f, signed(f.limit), offset))
    }

    fn count_tasks(&mut self, f: &TaskFilter) -> Result<u64> {
        let t = self.collect(
            &format!("SELECT count(*) FROM ({TASKS})"),
            Self::tasks_params(f, -1, 0),
        )?;
        Ok(t.rows
            .first()
            .and_then(|r| r.first())
            .and_then(|v| v.as_u64())
            .unwrap_or(0))
    }

    fn task_summary(&mut self, task: &str) -> Result<Table> {
        self.collect(TASK_SUMMARY, [task])
    }

    fn task_row(&mut self, task: &str) -> Result<Table> {
        self.collect(TASK_ROW, [task])
    }

    fn timeline(&mut self, task: &str, limit: Option<u64>) -> Result<Table> {
        self.collect(TIMELINE, (task, signed(limit)))
    }

    fn cost(&mut self, query: &CostQuery) -> Result<Table> {
        let sql = COST.compose(query);
        self.collect(&sql.report, (&sql.lo, &sql.hi))
    }

    fn unpriced(&mut self, query: &CostQuery) -> Result<Table> {
        let sql = COST.compose(query);
        self.collect(&sql.unpriced, (&sql.lo, &sql.hi))
    }

    fn search(&mut self, q: &SearchQuery) -> Result<Table> {
        let query = if q.raw {
            q.text.clone()
        } else {
            fts_query(&q.text)
        };
        self.collect(SEARCH, (&query, &q.task, signed(Some(q.limit))))
    }

    fn last_records(&mut self, task: &str, n: Option<u64>) -> Result<Table> {
        self.collect(LAST_RECORDS, (task, signed(n)))
    }

    fn records_after(&mut self, task: &str, record_id: i64, limit: u64) -> Result<Table> {
        self.collect(RECORDS_AFTER, (task, record_id, signed(Some(limit))))
    }

    fn export(&mut self, task: &str, section: ExportSection) -> Result<Table> {
        self.collect(export_sql(section), [task])
    }

    fn task_cost(&mut self, task: &str) -> Result<Table> {
        self.collect(TASK_COST, [task])
    }

    fn task_part(&mut self, task: &str, part: TaskPart, limit: Option<u64>) -> Result<Table> {
        self.collect(part_sql(part), (task, signed(limit)))
    }

    fn unpriced_calls(
        &mut self,
        since: Option<&str>,
        until: Option<&str>,
        limit: u64,
    ) -> Result<Table> {
        self.collect(UNPRICED_CALLS, (since, until, signed(Some(limit))))
    }

    fn documents(&mut self, task: &str) -> Result<Table> {
        self.collect(DOCUMENTS, [task])
    }

    fn streams(&mut self, task: &str) -> Result<Table> {
        self.collect(STREAMS, [task])
    }

    fn query(&mut self, sql: &str) -> Result<Table> {
        self.collect(sql, [])
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
        self.collect(
            &sql,
            (
                page.task,
                page.after_ts,
                page.after_id,
                page.with_sources,
                hidden,
                signed(Some(page.limit)),
            ),
        )
    }

    fn source_streams(&mut self, task: &str) -> Result<Vec<String>> {
        let found = self.collect(live::SOURCE_STREAMS, [task])?;
        Ok(found.texts(0))
    }

    fn transcript_anchor(&mut self, task: &str, record_id: i64) -> Result<Option<(String, i64)>> {
        let found = self.collect(live::ANCHOR, (record_id, task))?;
        Ok(found.text_and_integer())
    }

    fn has_records_through(&mut self, task: &str, ts: &str, record_id: i64) -> Result<bool> {
        let found = self.collect(live::HAS_RECORDS_THROUGH, (task, ts, record_id))?;
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
        self.collect(sql, (task, lo, hi))
    }

    fn stream_records(
        &mut self,
        task: &str,
        stream: &str,
        after: i64,
        limit: Option<u64>,
    ) -> Result<Table> {
        self.collect(live::STREAM_RECORDS, (task, stream, after, signed(limit)))
    }

    fn newest_record_id(&mut self) -> Result<i64> {
        Ok(self.collect(live::NEWEST, [])?.integer().unwrap_or(0))
    }

    fn records_since(
        &mut self,
        after: i64,
        also: &[i64],
        task: Option<&str>,
        limit: u64,
        max_bytes: u64,
    ) -> Result<Table> {
        let also = serde_json::to_string(also).unwrap_or_else(|_| "[]".into());
        let body = live::FEED_COLUMNS_BODY;
        let mut held = 0u64;
        // Row by row, so the bodies past the budget are never read.
        self.collect_while(
            live::FEED,
            (after, also, task, signed(Some(limit))),
            |row| {
                let go_on = held == 0 || held < max_bytes;
                held += row
                    .get(body)
                    .and_then(|v| v.as_str())
                    .map_or(0, |b| b.len() as u64);
                go_on
            },
        )
    }
}
