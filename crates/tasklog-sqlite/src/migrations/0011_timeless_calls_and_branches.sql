-- Migration 11 (issue 20): model calls of a source without timestamps
-- belong to no day, and a TAC-8 session's branch is a task fact.
--
-- A record whose `ts` is the indexing time (`ts_source` = 'indexed') has
-- no known time. Its `api_calls.timestamp` is NULL (it was the indexing
-- time), so its row in `cost_rollup` and `cost_daily` has a NULL `day`:
-- every bound on days or times (`cost --today`, `--since`, `--until`)
-- leaves it out, while totals without a bound keep it. PostgreSQL's views
-- do the same (its migration 4).
--
-- `api_calls.timestamp` and both rollups' `day` were NOT NULL and the
-- rollups were keyed WITHOUT ROWID on the day: each table is built again
-- (SQLite cannot drop a NOT NULL), keyed by a unique index on
-- `coalesce(day, 0)` so that a NULL day is one key, as the upserts need.
-- The integer 0 equals no text, so the NULL day stays apart from every day
-- a text gives, '' included (a `ts` of "" is a day of its own, as a fresh
-- aggregation groups it).
-- legacy_alter_table keeps the rename from checking the views and
-- triggers that name the table while it is gone (the SQLite manual's
-- "making other kinds of table schema changes").
PRAGMA legacy_alter_table = ON;

DROP VIEW llm_call_rows;
CREATE VIEW llm_call_rows AS
SELECT
    r.record_id AS call_id,
    coalesce(json_extract(r.body, '$.worker_id'),
             (SELECT w.worker_id FROM worker_spans w WHERE w.span_id = r.parent_span_id),
             r.task_id) AS worker_id,
    r.task_id AS task_id,
    CASE WHEN r.ts_source <> 'indexed' THEN r.ts END AS timestamp,
    r.model AS model,
    r.provider AS provider,
    r.input_tokens AS tokens_input,
    r.output_tokens AS tokens_output,
    CASE WHEN r.input_tokens IS NOT NULL OR r.output_tokens IS NOT NULL
         THEN coalesce(r.input_tokens, 0) + coalesce(r.output_tokens, 0) END AS tokens_total,
    r.cache_read_tokens AS tokens_cached_read,
    r.cache_write_tokens AS tokens_cached_write,
    coalesce(r.cost_usd, r.priced_cost) AS estimated_cost_usd,
    r.cost_usd AS actual_cost_usd,
    CASE WHEN r.cost_usd IS NOT NULL THEN 'record'
         WHEN r.priced_cost IS NOT NULL THEN 'price_table'
         ELSE 'unpriced' END AS cost_source,
    json_extract(r.body, '$.gen_ai.server.time_to_first_token_ms') AS time_to_first_token_ms,
    r.duration_ms AS duration_ms,
    CASE WHEN r.duration_ms > 0 AND r.output_tokens IS NOT NULL
         THEN r.output_tokens / (r.duration_ms / 1000.0) END AS tokens_per_second,
    CASE WHEN r.error IS NOT NULL OR json_type(r.body, '$.error') IS NOT NULL
              OR r.status IN ('error', 'failed') THEN 0 ELSE 1 END AS success,
    coalesce(r.error, json_extract(r.body, '$.error')) AS error_message,
    json_extract(r.body, '$.error_code') AS error_code,
    r.span_id AS span_id,
    r.trace_id AS trace_id
FROM (
    -- The price lookup, once per row: both estimated_cost_usd and
    -- cost_source read it.
    SELECT r.*, (SELECT (max(coalesce(r.input_tokens, 0) - coalesce(r.cache_read_tokens, 0)
                         - coalesce(r.cache_write_tokens, 0), 0) * p.input_per_mtok
                     + coalesce(r.cache_read_tokens, 0) * p.cache_read_per_mtok
                     + coalesce(r.cache_write_tokens, 0) * p.cache_write_per_mtok
                     + coalesce(r.output_tokens, 0) * p.output_per_mtok) / 1e6
               FROM prices p
              WHERE p.model = CASE WHEN EXISTS (SELECT 1 FROM prices x WHERE x.model = r.model) THEN r.model
                                   ELSE substr(r.model, instr(r.model, '/') + 1) END
                AND p.effective_from = coalesce(
                        (SELECT max(x.effective_from) FROM prices x
                          WHERE x.model = p.model AND x.effective_from <= substr(r.ts, 1, 10)),
                        (SELECT min(x.effective_from) FROM prices x WHERE x.model = p.model))
                AND (r.input_tokens IS NOT NULL OR r.output_tokens IS NOT NULL)) AS priced_cost
    FROM records r
    WHERE r.event = 'llm.call'
) AS r;

