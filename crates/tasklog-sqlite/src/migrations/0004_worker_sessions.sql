-- Migration 4: worker sessions kept by triggers.
--
-- The worker_sessions view of migration 2 read two JSON bodies per worker
-- (the worker.spawn and its worker.exit) for every row it produced: about
-- 55 ms for the reference's worker queries at 1M records. The fields those
-- queries read now live in worker_session_rows, one row per worker.spawn,
-- its exit folded in by triggers; the view keeps its name and columns.
--
-- A worker with several worker.exit records takes the latest (highest
-- record id); the old view repeated the worker once per exit.

CREATE TABLE worker_session_rows (
    record_id       INTEGER PRIMARY KEY,   -- the worker.spawn record
    worker_id       TEXT,
    own_session_id  TEXT,                  -- the spawn record's session_id
    task_id         TEXT NOT NULL,
    trace_id        TEXT,
    span_id         TEXT,
    spawned_at      TEXT NOT NULL,
    pid             INTEGER,
    worktree_path   TEXT,
    branch_name     TEXT,
    prompt_file     TEXT,
    log_file        TEXT,
    exit_record_id  INTEGER,               -- the worker.exit folded in, if any
    exit_ts         TEXT,
    exit_status     TEXT,
    exit_code       INTEGER,
    failure_reason  TEXT
);
CREATE INDEX worker_session_rows_worker ON worker_session_rows(task_id, worker_id);
-- What the old view needed to find spawns by worker id; nothing reads it
-- now, and every insert into records paid for its check. The spawns-by-
-- task index stays: a bulk load finds its spawns through it (bulk.rs).
DROP INDEX records_worker_spawn;

-- One insert trigger and one delete trigger for both worker kinds, also
-- taking over worker_spans' pair: SQLite codes each row trigger as a
-- sub-program that every inserted row enters to test its WHEN clause, so
-- each trigger on records costs every insert, whatever the event.
DROP TRIGGER records_worker_span_insert;
DROP TRIGGER records_worker_span_delete;

CREATE TRIGGER records_worker_insert AFTER INSERT ON records
WHEN NEW.event IN ('worker.spawn', 'worker.exit')
BEGIN
    -- A spawn's span, so that its worker's records find their worker.
    INSERT OR REPLACE INTO worker_spans
    SELECT NEW.span_id, json_extract(NEW.body, '$.worker_id'), NEW.task_id, NEW.record_id
     WHERE NEW.event = 'worker.spawn' AND NEW.span_id IS NOT NULL;
    -- A spawn: its row, with the latest exit already indexed (an exit may
    -- be read before its spawn when they sit in different streams).
    INSERT OR REPLACE INTO worker_session_rows
    SELECT NEW.record_id, json_extract(NEW.body, '$.worker_id'), json_extract(NEW.body, '$.session_id'),
           NEW.task_id, NEW.trace_id, NEW.span_id, NEW.ts,
           json_extract(NEW.body, '$.pid'), json_extract(NEW.body, '$.worktree_path'),
           json_extract(NEW.body, '$.branch_name'), json_extract(NEW.body, '$.prompt_file'),
           json_extract(NEW.body, '$.log_file'),
           e.record_id, e.ts, e.status, json_extract(e.body, '$.exit_code'), json_extract(e.body, '$.failure_reason')
      FROM (SELECT 1) LEFT JOIN (
            SELECT * FROM records x
             WHERE x.event = 'worker.exit' AND x.task_id = NEW.task_id
               AND json_extract(x.body, '$.worker_id') = json_extract(NEW.body, '$.worker_id')
             ORDER BY x.record_id DESC LIMIT 1) e
     WHERE NEW.event = 'worker.spawn';
    -- An exit: folded into its worker's row, unless a later exit already is.
    UPDATE worker_session_rows
       SET exit_record_id = NEW.record_id, exit_ts = NEW.ts, exit_status = NEW.status,
           exit_code = json_extract(NEW.body, '$.exit_code'),
           failure_reason = json_extract(NEW.body, '$.failure_reason')
     WHERE NEW.event = 'worker.exit'
       AND task_id = NEW.task_id AND worker_id = json_extract(NEW.body, '$.worker_id')
       AND (exit_record_id IS NULL OR exit_record_id < NEW.record_id);
