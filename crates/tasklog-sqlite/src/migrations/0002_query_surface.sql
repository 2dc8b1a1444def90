-- Migration 2: the query surface (issue 4).
--
-- Views and trigger-maintained tables named and shaped after the reference
-- designs (002: coordinator_sessions, action_triggers, logic_flow,
-- worker_sessions, conversations, api_calls, worktree_operations,
-- system_events; 000/001: tool_calls, decision_log, planning_cycles,
-- agent_state, memory_facts), the price table, the cost rollup and the
-- full-text index. docs/QUERIES.md documents every column mapping.
--
-- Views filter on the indexed `event` column first and only then read JSON
-- out of `body`, so json_extract runs on the rows of one event kind only.
-- Partial indexes (WHERE event = ...) cost an insert nothing for rows of
-- other kinds.
--
-- Views over kinds that have partial indexes write the filter as
-- likely(event = '...'): the partial indexes still apply (likely() is
-- transparent to that check), but the planner no longer takes the bare
-- equality on records_event_ts for the most selective path, which without
-- statistics it otherwise does, scanning every row of the kind.
--
-- Session id fallback used by several views: the record's own
-- `session_id`, else the `session_id` of its task (task.json), else the
-- session whose `session.start` lives in the same folder, else the trace id.

-- Prices in USD per million tokens, loaded from config/prices.toml (and the
-- user's file) each time the indexer opens. One row per name or alias.
CREATE TABLE prices (
    model                TEXT NOT NULL,
    effective_from       TEXT NOT NULL,            -- YYYY-MM-DD (UTC)
    provider             TEXT,
    input_per_mtok       REAL NOT NULL,
    output_per_mtok      REAL NOT NULL,
    cache_read_per_mtok  REAL NOT NULL,
    cache_write_per_mtok REAL NOT NULL,
    source               TEXT NOT NULL,            -- 'built-in' or the user file
    PRIMARY KEY (model, effective_from)
) WITHOUT ROWID;

CREATE INDEX records_session_start ON records(task_id) WHERE event = 'session.start';
CREATE INDEX records_session_end ON records(task_id) WHERE event = 'session.end';
CREATE INDEX records_trigger_type ON records(name, ts) WHERE event = 'trigger';
CREATE INDEX records_decision_context ON records(json_extract(body, '$.context_id'), ts) WHERE event = 'decision';
CREATE INDEX records_decision_function ON records(json_extract(body, '$.function_name'), name, duration_ms) WHERE event = 'decision';
CREATE INDEX records_decision_point ON records(name, duration_ms) WHERE event = 'decision';
CREATE INDEX records_decision_duration ON records(duration_ms) WHERE event = 'decision';
CREATE INDEX records_worker_exit ON records(task_id, json_extract(body, '$.worker_id')) WHERE event = 'worker.exit';
CREATE INDEX records_worker_spawn ON records(json_extract(body, '$.worker_id')) WHERE event = 'worker.spawn';
CREATE INDEX records_worker_spawn_task ON records(task_id) WHERE event = 'worker.spawn';

-- Resolves a worker's records (parent_span_id) to its worker.spawn row.
-- A table of its own, kept by triggers, because the insert triggers below
-- look it up for every model call and message, and bulk loads drop every
-- index of records until they end.
CREATE TABLE worker_spans (
    span_id   TEXT PRIMARY KEY,
    worker_id TEXT,
    task_id   TEXT NOT NULL,
    record_id INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR REPLACE INTO worker_spans
SELECT span_id, json_extract(body, '$.worker_id'), task_id, record_id
  FROM records WHERE event = 'worker.spawn' AND span_id IS NOT NULL ORDER BY record_id;

CREATE TRIGGER records_worker_span_insert AFTER INSERT ON records
WHEN NEW.event = 'worker.spawn' AND NEW.span_id IS NOT NULL
BEGIN
    INSERT OR REPLACE INTO worker_spans VALUES (NEW.span_id, json_extract(NEW.body, '$.worker_id'), NEW.task_id, NEW.record_id);
END;

CREATE TRIGGER records_worker_span_delete AFTER DELETE ON records
WHEN OLD.event = 'worker.spawn' AND OLD.span_id IS NOT NULL
BEGIN
    DELETE FROM worker_spans WHERE span_id = OLD.span_id AND record_id = OLD.record_id;
END;
CREATE INDEX records_system ON records(severity, component, ts) WHERE event = 'system';
CREATE INDEX records_system_component ON records(component, ts) WHERE event = 'system';
CREATE INDEX records_worktree ON records(name, ts) WHERE event = 'worktree';
CREATE INDEX records_memory_subject ON records(name, ts) WHERE event = 'memory.fact';
CREATE INDEX records_tool_fail ON records(ts) WHERE event = 'tool.fail';
CREATE INDEX records_tool_start ON records(task_id, ts) WHERE event = 'tool.start';
CREATE INDEX records_cycle_start ON records(task_id, ts) WHERE event = 'cycle.start';

-- What an llm.call record becomes in api_calls, computed in one place:
-- the trigger below inserts from it, and re-pricing rebuilds from it. The
-- price lookup is written twice (cost and its source) rather than in a
-- derived table, which SQLite would not flatten into the trigger's lookup
-- by record_id; it avoids ORDER BY on outer columns, which SQLite before
-- 3.41 (Python's sqlite3, Datasette) refuses. A model name is looked up
-- as written, else without a "provider/" prefix; a call older than every
-- entry of its model takes the oldest entry.
CREATE VIEW llm_call_rows AS
SELECT
    r.record_id AS call_id,
    coalesce(json_extract(r.body, '$.worker_id'),
             (SELECT w.worker_id FROM worker_spans w WHERE w.span_id = r.parent_span_id),
             r.task_id) AS worker_id,
    r.task_id AS task_id,
    r.ts AS timestamp,
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

-- 002 api_calls, one row per llm.call record (call_id = records.record_id),
-- kept by triggers so cost queries read small rows with their own indexes.
CREATE TABLE api_calls (
    call_id                INTEGER PRIMARY KEY,
    worker_id              TEXT NOT NULL,
    task_id                TEXT NOT NULL,
    timestamp              TEXT NOT NULL,
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
-- 002's indexes, widened so that its key queries (cost and tokens per
-- worker, cost and speed per model) read the index alone.
CREATE INDEX api_calls_worker ON api_calls(worker_id, timestamp, estimated_cost_usd, tokens_total);
CREATE INDEX api_calls_model ON api_calls(model, timestamp);
CREATE INDEX api_calls_model_cost ON api_calls(model, estimated_cost_usd, tokens_per_second, time_to_first_token_ms);
CREATE INDEX api_calls_task ON api_calls(task_id, timestamp);
CREATE INDEX api_calls_date ON api_calls(date(timestamp), estimated_cost_usd);

-- Cost and tokens per UTC day, task, model and provider: what `tasklog
-- cost` and `tasklog tasks` read, so they do not scan every call.
CREATE TABLE cost_rollup (
    day                 TEXT NOT NULL,
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
    unpriced_tokens     INTEGER NOT NULL,
    PRIMARY KEY (day, task_id, model, provider)
) WITHOUT ROWID;
CREATE INDEX cost_rollup_task ON cost_rollup(task_id);

CREATE TRIGGER records_api_calls_insert AFTER INSERT ON records
WHEN NEW.event = 'llm.call'
BEGIN
    INSERT INTO api_calls SELECT * FROM llm_call_rows WHERE call_id = NEW.record_id;
END;

CREATE TRIGGER records_api_calls_delete AFTER DELETE ON records
WHEN OLD.event = 'llm.call'
BEGIN
    DELETE FROM api_calls WHERE call_id = OLD.record_id;
END;

CREATE TRIGGER api_calls_rollup_insert AFTER INSERT ON api_calls
BEGIN
    INSERT INTO cost_rollup VALUES (
        coalesce(date(NEW.timestamp), substr(NEW.timestamp, 1, 10)), NEW.task_id,
        coalesce(NEW.model, ''), coalesce(NEW.provider, ''), 1,
        coalesce(NEW.tokens_input, 0), coalesce(NEW.tokens_output, 0),
        coalesce(NEW.tokens_cached_read, 0), coalesce(NEW.tokens_cached_write, 0),
        coalesce(NEW.estimated_cost_usd, 0), coalesce(NEW.actual_cost_usd, 0),
        NEW.estimated_cost_usd IS NULL,
        CASE WHEN NEW.estimated_cost_usd IS NULL THEN coalesce(NEW.tokens_total, 0) ELSE 0 END)
    ON CONFLICT (day, task_id, model, provider) DO UPDATE SET
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
        cost_usd = cost_usd - coalesce(OLD.estimated_cost_usd, 0),
        actual_cost_usd = actual_cost_usd - coalesce(OLD.actual_cost_usd, 0),
        unpriced_calls = unpriced_calls - (OLD.estimated_cost_usd IS NULL),
        unpriced_tokens = unpriced_tokens
            - CASE WHEN OLD.estimated_cost_usd IS NULL THEN coalesce(OLD.tokens_total, 0) ELSE 0 END
    WHERE day = coalesce(date(OLD.timestamp), substr(OLD.timestamp, 1, 10)) AND task_id = OLD.task_id
      AND model = coalesce(OLD.model, '') AND provider = coalesce(OLD.provider, '');
    DELETE FROM cost_rollup
    WHERE day = coalesce(date(OLD.timestamp), substr(OLD.timestamp, 1, 10)) AND task_id = OLD.task_id
      AND model = coalesce(OLD.model, '') AND provider = coalesce(OLD.provider, '') AND calls <= 0;
END;

-- Full-text search over messages, decisions and tool inputs, outputs and
-- errors. Named <table>_fts as Datasette expects; rowid = records.record_id.
-- Contentless (content=''): the text is not stored twice; records_fts_source
-- gives it back for display. Only the five searchable event kinds pay for
-- it at insert time. The text expression appears three times (the view,
-- the insert trigger, the delete trigger, which must hand FTS5 the exact
-- text it indexed): keep them identical.
CREATE VIEW records_fts_source AS
SELECT r.record_id AS rowid,
       CASE r.event
           WHEN 'message' THEN coalesce(r.role || ': ', '') || coalesce(json_extract(r.body, '$.content'), '')
           WHEN 'decision' THEN coalesce(r.name, '') || ' ' || coalesce(json_extract(r.body, '$.reason'), '')
                || ' ' || coalesce(json_extract(r.body, '$.input'), '')
                || ' ' || coalesce(json_extract(r.body, '$.output'), '')
           WHEN 'tool.start' THEN coalesce(r.name, '') || ' ' || coalesce(json_extract(r.body, '$.input'), '')
           WHEN 'tool.complete' THEN coalesce(r.name, '') || ' ' || coalesce(json_extract(r.body, '$.output'), '')
           ELSE coalesce(r.name, '') || ' ' || coalesce(json_extract(r.body, '$.error'), '')
       END AS text
FROM records r
WHERE r.event IN ('message', 'decision', 'tool.start', 'tool.complete', 'tool.fail');

CREATE VIRTUAL TABLE records_fts USING fts5(text, content = '');

CREATE TRIGGER records_fts_insert AFTER INSERT ON records
WHEN NEW.event IN ('message', 'decision', 'tool.start', 'tool.complete', 'tool.fail')
BEGIN
    INSERT INTO records_fts (rowid, text) VALUES (NEW.record_id,
       CASE NEW.event
           WHEN 'message' THEN coalesce(NEW.role || ': ', '') || coalesce(json_extract(NEW.body, '$.content'), '')
           WHEN 'decision' THEN coalesce(NEW.name, '') || ' ' || coalesce(json_extract(NEW.body, '$.reason'), '')
                || ' ' || coalesce(json_extract(NEW.body, '$.input'), '')
                || ' ' || coalesce(json_extract(NEW.body, '$.output'), '')
           WHEN 'tool.start' THEN coalesce(NEW.name, '') || ' ' || coalesce(json_extract(NEW.body, '$.input'), '')
           WHEN 'tool.complete' THEN coalesce(NEW.name, '') || ' ' || coalesce(json_extract(NEW.body, '$.output'), '')
           ELSE coalesce(NEW.name, '') || ' ' || coalesce(json_extract(NEW.body, '$.error'), '')
       END);
END;

CREATE TRIGGER records_fts_delete AFTER DELETE ON records
WHEN OLD.event IN ('message', 'decision', 'tool.start', 'tool.complete', 'tool.fail')
BEGIN
    INSERT INTO records_fts (records_fts, rowid, text) VALUES ('delete', OLD.record_id,
       CASE OLD.event
           WHEN 'message' THEN coalesce(OLD.role || ': ', '') || coalesce(json_extract(OLD.body, '$.content'), '')
           WHEN 'decision' THEN coalesce(OLD.name, '') || ' ' || coalesce(json_extract(OLD.body, '$.reason'), '')
                || ' ' || coalesce(json_extract(OLD.body, '$.input'), '')
                || ' ' || coalesce(json_extract(OLD.body, '$.output'), '')
           WHEN 'tool.start' THEN coalesce(OLD.name, '') || ' ' || coalesce(json_extract(OLD.body, '$.input'), '')
           WHEN 'tool.complete' THEN coalesce(OLD.name, '') || ' ' || coalesce(json_extract(OLD.body, '$.output'), '')
           ELSE coalesce(OLD.name, '') || ' ' || coalesce(json_extract(OLD.body, '$.error'), '')
       END);
END;

-- Backfill what migration 1 already indexed (prices are loaded after the
-- migration, and loading them re-prices these rows).
INSERT INTO api_calls SELECT * FROM llm_call_rows;
INSERT INTO records_fts (rowid, text) SELECT rowid, text FROM records_fts_source;

-- 002 coordinator_sessions: session.start rows, ended by session.end.
CREATE VIEW coordinator_sessions AS
SELECT coalesce(json_extract(s.body, '$.session_id'), s.task_id) AS session_id,
       s.ts AS started_at,
       e.ts AS ended_at,
       json_extract(s.body, '$.details.config') AS config,
       json_extract(e.body, '$.exit_reason') AS exit_reason,
       json_extract(s.body, '$.pid') AS pid,
       json_extract(s.body, '$.details.hostname') AS hostname,
       json_extract(s.body, '$.details.git_branch') AS git_branch,
       json_extract(s.body, '$.details.git_commit') AS git_commit,
       json_extract(s.body, '$.details.python_version') AS python_version,
       json_extract(s.body, '$.details.tac_version') AS tac_version,
       s.task_id AS task_id,
       s.trace_id AS trace_id,
       s.record_id AS record_id
FROM records s
LEFT JOIN records e
       ON e.task_id = s.task_id AND likely(e.event = 'session.end')
      AND coalesce(json_extract(e.body, '$.session_id'), e.task_id)
          = coalesce(json_extract(s.body, '$.session_id'), s.task_id)
WHERE likely(s.event = 'session.start');

-- 002 action_triggers.
CREATE VIEW action_triggers AS
SELECT r.record_id AS trigger_id,
       coalesce(json_extract(r.body, '$.session_id'), t.session_id,
                (SELECT json_extract(ss.body, '$.session_id') FROM records ss
                  WHERE ss.task_id = r.task_id AND likely(ss.event = 'session.start') LIMIT 1),
                r.trace_id) AS session_id,
       r.ts AS timestamp,
       r.name AS trigger_type,
       json_extract(r.body, '$.source') AS trigger_source,
       json_extract(r.body, '$.data') AS trigger_data,
       r.task_id AS task_id,
       r.id AS id,
       r.span_id AS span_id
FROM records r LEFT JOIN tasks t ON t.task_id = r.task_id
WHERE likely(r.event = 'trigger');

-- 002 logic_flow.
CREATE VIEW logic_flow AS
SELECT r.record_id AS flow_id,
       coalesce(json_extract(r.body, '$.session_id'),
                (SELECT t.session_id FROM tasks t WHERE t.task_id = r.task_id),
                (SELECT json_extract(ss.body, '$.session_id') FROM records ss
                  WHERE ss.task_id = r.task_id AND likely(ss.event = 'session.start') LIMIT 1),
                r.trace_id) AS session_id,
       r.ts AS timestamp,
       json_extract(r.body, '$.context_type') AS context_type,
       json_extract(r.body, '$.context_id') AS context_id,
       json_extract(r.body, '$.function_name') AS function_name,
       r.name AS decision_point,
       json_extract(r.body, '$.input') AS decision_input,
       json_extract(r.body, '$.output') AS decision_output,
       json_extract(r.body, '$.reason') AS decision_reason,
       r.duration_ms AS duration_ms,
       json_extract(r.body, '$.source_file') AS source_file,
       r.task_id AS task_id,
       r.id AS id,
       r.span_id AS span_id,
       r.parent_span_id AS parent_span_id
FROM records r
WHERE likely(r.event = 'decision');

-- 002 worker_sessions: worker.spawn rows, ended by the worker.exit with the
-- same worker_id in the same task; plus one implicit row per task whose
-- model calls name no worker (worker_id = task_id), so that joins from
-- api_calls through worker_sessions to tasks work for agents that never
-- spawn workers.
CREATE VIEW worker_sessions AS
SELECT json_extract(s.body, '$.worker_id') AS worker_id,
       coalesce(json_extract(s.body, '$.session_id'),
                (SELECT t.session_id FROM tasks t WHERE t.task_id = s.task_id), s.trace_id) AS session_id,
       s.task_id AS task_id,
       s.ts AS spawned_at,
       CASE WHEN e.status IS NOT 'failed' THEN e.ts END AS completed_at,
       CASE WHEN e.status = 'failed' THEN e.ts END AS failed_at,
       json_extract(s.body, '$.pid') AS pid,
       coalesce(e.status, 'running') AS status,
       json_extract(e.body, '$.exit_code') AS exit_code,
       json_extract(e.body, '$.failure_reason') AS failure_reason,
       json_extract(s.body, '$.worktree_path') AS worktree_path,
       json_extract(s.body, '$.branch_name') AS branch_name,
       json_extract(s.body, '$.prompt_file') AS prompt_file,
       json_extract(s.body, '$.log_file') AS log_file,
       0 AS implicit,
       s.span_id AS span_id
FROM records s
LEFT JOIN records e
       ON likely(e.event = 'worker.exit') AND e.task_id = s.task_id
      AND json_extract(e.body, '$.worker_id') = json_extract(s.body, '$.worker_id')
WHERE likely(s.event = 'worker.spawn')
UNION ALL
SELECT t.task_id, t.session_id, t.task_id,
       coalesce(t.started_at, t.detected_at, t.created_at, t.first_seen_at),
       t.completed_at, t.failed_at, NULL, coalesce(t.status, 'running'), NULL, t.failure_reason,
       NULL, NULL, NULL, NULL, 1, NULL
FROM tasks t
WHERE EXISTS (SELECT 1 FROM api_calls a WHERE a.worker_id = t.task_id);

-- 002 conversations: one row per content block of each message (a string
-- content is one 'text' block); message_index = the record's
-- message_index, else its seq; block_index orders blocks inside it.
-- The block structure (worker, type, tool, success) is kept by triggers in
-- conversation_blocks, so the reference queries use its indexes instead of
-- expanding every message's JSON; the text itself stays in records.body.
CREATE VIEW conversation_block_rows AS
SELECT r.record_id AS record_id,
       b.key AS block_index,
       coalesce(json_extract(r.body, '$.worker_id'),
                (SELECT w.worker_id FROM worker_spans w WHERE w.span_id = r.parent_span_id),
                r.task_id) AS worker_id,
       coalesce(json_extract(r.body, '$.message_index'), r.seq) AS message_index,
       CASE b.type WHEN 'object' THEN json_extract(b.value, '$.type') WHEN 'text' THEN 'text' ELSE b.type END AS content_type,
       CASE WHEN b.type = 'object' AND json_extract(b.value, '$.type') = 'tool_use'
            THEN json_extract(b.value, '$.name') END AS tool_name,
       CASE WHEN b.type = 'object' AND json_extract(b.value, '$.type') = 'tool_result'
            THEN NOT coalesce(json_extract(b.value, '$.is_error'), 0) END AS tool_success,
       r.task_id AS task_id,
       r.ts AS ts,
       r.role AS role
FROM records r
JOIN json_each(CASE WHEN json_type(r.body, '$.content') = 'array' THEN r.body -> '$.content'
                    ELSE json_array(json(r.body -> '$.content')) END) b
WHERE r.event = 'message';

CREATE TABLE conversation_blocks (
    record_id     INTEGER NOT NULL,
    block_index   INTEGER NOT NULL,
    worker_id     TEXT NOT NULL,
    message_index INTEGER,
    content_type  TEXT,
    tool_name     TEXT,
    tool_success  INTEGER,
    task_id       TEXT NOT NULL,
    ts            TEXT NOT NULL,
    role          TEXT,
    PRIMARY KEY (record_id, block_index)
) WITHOUT ROWID;
CREATE INDEX conversation_blocks_worker ON conversation_blocks(worker_id, message_index);
CREATE INDEX conversation_blocks_type ON conversation_blocks(content_type, tool_name, tool_success);

CREATE TRIGGER records_conversation_insert AFTER INSERT ON records
WHEN NEW.event = 'message'
BEGIN
    INSERT INTO conversation_blocks SELECT * FROM conversation_block_rows WHERE record_id = NEW.record_id;
END;

CREATE TRIGGER records_conversation_delete AFTER DELETE ON records
WHEN OLD.event = 'message'
BEGIN
    DELETE FROM conversation_blocks WHERE record_id = OLD.record_id;
END;

INSERT INTO conversation_blocks SELECT * FROM conversation_block_rows;

-- Columns that need the message body read it by record_id, only when asked
-- for, so that structural questions read conversation_blocks alone.
CREATE VIEW conversations AS
SELECT c.record_id AS conversation_id,
       c.worker_id AS worker_id,
       c.message_index AS message_index,
       c.block_index AS block_index,
       c.ts AS timestamp,
       c.role AS role,
       (SELECT CASE json_type(r.body, CASE WHEN json_type(r.body, '$.content') = 'array' THEN '$.content[' || c.block_index || ']' ELSE '$.content' END)
                   WHEN 'object' THEN coalesce(json_extract(r.body, CASE WHEN json_type(r.body, '$.content') = 'array' THEN '$.content[' || c.block_index || ']' ELSE '$.content' END || '.text'),
                                               json_extract(r.body, CASE WHEN json_type(r.body, '$.content') = 'array' THEN '$.content[' || c.block_index || ']' ELSE '$.content' END || '.content'),
                                               json_extract(r.body, CASE WHEN json_type(r.body, '$.content') = 'array' THEN '$.content[' || c.block_index || ']' ELSE '$.content' END || '.input'),
                                               json_extract(r.body, CASE WHEN json_type(r.body, '$.content') = 'array' THEN '$.content[' || c.block_index || ']' ELSE '$.content' END))
                   ELSE json_extract(r.body, CASE WHEN json_type(r.body, '$.content') = 'array' THEN '$.content[' || c.block_index || ']' ELSE '$.content' END) END
          FROM records r WHERE r.record_id = c.record_id) AS content,
       c.content_type AS content_type,
       c.tool_name AS tool_name,
       CASE WHEN c.content_type = 'tool_use' THEN
           (SELECT json_extract(r.body, CASE WHEN json_type(r.body, '$.content') = 'array' THEN '$.content[' || c.block_index || ']' ELSE '$.content' END || '.input') FROM records r WHERE r.record_id = c.record_id) END AS tool_input,
       CASE WHEN c.content_type = 'tool_result' THEN
           (SELECT json_extract(r.body, CASE WHEN json_type(r.body, '$.content') = 'array' THEN '$.content[' || c.block_index || ']' ELSE '$.content' END || '.content') FROM records r WHERE r.record_id = c.record_id) END AS tool_output,
       c.tool_success AS tool_success,
       c.task_id AS task_id,
       (SELECT r.span_id FROM records r WHERE r.record_id = c.record_id) AS span_id
FROM conversation_blocks c;

-- 002 worktree_operations.
CREATE VIEW worktree_operations AS
SELECT r.record_id AS operation_id,
       coalesce(json_extract(r.body, '$.session_id'),
                (SELECT t.session_id FROM tasks t WHERE t.task_id = r.task_id), r.trace_id) AS session_id,
       r.task_id AS task_id,
       r.ts AS timestamp,
       r.name AS operation,
       json_extract(r.body, '$.worktree_path') AS worktree_path,
       json_extract(r.body, '$.branch_name') AS branch_name,
       json_extract(r.body, '$.reason') AS decision_reason,
       json_extract(r.body, '$.had_changes') AS had_changes,
       json_extract(r.body, '$.was_clean') AS was_clean,
       json_extract(r.body, '$.worker_running') AS worker_running,
       json_extract(r.body, '$.worker_pid') AS worker_pid,
       json_extract(r.body, '$.file_mtime_age_minutes') AS file_mtime_age_minutes,
       json_extract(r.body, '$.decision_logic') AS decision_logic
FROM records r
WHERE likely(r.event = 'worktree');

-- 002 system_events. event_type: details.event_type (the helper), else a
-- top-level event_type, else name, else the severity.
CREATE VIEW system_events AS
SELECT r.record_id AS event_id,
       coalesce(json_extract(r.body, '$.session_id'),
                (SELECT t.session_id FROM tasks t WHERE t.task_id = r.task_id),
                (SELECT json_extract(ss.body, '$.session_id') FROM records ss
                  WHERE ss.task_id = r.task_id AND likely(ss.event = 'session.start') LIMIT 1),
                r.trace_id) AS session_id,
       r.ts AS timestamp,
       coalesce(json_extract(r.body, '$.details.event_type'), json_extract(r.body, '$.event_type'),
                r.name, r.severity) AS event_type,
       r.severity AS severity,
       r.component AS component,
       json_extract(r.body, '$.message') AS message,
       json_extract(r.body, '$.details') AS details,
       coalesce(json_extract(r.body, '$.details.stack_trace'), json_extract(r.body, '$.stack_trace')) AS stack_trace,
       r.task_id AS task_id
FROM records r
WHERE likely(r.event = 'system');

-- 000/001 tool_calls, one row per call: tool.start paired by span_id with
-- its tool.complete or tool.fail. status uses 001's words: 'started' (no
-- end row yet), 'success', 'failure'.
CREATE VIEW tool_calls AS
SELECT s.record_id AS id,
       s.span_id AS span_id,
       s.task_id AS task_id,
       coalesce(s.tool_name, s.name) AS tool_name,
       CASE e.event WHEN 'tool.complete' THEN 'success' WHEN 'tool.fail' THEN 'failure' ELSE 'started' END AS status,
       json_extract(s.body, '$.input') AS input,
       json_extract(e.body, '$.output') AS output,
       CASE WHEN e.event = 'tool.fail' THEN coalesce(e.error, json_extract(e.body, '$.error')) END AS error,
       e.duration_ms AS duration_ms,
       s.ts AS started_at,
       e.ts AS completed_at,
       s.trace_id AS trace_id,
       s.parent_span_id AS parent_span_id,
       e.record_id AS end_record_id
FROM records s
LEFT JOIN records e
       ON e.span_id = s.span_id AND e.task_id = s.task_id AND e.event IN ('tool.complete', 'tool.fail')
WHERE likely(s.event = 'tool.start');

-- 000/001 decision_log: the decision with its full reasoning; cycle_id is
-- the parent span (the planning cycle's span_id by convention).
CREATE VIEW decision_log AS
SELECT r.record_id AS id,
       r.parent_span_id AS cycle_id,
       json_extract(r.body, '$.reason') AS reasoning,
       coalesce(json_extract(r.body, '$.output'), r.name) AS decision,
       r.ts AS created_at,
       r.name AS decision_point,
       r.duration_ms AS duration_ms,
       r.task_id AS task_id,
       r.span_id AS span_id
FROM records r
WHERE likely(r.event = 'decision');

-- 000/001 planning_cycles, one row per cycle: cycle.start paired with its
-- cycle.complete; status 'active' until it completes ('ok' reads 'completed').
CREATE VIEW planning_cycles AS
SELECT s.record_id AS id,
       s.span_id AS span_id,
       s.task_id AS task_id,
       s.name AS name,
       json_extract(s.body, '$.goals') AS goals,
       CASE WHEN e.record_id IS NULL THEN 'active'
            WHEN e.status IS NULL OR e.status = 'ok' THEN 'completed'
            ELSE e.status END AS status,
       json_extract(e.body, '$.outcome') AS outcomes,
       s.ts AS started_at,
       e.ts AS completed_at,
       e.duration_ms AS duration_ms
FROM records s
LEFT JOIN records e
       ON e.span_id = s.span_id AND e.task_id = s.task_id AND e.event = 'cycle.complete'
WHERE likely(s.event = 'cycle.start');

-- 001 agent_state: the current value of each key of each task's state.json.
CREATE VIEW agent_state AS
SELECT d.task_id AS task_id,
       j.key AS key,
       json_extract(j.value, '$.value') AS value,
       json_extract(j.value, '$.updated_at') AS updated_at,
       json_extract(j.value, '$.expires_at') AS expires_at,
       CASE WHEN json_extract(j.value, '$.expires_at') IS NULL THEN 0
            WHEN json_extract(j.value, '$.expires_at') > strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z' THEN 0
            ELSE 1 END AS expired
FROM documents d
JOIN json_each(CASE WHEN json_type(d.body) = 'object' THEN d.body ELSE '{}' END) j
WHERE d.name = 'state' AND j.type = 'object';

-- 001 memory_facts: a later fact about the same subject makes the earlier
-- one stale, as does is_stale: true on the record itself.
CREATE VIEW memory_facts AS
SELECT r.record_id AS id,
       r.name AS subject,
       json_extract(r.body, '$.body') AS body,
       json_extract(r.body, '$.fact') AS fact,
       CASE WHEN json_extract(r.body, '$.is_stale') THEN 1
            WHEN EXISTS (SELECT 1 FROM records n
                          WHERE likely(n.event = 'memory.fact') AND n.name = r.name
                            AND (n.ts > r.ts OR (n.ts = r.ts AND n.record_id > r.record_id))) THEN 1
            ELSE 0 END AS is_stale,
       r.ts AS created_at,
       r.task_id AS task_id
FROM records r
WHERE likely(r.event = 'memory.fact');