CREATE TABLE api_calls_new (
    call_id                INTEGER PRIMARY KEY,
    worker_id              TEXT NOT NULL,
    task_id                TEXT NOT NULL,
    timestamp              TEXT,       -- NULL: the source has no time (ts_source = 'indexed')
    model                  TEXT,
    provider               TEXT,
    tokens_input           INTEGER,    -- includes cached tokens (OpenTelemetry)
    tokens_output          INTEGER,
    tokens_total           INTEGER,
    tokens_cached_read     INTEGER,
    tokens_cached_write    INTEGER,
    estimated_cost_usd     REAL,       -- actual cost when known, else priced; NULL = unpriced
    actual_cost_usd        REAL,       -- the cost the record carries
    cost_source            TEXT NOT NULL, -- 'record', 'price_table' or 'unpriced'
    time_to_first_token_ms REAL,
    duration_ms            REAL,
    tokens_per_second      REAL,
    success                INTEGER NOT NULL,
    error_message          TEXT,
    error_code             TEXT,
    span_id                TEXT,
    trace_id               TEXT
);
INSERT INTO api_calls_new SELECT * FROM api_calls;
UPDATE api_calls_new SET timestamp = NULL
 WHERE call_id IN (SELECT record_id FROM records WHERE event = 'llm.call' AND ts_source = 'indexed');
DROP TABLE api_calls;
ALTER TABLE api_calls_new RENAME TO api_calls;
CREATE INDEX api_calls_worker ON api_calls(worker_id, timestamp, estimated_cost_usd, tokens_total);
CREATE INDEX api_calls_model ON api_calls(model, timestamp);
CREATE INDEX api_calls_model_cost ON api_calls(model, estimated_cost_usd, tokens_per_second, time_to_first_token_ms);
CREATE INDEX api_calls_task ON api_calls(task_id, timestamp);
CREATE INDEX api_calls_date ON api_calls(date(timestamp), estimated_cost_usd);

-- The rollups, rebuilt with a nullable day (their triggers went with them).
DROP TABLE cost_rollup;
CREATE TABLE cost_rollup (
    day                 TEXT,            -- UTC day; NULL: calls whose source has no time
    task_id             TEXT NOT NULL,
    model               TEXT NOT NULL,   -- '' when the call names none
    provider            TEXT NOT NULL,   -- '' when the call names none
    calls               INTEGER NOT NULL,
    tokens_input        INTEGER NOT NULL,
    tokens_output       INTEGER NOT NULL,
    tokens_cached_read  INTEGER NOT NULL,
    tokens_cached_write INTEGER NOT NULL,
    cost_usd            REAL NOT NULL,   -- priced calls only (record cost or price table)
    actual_cost_usd     REAL NOT NULL,   -- cost carried by the records
    unpriced_calls      INTEGER NOT NULL,
    unpriced_tokens     INTEGER NOT NULL
);
CREATE UNIQUE INDEX cost_rollup_key ON cost_rollup(coalesce(day, 0), task_id, model, provider);
-- SQL that bounds the day (`WHERE day = '2026-12-07'`, the alerts)
-- finds its rows here. The built-in questions (`COST_BY_TASK_DAY`: `?1 IS
-- NULL OR day >= ?1`) read the whole rollup, as they did before. An index
-- holding the sums too made such SQL read it alone, but rewrote an index
-- entry at each upsert (scripts/bench_rollup_day.py, docs/PERFORMANCE.md).
CREATE INDEX cost_rollup_day ON cost_rollup(day);
CREATE INDEX cost_rollup_task ON cost_rollup(task_id);

DROP TABLE cost_daily;
CREATE TABLE cost_daily (
    day                 TEXT,            -- NULL: calls whose source has no time
    model               TEXT NOT NULL,
    provider            TEXT NOT NULL,
    calls               INTEGER NOT NULL,
    tokens_input        INTEGER NOT NULL,
    tokens_output       INTEGER NOT NULL,
    tokens_cached_read  INTEGER NOT NULL,
    tokens_cached_write INTEGER NOT NULL,
    cost_usd            REAL NOT NULL,
    actual_cost_usd     REAL NOT NULL,
    unpriced_calls      INTEGER NOT NULL,
    unpriced_tokens     INTEGER NOT NULL
);
CREATE UNIQUE INDEX cost_daily_key ON cost_daily(coalesce(day, 0), model, provider);
CREATE INDEX cost_daily_day ON cost_daily(day);

