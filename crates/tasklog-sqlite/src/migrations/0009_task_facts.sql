-- Migration 9: what a task is (issue 20). One definition of a task's facts
-- (title, status, times, project, branch, agent, models, errors) for every
-- reader, with the precedence of docs/FORMAT.md section 11.
--
-- `task_activity` is the per-task aggregate of `records` the facts need:
-- kept by the sink (one upsert per batch, over the batch's rows through
-- the exactly-once index; a full recount of the task when a file's rows
-- are superseded), so the task list never scans records. Its SELECT is
-- `facts.rs`'s `task_activity_select!`, also the fill at the end of this
-- migration and the fresh derivation `tasklog verify` compares with.
CREATE TABLE task_activity (
    task_id       TEXT PRIMARY KEY,
    records       INTEGER NOT NULL,  -- rows in `records`
    first_at      TEXT,              -- earliest source time, UTC, milliseconds (NULL: none known)
    last_at       TEXT,              -- latest source time
    errors        INTEGER NOT NULL,  -- rows that record a failure
    status_record INTEGER,           -- record_id of the last `task.status` row with a status
    status        TEXT,              -- its status
    ended         INTEGER NOT NULL   -- `session.end` rows (a TAC-8 session that ended)
);

-- A task's facts. Documents by name: `task.json` (tasks.document),
-- 004's `metadata.json`, the final result (`result.json`, else 004's
-- `04-final-result.json`), the input (`input.json`, else `01-input.json`).
-- A time is used only when it is JSON text that SQLite reads as a time,
-- normalized to UTC with milliseconds so that text order is time order.
CREATE VIEW task_facts AS
WITH d AS (
    SELECT t.task_id, t.sealed, t.document AS tj, m.body AS mj, coalesce(r.body, f.body) AS rj,
           coalesce(i.body, i1.body) AS ij,
           a.first_at, a.last_at, coalesce(a.errors, 0) AS record_errors, a.status AS record_status,
           coalesce(a.ended, 0) AS ended
      FROM tasks t
      LEFT JOIN documents m ON m.task_id = t.task_id AND m.name = 'metadata'
      LEFT JOIN documents r ON r.task_id = t.task_id AND r.name = 'result'
      LEFT JOIN documents f ON f.task_id = t.task_id AND f.name = '04-final-result'
      LEFT JOIN documents i ON i.task_id = t.task_id AND i.name = 'input'
      LEFT JOIN documents i1 ON i1.task_id = t.task_id AND i1.name = '01-input'
      LEFT JOIN task_activity a ON a.task_id = t.task_id
),
s AS (
    SELECT d.*,
           coalesce(
               CASE WHEN json_type(rj, '$.status') = 'text' THEN lower(json_extract(rj, '$.status'))
                    WHEN json_type(rj, '$.success') = 'true' THEN 'completed'
                    WHEN json_type(rj, '$.success') = 'false' THEN 'failed' END,
               CASE WHEN json_type(tj, '$.status') = 'text' THEN lower(json_extract(tj, '$.status')) END,
               lower(record_status),
               CASE WHEN json_type(mj, '$.status') = 'text' THEN lower(json_extract(mj, '$.status')) END,
               CASE WHEN ended > 0 THEN 'completed' END
           ) AS raw_status,
           coalesce(json_type(rj, '$.success') = 'false', 0) AS result_failed,
           coalesce(json_type(rj, '$.error') NOT IN ('null', 'false'), 0)
             OR coalesce(json_type(rj, '$.result.error') NOT IN ('null', 'false'), 0) AS result_error,
           (SELECT min(v) FROM (SELECT strftime('%Y-%m-%dT%H:%M:%fZ', value) AS v
                                  FROM json_each(json_array(
                                      json_extract(tj, '$.started_at'), json_extract(tj, '$.created_at'),
                                      json_extract(tj, '$.detected_at'), json_extract(mj, '$.created_at'),
                                      json_extract(mj, '$.started_at')))
                                 WHERE type = 'text'
                                UNION ALL SELECT first_at)) AS start_time,
           (SELECT max(v) FROM (SELECT strftime('%Y-%m-%dT%H:%M:%fZ', value) AS v
                                  FROM json_each(json_array(
                                      json_extract(rj, '$.completed_at'), json_extract(rj, '$.finished_at'),
                                      json_extract(rj, '$.failed_at'), json_extract(tj, '$.finished_at'),
                                      json_extract(tj, '$.completed_at'), json_extract(tj, '$.failed_at'),
                                      json_extract(tj, '$.cancelled_at'), json_extract(mj, '$.finished_at'),
                                      json_extract(mj, '$.completed_at')))
                                 WHERE type = 'text'
                                UNION ALL SELECT last_at)) AS end_time
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
SELECT task_id,
       nullif(trim(substr(replace(replace(coalesce(
           CASE WHEN json_type(tj, '$.title') = 'text' THEN json_extract(tj, '$.title') END,
           CASE WHEN json_type(mj, '$.title') = 'text' THEN json_extract(mj, '$.title') END,
           CASE WHEN json_type(ij, '$.title') = 'text' THEN json_extract(ij, '$.title') END,
           CASE WHEN json_type(ij, '$.message') = 'text' THEN json_extract(ij, '$.message') END,
           CASE WHEN json_type(ij, '$.prompt') = 'text' THEN json_extract(ij, '$.prompt') END),
           char(13), ' '), char(10), ' '), 1, 120)), '') AS title,
       fact_status AS status,
       start_time AS started_at,
       finished AS finished_at,
       CASE WHEN finished IS NOT NULL AND start_time IS NOT NULL
            THEN CAST(round((julianday(finished) - julianday(start_time)) * 86400000.0) AS INTEGER) END AS duration_ms,
       (SELECT max(v) FROM (SELECT start_time AS v UNION ALL SELECT end_time)) AS last_activity_at,
       coalesce(
           CASE WHEN json_type(tj, '$.project') = 'text' THEN json_extract(tj, '$.project') END,
           CASE WHEN json_type(mj, '$.project') = 'text' THEN json_extract(mj, '$.project') END,
           CASE WHEN json_type(mj, '$.repo') = 'text' THEN json_extract(mj, '$.repo') END,
           CASE WHEN json_type(ij, '$.source_metadata.repo') = 'text' THEN json_extract(ij, '$.source_metadata.repo') END
       ) AS project,
       coalesce(
           CASE WHEN json_type(tj, '$.git_branch') = 'text' THEN json_extract(tj, '$.git_branch') END,
           CASE WHEN json_type(mj, '$.git_branch') = 'text' THEN json_extract(mj, '$.git_branch') END,
           CASE WHEN json_type(mj, '$.branch') = 'text' THEN json_extract(mj, '$.branch') END
       ) AS git_branch,
       coalesce(
           CASE WHEN json_type(tj, '$.agent') = 'text' THEN json_extract(tj, '$.agent') END,
           CASE WHEN json_type(tj, '$.assigned_agent') = 'text' THEN json_extract(tj, '$.assigned_agent') END,
           CASE WHEN json_type(mj, '$.agent') = 'text' THEN json_extract(mj, '$.agent') END,
           CASE WHEN json_type(mj, '$.assigned_agent') = 'text' THEN json_extract(mj, '$.assigned_agent') END
       ) AS agent,
       (SELECT group_concat(m, ',') FROM (
            SELECT model AS m FROM cost_rollup WHERE cost_rollup.task_id = e.task_id AND model <> ''
            UNION SELECT value FROM json_each(CASE WHEN json_type(tj, '$.models') = 'array' THEN json_extract(tj, '$.models') END)
                   WHERE type = 'text'
            UNION SELECT json_extract(tj, '$.model') WHERE json_type(tj, '$.model') = 'text'
            UNION SELECT json_extract(mj, '$.model') WHERE json_type(mj, '$.model') = 'text'
            ORDER BY 1)) AS models,
       record_errors + (result_error OR result_failed) AS error_count,
       sealed
  FROM e;