END;

CREATE TRIGGER records_worker_delete AFTER DELETE ON records
WHEN OLD.event IN ('worker.spawn', 'worker.exit')
BEGIN
    DELETE FROM worker_spans
     WHERE OLD.event = 'worker.spawn' AND span_id = OLD.span_id AND record_id = OLD.record_id;
    DELETE FROM worker_session_rows
     WHERE OLD.event = 'worker.spawn' AND record_id = OLD.record_id;
    -- An exit removed (its file truncated or replaced): the next latest
    -- exit still indexed, or none.
    UPDATE worker_session_rows
       SET (exit_record_id, exit_ts, exit_status, exit_code, failure_reason) = (
            SELECT e.record_id, e.ts, e.status, json_extract(e.body, '$.exit_code'), json_extract(e.body, '$.failure_reason')
              FROM (SELECT 1) LEFT JOIN (
                    SELECT * FROM records x
                     WHERE x.event = 'worker.exit' AND x.task_id = worker_session_rows.task_id
                       AND json_extract(x.body, '$.worker_id') = worker_session_rows.worker_id
                       AND x.record_id <> OLD.record_id
                     ORDER BY x.record_id DESC LIMIT 1) e)
     WHERE OLD.event = 'worker.exit' AND exit_record_id = OLD.record_id;
END;

-- What migration 1 and 2 already indexed.
INSERT INTO worker_session_rows
SELECT s.record_id, json_extract(s.body, '$.worker_id'), json_extract(s.body, '$.session_id'),
       s.task_id, s.trace_id, s.span_id, s.ts,
       json_extract(s.body, '$.pid'), json_extract(s.body, '$.worktree_path'),
       json_extract(s.body, '$.branch_name'), json_extract(s.body, '$.prompt_file'),
       json_extract(s.body, '$.log_file'),
       e.record_id, e.ts, e.status, json_extract(e.body, '$.exit_code'), json_extract(e.body, '$.failure_reason')
  FROM records s
  LEFT JOIN records e ON e.record_id = (
        SELECT max(x.record_id) FROM records x
         WHERE x.event = 'worker.exit' AND x.task_id = s.task_id
           AND json_extract(x.body, '$.worker_id') = json_extract(s.body, '$.worker_id'))
 WHERE likely(s.event = 'worker.spawn');

DROP VIEW worker_sessions;
CREATE VIEW worker_sessions AS
SELECT w.worker_id AS worker_id,
       coalesce(w.own_session_id,
                (SELECT t.session_id FROM tasks t WHERE t.task_id = w.task_id), w.trace_id) AS session_id,
       w.task_id AS task_id,
       w.spawned_at AS spawned_at,
       CASE WHEN w.exit_status IS NOT 'failed' THEN w.exit_ts END AS completed_at,
       CASE WHEN w.exit_status = 'failed' THEN w.exit_ts END AS failed_at,
       w.pid AS pid,
       coalesce(w.exit_status, 'running') AS status,
       w.exit_code AS exit_code,
       w.failure_reason AS failure_reason,
       w.worktree_path AS worktree_path,
       w.branch_name AS branch_name,
       w.prompt_file AS prompt_file,
       w.log_file AS log_file,
       0 AS implicit,
       w.span_id AS span_id
FROM worker_session_rows w
UNION ALL
SELECT t.task_id, t.session_id, t.task_id,
       coalesce(t.started_at, t.detected_at, t.created_at, t.first_seen_at),
       t.completed_at, t.failed_at, NULL, coalesce(t.status, 'running'), NULL, t.failure_reason,
       NULL, NULL, NULL, NULL, 1, NULL
FROM tasks t
WHERE EXISTS (SELECT 1 FROM api_calls a WHERE a.worker_id = t.task_id);