PRAGMA legacy_alter_table = OFF;

-- Migration 7's triggers, with the day's key: `IS` matches a NULL day.
CREATE TRIGGER api_calls_rollup_insert AFTER INSERT ON api_calls
BEGIN
    INSERT INTO cost_rollup VALUES (
        coalesce(date(NEW.timestamp), substr(NEW.timestamp, 1, 10)), NEW.task_id,
        coalesce(NEW.model, ''), coalesce(NEW.provider, ''), 1,
        coalesce(NEW.tokens_input, 0), coalesce(NEW.tokens_output, 0),
        coalesce(NEW.tokens_cached_read, 0), coalesce(NEW.tokens_cached_write, 0),
        round(coalesce(NEW.estimated_cost_usd, 0) * 1073741824.0) / 1073741824.0,
        round(coalesce(NEW.actual_cost_usd, 0) * 1073741824.0) / 1073741824.0,
        NEW.estimated_cost_usd IS NULL,
        CASE WHEN NEW.estimated_cost_usd IS NULL THEN coalesce(NEW.tokens_total, 0) ELSE 0 END)
    ON CONFLICT (coalesce(day, 0), task_id, model, provider) DO UPDATE SET
        calls = calls + 1,
        tokens_input = tokens_input + excluded.tokens_input,
        tokens_output = tokens_output + excluded.tokens_output,
        tokens_cached_read = tokens_cached_read + excluded.tokens_cached_read,
        tokens_cached_write = tokens_cached_write + excluded.tokens_cached_write,
        cost_usd = cost_usd + excluded.cost_usd,
        actual_cost_usd = actual_cost_usd + excluded.actual_cost_usd,
        unpriced_calls = unpriced_calls + excluded.unpriced_calls,
        unpriced_tokens = unpriced_tokens + excluded.unpriced_tokens;
END;

CREATE TRIGGER api_calls_rollup_delete AFTER DELETE ON api_calls
BEGIN
    UPDATE cost_rollup SET
        calls = calls - 1,
        tokens_input = tokens_input - coalesce(OLD.tokens_input, 0),
        tokens_output = tokens_output - coalesce(OLD.tokens_output, 0),
        tokens_cached_read = tokens_cached_read - coalesce(OLD.tokens_cached_read, 0),
        tokens_cached_write = tokens_cached_write - coalesce(OLD.tokens_cached_write, 0),
        cost_usd = cost_usd - round(coalesce(OLD.estimated_cost_usd, 0) * 1073741824.0) / 1073741824.0,
        actual_cost_usd = actual_cost_usd - round(coalesce(OLD.actual_cost_usd, 0) * 1073741824.0) / 1073741824.0,
        unpriced_calls = unpriced_calls - (OLD.estimated_cost_usd IS NULL),
        unpriced_tokens = unpriced_tokens
            - CASE WHEN OLD.estimated_cost_usd IS NULL THEN coalesce(OLD.tokens_total, 0) ELSE 0 END
    WHERE coalesce(day, 0) = coalesce(date(OLD.timestamp), substr(OLD.timestamp, 1, 10), 0)
      AND task_id = OLD.task_id AND model = coalesce(OLD.model, '') AND provider = coalesce(OLD.provider, '');
    DELETE FROM cost_rollup
    WHERE coalesce(day, 0) = coalesce(date(OLD.timestamp), substr(OLD.timestamp, 1, 10), 0)
      AND task_id = OLD.task_id AND model = coalesce(OLD.model, '') AND provider = coalesce(OLD.provider, '')
      AND calls <= 0;
END;

