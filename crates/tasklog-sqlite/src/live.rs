//! The SQLite statements of the transcript and live-feed questions
//! (`tasklog_tail::questions::live`), beside the PostgreSQL ones of
//! `tasklog-postgres/src/live.rs`: the same columns and values.

/// A transcript page. `?1` task, `?2`/`?3` cursor, `?4` keep source
/// streams, `?5` JSON array of hidden streams, `?6` limit; `{cmp}` is `>`
/// or `<`, `{dir}` `ASC` or `DESC`.
pub const TRANSCRIPT_PAGE: &str = r#"
SELECT r.record_id, r.ts, r.stream, r.line, r.event, r.name, r.status, r.role, r.severity,
       r.component, r.error, r.duration_ms, r.span_id, r.body,
       a.model, a.tokens_input, a.tokens_output, a.estimated_cost_usd,
       e.record_id AS end_record_id, e.event AS end_event, e.body AS end_body,
       e.duration_ms AS end_duration_ms, e.error AS end_error
  FROM records r
  LEFT JOIN api_calls a ON r.event = 'llm.call' AND a.call_id = r.record_id
  LEFT JOIN records e ON r.event = 'tool.start' AND e.span_id = r.span_id AND e.task_id = r.task_id
       AND e.event IN ('tool.complete', 'tool.fail')
 WHERE r.task_id = ?1 AND (r.ts, r.record_id) {cmp} (?2, ?3)
   AND (?4 OR r.stream NOT IN (SELECT value FROM json_each(?5)))
   AND NOT (r.event IN ('tool.complete', 'tool.fail') AND r.span_id IS NOT NULL AND EXISTS (
       SELECT 1 FROM records s WHERE s.span_id = r.span_id AND s.task_id = r.task_id AND s.event = 'tool.start'))
 ORDER BY r.ts {dir}, r.record_id {dir}
 LIMIT ?6
"#;

/// Streams of verbatim source lines: named by another record's
/// `source_stream` (the stream's file name, as the importers write it).
pub const SOURCE_STREAMS: &str = "SELECT f.name FROM files f WHERE f.task_id = ?1 AND f.kind = 'stream' AND EXISTS (
     SELECT 1 FROM records r WHERE r.task_id = ?1 AND r.stream <> f.name
        AND json_extract(r.body, '$.source_stream') IN (f.name, f.name || '.jsonl', f.name || '.jsonl.gz'))
  ORDER BY f.name";

/// `?1` record id, `?2` task: its place, or its tool start's.
pub const ANCHOR: &str = "SELECT coalesce(s.ts, r.ts), coalesce(s.record_id, r.record_id)
   FROM records r LEFT JOIN records s ON r.event IN ('tool.complete', 'tool.fail')
        AND s.span_id = r.span_id AND s.task_id = r.task_id AND s.event = 'tool.start'
  WHERE r.record_id = ?1 AND r.task_id = ?2 LIMIT 1";

/// `?1` task, `?2`/`?3` cursor.
pub const HAS_RECORDS_THROUGH: &str =
    "SELECT EXISTS (SELECT 1 FROM records WHERE task_id = ?1 AND (ts, record_id) <= (?2, ?3))";

/// Documents updated in a backwards page's span `[?2, ?3)`.
pub const DOCUMENTS_BACKWARDS: &str =
    "SELECT name, version, updated_at, body FROM documents WHERE task_id = ?1
    AND (?2 IS NULL OR updated_at >= ?2) AND (?3 IS NULL OR updated_at < ?3)
  ORDER BY updated_at, name";

/// Documents updated in a forward page's span `(?2, ?3]`.
pub const DOCUMENTS_FORWARDS: &str =
    "SELECT name, version, updated_at, body FROM documents WHERE task_id = ?1
    AND (?2 IS NULL OR ?2 = '' OR updated_at > ?2) AND (?3 IS NULL OR updated_at <= ?3)
  ORDER BY updated_at, name";

/// The newest record id.
pub const NEWEST: &str = "SELECT coalesce(max(record_id), 0) FROM records";

/// The position of `body` in [`FEED`]'s columns.
pub const FEED_COLUMNS_BODY: usize = 9;

/// The feed: `?1` after, `?2` JSON array of more ids, `?3` task or NULL,
/// `?4` limit. Two arms, so each is a seek on the rowid: `record_id > ?1
/// OR record_id IN (...)` in one condition made SQLite scan `records`
/// from its start on every poll.
pub const FEED: &str = r#"SELECT * FROM (
  SELECT * FROM (SELECT record_id, task_id, stream, "offset", line, ts, event, name, status, body
                   FROM records WHERE record_id > ?1 AND (?3 IS NULL OR task_id = ?3)
                  ORDER BY record_id LIMIT ?4)
  UNION ALL
  SELECT record_id, task_id, stream, "offset", line, ts, event, name, status, body
    FROM records WHERE record_id IN (SELECT value FROM json_each(?2)) AND record_id <= ?1
     AND (?3 IS NULL OR task_id = ?3))
 ORDER BY record_id LIMIT ?4"#;

/// `?1` task, `?2` stream, `?3` first offset, `?4` limit (-1: all).
pub const STREAM_RECORDS: &str = r#"SELECT r."offset", r.body FROM records r
  JOIN files f ON f.file_id = r.file_id AND f.kind = 'stream'
 WHERE f.task_id = ?1 AND f.name = ?2 AND r."offset" >= ?3
 ORDER BY r."offset" LIMIT ?4"#;
