//! The PostgreSQL statements of the transcript and live-feed questions,
//! beside SQLite's in `tasklog-sqlite/src/live.rs` (whose docs give the
//! parameters): the same columns and values. Every join also matches
//! `host_id`, since two hosts may share a task id; `ts` compares in the
//! "C" collation, SQLite's byte order.

/// A transcript page: `$1` task, `$2`/`$3` cursor, `$4` keep source
/// streams, `$5` JSON array of hidden streams, `$6` limit.
pub const TRANSCRIPT_PAGE: &str = r#"
SELECT r.record_id, r.ts, r.stream, r.line, r.event, r.name, r.status, r.role, r.severity,
       r.component, r.error, r.duration_ms, r.span_id, r.body,
       a.model, a.tokens_input, a.tokens_output, a.estimated_cost_usd,
       e.record_id AS end_record_id, e.event AS end_event, e.body AS end_body,
       e.duration_ms AS end_duration_ms, e.error AS end_error
  FROM records r
  LEFT JOIN api_calls a ON r.event = 'llm.call' AND a.call_id = r.record_id
  LEFT JOIN records e ON r.event = 'tool.start' AND e.span_id = r.span_id AND e.task_id = r.task_id
       AND e.host_id = r.host_id AND e.event IN ('tool.complete', 'tool.fail')
 WHERE r.task_id = $1::text AND (r.ts COLLATE "C", r.record_id) {cmp} ($2::text COLLATE "C", $3::bigint)
   AND ($4::boolean OR r.stream NOT IN (SELECT jsonb_array_elements_text($5::jsonb)))
   AND NOT (r.event IN ('tool.complete', 'tool.fail') AND r.span_id IS NOT NULL AND EXISTS (
       SELECT 1 FROM records s WHERE s.span_id = r.span_id AND s.task_id = r.task_id
          AND s.host_id = r.host_id AND s.event = 'tool.start'))
 ORDER BY r.ts COLLATE "C" {dir}, r.record_id {dir}
 LIMIT $6::bigint
"#;

/// Streams of verbatim source lines.
pub const SOURCE_STREAMS: &str = "SELECT f.name FROM files f WHERE f.task_id = $1::text AND f.kind = 'stream' AND EXISTS (
     SELECT 1 FROM records r WHERE r.task_id = $1::text AND r.host_id = f.host_id AND r.stream <> f.name
        AND r.doc ->> 'source_stream' IN (f.name, f.name || '.jsonl', f.name || '.jsonl.gz'))
  GROUP BY f.name ORDER BY f.name COLLATE \"C\"";

/// `$1` record id, `$2` task.
pub const ANCHOR: &str = "SELECT coalesce(s.ts, r.ts), coalesce(s.record_id, r.record_id)
   FROM records r LEFT JOIN records s ON r.event IN ('tool.complete', 'tool.fail')
        AND s.span_id = r.span_id AND s.task_id = r.task_id AND s.host_id = r.host_id
        AND s.event = 'tool.start'
  WHERE r.record_id = $1::bigint AND r.task_id = $2::text LIMIT 1";

/// `$1` task, `$2`/`$3` cursor.
pub const HAS_RECORDS_THROUGH: &str =
    "SELECT EXISTS (SELECT 1 FROM records WHERE task_id = $1::text
    AND (ts COLLATE \"C\", record_id) <= ($2::text COLLATE \"C\", $3::bigint))::int";

/// Documents updated in a backwards page's span `[$2, $3)`.
pub const DOCUMENTS_BACKWARDS: &str = "SELECT name, version, updated_at, body FROM documents WHERE task_id = $1::text
    AND ($2::text IS NULL OR updated_at >= $2::text COLLATE \"C\") AND ($3::text IS NULL OR updated_at < $3::text COLLATE \"C\")
  ORDER BY updated_at COLLATE \"C\", name COLLATE \"C\"";

/// Documents updated in a forward page's span `($2, $3]`.
pub const DOCUMENTS_FORWARDS: &str =
    "SELECT name, version, updated_at, body FROM documents WHERE task_id = $1::text
    AND ($2::text IS NULL OR $2::text = '' OR updated_at > $2::text COLLATE \"C\")
    AND ($3::text IS NULL OR updated_at <= $3::text COLLATE \"C\")
  ORDER BY updated_at COLLATE \"C\", name COLLATE \"C\"";

/// The newest record id.
pub const NEWEST: &str = "SELECT coalesce(max(record_id), 0) FROM records";

/// The feed: `$1` after, `$2` JSON array of more ids, `$3` task or NULL,
/// `$4` limit, `$5` byte budget: a row is sent while the bodies before it
/// hold fewer bytes (the first always), summed in the server so that only
/// those rows cross the network. Two arms, each an index seek on
/// `record_id` (one condition with `OR` scanned the table).
pub const FEED: &str = r#"SELECT record_id, task_id, stream, "offset", line, ts, event, name, status, body
  FROM (SELECT r.*, sum(octet_length(r.body)) OVER (ORDER BY r.record_id) - octet_length(r.body) AS before
          FROM (SELECT * FROM (SELECT record_id, task_id, stream, "offset", line, ts, event, name, status, body
                                 FROM records WHERE record_id > $1::bigint
                                  AND ($3::text IS NULL OR task_id = $3::text)
                                ORDER BY record_id LIMIT $4::bigint) newer
                UNION ALL
                SELECT record_id, task_id, stream, "offset", line, ts, event, name, status, body
                  FROM records
                 WHERE record_id = ANY (ARRAY(SELECT jsonb_array_elements_text($2::jsonb)::bigint))
                   AND record_id <= $1::bigint AND ($3::text IS NULL OR task_id = $3::text)
                 ORDER BY record_id LIMIT $4::bigint) r) q
 WHERE before < $5::bigint OR before = 0
 ORDER BY record_id"#;

/// `$1` task, `$2` stream, `$3` first offset, `$4` limit (NULL: all).
pub const STREAM_RECORDS: &str = r#"SELECT r."offset", r.body FROM records r
  JOIN files f ON f.file_id = r.file_id AND f.host_id = r.host_id AND f.kind = 'stream'
 WHERE f.task_id = $1::text AND f.name = $2::text AND r."offset" >= $3::bigint
 ORDER BY r.host_id COLLATE "C", r."offset" LIMIT $4::bigint"#;