-- Migration 5's triggers, the same way.
CREATE TRIGGER cost_rollup_daily_insert AFTER INSERT ON cost_rollup
BEGIN
    INSERT INTO cost_daily VALUES (
        NEW.day, NEW.model, NEW.provider, NEW.calls, NEW.tokens_input, NEW.tokens_output,
        NEW.tokens_cached_read, NEW.tokens_cached_write, NEW.cost_usd, NEW.actual_cost_usd,
        NEW.unpriced_calls, NEW.unpriced_tokens)
    ON CONFLICT (coalesce(day, 0), model, provider) DO UPDATE SET
        calls = calls + excluded.calls,
        tokens_input = tokens_input + excluded.tokens_input,
        tokens_output = tokens_output + excluded.tokens_output,
        tokens_cached_read = tokens_cached_read + excluded.tokens_cached_read,
        tokens_cached_write = tokens_cached_write + excluded.tokens_cached_write,
        cost_usd = cost_usd + excluded.cost_usd,
        actual_cost_usd = actual_cost_usd + excluded.actual_cost_usd,
        unpriced_calls = unpriced_calls + excluded.unpriced_calls,
        unpriced_tokens = unpriced_tokens + excluded.unpriced_tokens;
END;

CREATE TRIGGER cost_rollup_daily_update AFTER UPDATE ON cost_rollup
BEGIN
    UPDATE cost_daily SET
        calls = calls - OLD.calls + NEW.calls,
        tokens_input = tokens_input - OLD.tokens_input + NEW.tokens_input,
        tokens_output = tokens_output - OLD.tokens_output + NEW.tokens_output,
        tokens_cached_read = tokens_cached_read - OLD.tokens_cached_read + NEW.tokens_cached_read,
        tokens_cached_write = tokens_cached_write - OLD.tokens_cached_write + NEW.tokens_cached_write,
        cost_usd = cost_usd - OLD.cost_usd + NEW.cost_usd,
        actual_cost_usd = actual_cost_usd - OLD.actual_cost_usd + NEW.actual_cost_usd,
        unpriced_calls = unpriced_calls - OLD.unpriced_calls + NEW.unpriced_calls,
        unpriced_tokens = unpriced_tokens - OLD.unpriced_tokens + NEW.unpriced_tokens
    WHERE coalesce(day, 0) = coalesce(NEW.day, 0) AND model = NEW.model AND provider = NEW.provider;
END;

CREATE TRIGGER cost_rollup_daily_delete AFTER DELETE ON cost_rollup
BEGIN
    UPDATE cost_daily SET
        calls = calls - OLD.calls,
        tokens_input = tokens_input - OLD.tokens_input,
        tokens_output = tokens_output - OLD.tokens_output,
        tokens_cached_read = tokens_cached_read - OLD.tokens_cached_read,
        tokens_cached_write = tokens_cached_write - OLD.tokens_cached_write,
        cost_usd = cost_usd - OLD.cost_usd,
        actual_cost_usd = actual_cost_usd - OLD.actual_cost_usd,
        unpriced_calls = unpriced_calls - OLD.unpriced_calls,
        unpriced_tokens = unpriced_tokens - OLD.unpriced_tokens
    WHERE coalesce(day, 0) = coalesce(OLD.day, 0) AND model = OLD.model AND provider = OLD.provider;
    DELETE FROM cost_daily
    WHERE coalesce(day, 0) = coalesce(OLD.day, 0) AND model = OLD.model AND provider = OLD.provider
      AND calls <= 0;
END;

-- A TAC-8 session's branch: the first `session.start` record the index
-- read (its `details.git_branch`, else its own `git_branch`) comes after
-- the documents in the precedence of `git_branch` (FORMAT.md 11.1).
-- `task_activity` keeps that record's id; migration 9 left the table
-- empty, and it is counted here (facts.rs's task_activity_select!).
ALTER TABLE task_activity ADD COLUMN session_start INTEGER;
DROP VIEW task_facts;
CREATE VIEW task_facts AS
WITH d AS (
    SELECT t.task_id, t.sealed, t.document AS tj, m.body AS mj, coalesce(r.body, f.body) AS rj,
           coalesce(i.body, i1.body) AS ij,
           a.first_at, a.last_at, coalesce(a.errors, 0) AS record_errors, a.status AS record_status,
           coalesce(a.ended, 0) AS ended,
           (SELECT coalesce(
                       CASE WHEN json_type(x.body, '$.details.git_branch') = 'text' THEN json_extract(x.body, '$.details.git_branch') END,
                       CASE WHEN json_type(x.body, '$.git_branch') = 'text' THEN json_extract(x.body, '$.git_branch') END)
              FROM records x WHERE x.record_id = a.session_start) AS session_branch
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
           CASE WHEN json_type(mj, '$.branch') = 'text' THEN json_extract(mj, '$.branch') END,
           session_branch
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
