-- PostgreSQL migration 3: what a task is (issue 20). The SQLite index's
-- migration 9 in this dialect: `task_activity` (a table kept by the SQLite
-- sink) is a view here, as every derived table is (0001_tables.sql), and
-- `task_facts` reads it with the same precedence (docs/FORMAT.md
-- section 11). `host_id` first; every join stays within one host.

-- An RFC 3339 text as UTC with milliseconds ('2026-11-22T10:00:01.500Z'),
-- as SQLite's strftime('%Y-%m-%dT%H:%M:%fZ', t) gives it: a time without
-- an offset is UTC, seconds are rounded to milliseconds but never past
-- 59.999 (SQLite's %f does not carry into the minute); NULL when
-- PostgreSQL reads no time in it.
CREATE FUNCTION tasklog_time(t text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET TimeZone = 'UTC' AS $$
DECLARE
    u timestamp;
BEGIN
    u := t::timestamptz AT TIME ZONE 'UTC';
    RETURN to_char(u, 'YYYY-MM-DD"T"HH24:MI:')
        || to_char(least(extract(second FROM u), 59.999), 'FM00.000') || 'Z';
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;

-- A JSON value as a time: only a string is one.
CREATE FUNCTION tasklog_time_of(j jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(j) = 'string' THEN tasklog_time(j #>> '{}') END
$$;

-- A JSON value as text: only a string is one.
CREATE FUNCTION tasklog_text(j jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(j) = 'string' THEN j #>> '{}' END
$$;

-- The per-task aggregate of records (facts.rs's task_activity_select!).
CREATE VIEW task_activity AS
SELECT a.host_id, a.task_id, a.records, a.first_at, a.last_at, a.errors, a.status_record,
       (SELECT r.status FROM records r WHERE r.record_id = a.status_record) AS status, a.ended
  FROM (SELECT host_id, task_id, count(*) AS records,
               min(CASE WHEN ts_source <> 'indexed' THEN tasklog_time(ts) END) AS first_at,
               max(CASE WHEN ts_source <> 'indexed' THEN tasklog_time(ts) END) AS last_at,
               sum(CASE WHEN event = 'tool.fail'
                          OR error IS NOT NULL
                          OR coalesce(jsonb_typeof(doc -> 'error') <> 'null' AND doc -> 'error' <> 'false'::jsonb, false)
                          OR (status IN ('error', 'failed', 'failure') AND coalesce(event, '') NOT IN ('task.status', 'result'))
                          OR severity IN ('error', 'critical')
                        THEN 1 ELSE 0 END) AS errors,
               max(CASE WHEN event = 'task.status' AND status IS NOT NULL THEN record_id END) AS status_record,
               sum(CASE WHEN event = 'session.end' THEN 1 ELSE 0 END) AS ended
          FROM records GROUP BY host_id, task_id) a;

-- A task's facts: migration 9's view of the SQLite index.
CREATE VIEW task_facts AS
WITH d AS (
    SELECT t.host_id, t.task_id, t.sealed, tasklog_jsonb(t.document) AS tj, tasklog_jsonb(m.body) AS mj,
           tasklog_jsonb(coalesce(r.body, f.body)) AS rj, tasklog_jsonb(coalesce(i.body, i1.body)) AS ij,
           a.first_at, a.last_at, coalesce(a.errors, 0) AS record_errors, a.status AS record_status,
           coalesce(a.ended, 0) AS ended
      FROM tasks t
      LEFT JOIN documents m ON m.host_id = t.host_id AND m.task_id = t.task_id AND m.name = 'metadata'
      LEFT JOIN documents r ON r.host_id = t.host_id AND r.task_id = t.task_id AND r.name = 'result'
      LEFT JOIN documents f ON f.host_id = t.host_id AND f.task_id = t.task_id AND f.name = '04-final-result'
      LEFT JOIN documents i ON i.host_id = t.host_id AND i.task_id = t.task_id AND i.name = 'input'
      LEFT JOIN documents i1 ON i1.host_id = t.host_id AND i1.task_id = t.task_id AND i1.name = '01-input'
      LEFT JOIN task_activity a ON a.host_id = t.host_id AND a.task_id = t.task_id
),
s AS (
    SELECT d.*,
           coalesce(
               lower(tasklog_text(rj -> 'status')),
               CASE WHEN rj -> 'success' = 'true'::jsonb THEN 'completed'
                    WHEN rj -> 'success' = 'false'::jsonb THEN 'failed' END,
               lower(tasklog_text(tj -> 'status')),
               lower(record_status),
               lower(tasklog_text(mj -> 'status')),
               CASE WHEN ended > 0 THEN 'completed' END
           ) AS raw_status,
           coalesce(rj -> 'success' = 'false'::jsonb, false) AS result_failed,
           coalesce(jsonb_typeof(rj -> 'error') <> 'null' AND rj -> 'error' <> 'false'::jsonb, false)
             OR coalesce(jsonb_typeof(rj #> '{result,error}') <> 'null' AND rj #> '{result,error}' <> 'false'::jsonb, false)
             AS result_error,
           least(tasklog_time_of(tj -> 'started_at'), tasklog_time_of(tj -> 'created_at'),
                 tasklog_time_of(tj -> 'detected_at'), tasklog_time_of(mj -> 'created_at'),
                 tasklog_time_of(mj -> 'started_at'), first_at) AS start_time,
           greatest(tasklog_time_of(rj -> 'completed_at'), tasklog_time_of(rj -> 'finished_at'),
                    tasklog_time_of(rj -> 'failed_at'), tasklog_time_of(tj -> 'finished_at'),
                    tasklog_time_of(tj -> 'completed_at'), tasklog_time_of(tj -> 'failed_at'),
                    tasklog_time_of(tj -> 'cancelled_at'), tasklog_time_of(mj -> 'finished_at'),
                    tasklog_time_of(mj -> 'completed_at'), last_at) AS end_time
      FROM d
),
k AS (
    SELECT s.*,
           CASE
             WHEN result_failed THEN 'failed'
             WHEN raw_status IS NULL THEN 'running'
             WHEN raw_status IN ('completed', 'complete', 'done', 'success', 'succeeded', 'successful', 'ok',
                                 'finished', 'passed', 'resolved', 'merged', 'closed', 'imported')
               THEN CASE WHEN record_errors > 0 OR result_error THEN 'completed_with_errors' ELSE 'completed' END
             WHEN raw_status IN ('failed', 'failure', 'fail', 'error', 'errored', 'crashed', 'timeout',
                                 'timed_out', 'killed') THEN 'failed'
             WHEN raw_status IN ('cancelled', 'canceled', 'aborted', 'interrupted', 'stopped') THEN 'cancelled'
             WHEN raw_status IN ('running', 'active', 'in_progress', 'started', 'working', 'spawned') THEN 'running'
             ELSE raw_status
           END AS fact_status
      FROM s
),
e AS (
    SELECT k.*,
           CASE WHEN fact_status IN ('completed', 'completed_with_errors', 'failed', 'cancelled')
                THEN end_time END AS finished
      FROM k
)
SELECT host_id, task_id,
       nullif(btrim(substr(replace(replace(coalesce(
           tasklog_text(tj -> 'title'), tasklog_text(mj -> 'title'), tasklog_text(ij -> 'title'),
           tasklog_text(ij -> 'message'), tasklog_text(ij -> 'prompt')),
           chr(13), ' '), chr(10), ' '), 1, 120)), '') AS title,
       fact_status AS status,
       start_time AS started_at,
       finished AS finished_at,
       CASE WHEN finished IS NOT NULL AND start_time IS NOT NULL
            THEN round(extract(epoch FROM (finished::timestamptz - start_time::timestamptz)) * 1000)::bigint
       END AS duration_ms,
       greatest(start_time, end_time) AS last_activity_at,
       coalesce(tasklog_text(tj -> 'project'), tasklog_text(mj -> 'project'), tasklog_text(mj -> 'repo'),
                tasklog_text(ij #> '{source_metadata,repo}')) AS project,
       coalesce(tasklog_text(tj -> 'git_branch'), tasklog_text(mj -> 'git_branch'),
                tasklog_text(mj -> 'branch')) AS git_branch,
       coalesce(tasklog_text(tj -> 'agent'), tasklog_text(tj -> 'assigned_agent'), tasklog_text(mj -> 'agent'),
                tasklog_text(mj -> 'assigned_agent')) AS agent,
       (SELECT string_agg(x.m, ',' ORDER BY x.m COLLATE "C") FROM (
            SELECT r.model AS m FROM records r
             WHERE r.host_id = e.host_id AND r.task_id = e.task_id AND r.event = 'llm.call' AND r.model <> ''
            UNION SELECT tasklog_text(v) FROM jsonb_array_elements(
                CASE WHEN jsonb_typeof(tj -> 'models') = 'array' THEN tj -> 'models' ELSE '[]'::jsonb END) v
            UNION SELECT tasklog_text(tj -> 'model')
            UNION SELECT tasklog_text(mj -> 'model')) x
         WHERE x.m IS NOT NULL) AS models,
       record_errors + CASE WHEN result_error OR result_failed THEN 1 ELSE 0 END AS error_count,
       sealed
  FROM e;
