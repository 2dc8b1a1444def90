-- PostgreSQL migration 4: the SQLite index's migration 11 in this
-- dialect (model calls of a source without timestamps in no day, a TAC-8
-- session's branch among the facts), the same column types as SQLite
-- where they drifted, and full-text search (issue 19).

-- A record whose `ts` is the indexing time (`ts_source` = 'indexed') has
-- no known time: its call's `timestamp` is NULL, so `cost_rollup` and
-- `cost_daily` (views over this one) give it a NULL `day`, which every
-- bound on days or times leaves out and totals keep.
CREATE OR REPLACE VIEW api_calls AS
SELECT r.host_id,
       r.record_id AS call_id,
       coalesce(r.doc ->> 'worker_id',
                (SELECT w.worker_id FROM worker_spans w
                  WHERE w.host_id = r.host_id AND w.span_id = r.parent_span_id
                  ORDER BY w.record_id DESC LIMIT 1),
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
       coalesce(r.cost_usd, p.priced_cost) AS estimated_cost_usd,
       r.cost_usd AS actual_cost_usd,
       CASE WHEN r.cost_usd IS NOT NULL THEN 'record'
            WHEN p.priced_cost IS NOT NULL THEN 'price_table'
            ELSE 'unpriced' END AS cost_source,
       tasklog_real(r.doc #> '{gen_ai,server,time_to_first_token_ms}') AS time_to_first_token_ms,
       r.duration_ms AS duration_ms,
       CASE WHEN r.duration_ms > 0 AND r.output_tokens IS NOT NULL
            THEN r.output_tokens / (r.duration_ms / 1000.0) END AS tokens_per_second,
       CASE WHEN r.error IS NOT NULL OR r.doc ? 'error' OR r.status IN ('error', 'failed')
            THEN 0 ELSE 1 END AS success,
       coalesce(r.error, r.doc ->> 'error') AS error_message,
       r.doc ->> 'error_code' AS error_code,
       r.span_id AS span_id,
       r.trace_id AS trace_id
FROM records r
LEFT JOIN LATERAL (
    -- The model as written, else without a "provider/" prefix; the entry
    -- in effect on the call's day, else the model's oldest entry.
    SELECT (greatest(coalesce(r.input_tokens, 0) - coalesce(r.cache_read_tokens, 0)
                     - coalesce(r.cache_write_tokens, 0), 0) * x.input_per_mtok
            + coalesce(r.cache_read_tokens, 0) * x.cache_read_per_mtok
            + coalesce(r.cache_write_tokens, 0) * x.cache_write_per_mtok
            + coalesce(r.output_tokens, 0) * x.output_per_mtok) / 1e6 AS priced_cost
      FROM prices x
     WHERE x.model = CASE WHEN EXISTS (SELECT 1 FROM prices m WHERE m.model = r.model) THEN r.model
                          ELSE substr(r.model, strpos(r.model, '/') + 1) END
       AND (r.input_tokens IS NOT NULL OR r.output_tokens IS NOT NULL)
     ORDER BY (x.effective_from <= substr(r.ts, 1, 10)) DESC,
              CASE WHEN x.effective_from <= substr(r.ts, 1, 10) THEN x.effective_from END DESC,
              x.effective_from ASC
     LIMIT 1
) p ON true
WHERE r.event = 'llm.call';

-- `tool_success` is 0/1 as on SQLite (it was boolean): the same values
-- and the same type from both stores (issue 19). A view's column type
-- cannot change in place, so both views are made again.
DROP VIEW conversations;
DROP VIEW conversation_blocks;
CREATE VIEW conversation_blocks AS
SELECT host_id, record_id, block_index, worker_id, message_index, content_type,
       CASE WHEN content_type = 'tool_use' AND jsonb_typeof(block) = 'object' THEN block ->> 'name' END AS tool_name,
       CASE WHEN content_type = 'tool_result' AND jsonb_typeof(block) = 'object'
            THEN (NOT coalesce(tasklog_int(block -> 'is_error') <> 0, false))::int END AS tool_success,
       task_id, ts, role
FROM conversation_block_values;

CREATE VIEW conversations AS
SELECT c.host_id,
       c.record_id AS conversation_id,
       c.worker_id AS worker_id,
       c.message_index AS message_index,
       c.block_index AS block_index,
       c.ts AS timestamp,
       c.role AS role,
       CASE WHEN jsonb_typeof(c.block) = 'object'
            THEN coalesce(c.block ->> 'text', c.block ->> 'content', c.block ->> 'input', c.block #>> '{}')
            ELSE c.block #>> '{}' END AS content,
       c.content_type AS content_type,
       CASE WHEN c.content_type = 'tool_use' AND jsonb_typeof(c.block) = 'object' THEN c.block ->> 'name' END AS tool_name,
       CASE WHEN c.content_type = 'tool_use' AND jsonb_typeof(c.block) = 'object' THEN c.block ->> 'input' END AS tool_input,
       CASE WHEN c.content_type = 'tool_result' AND jsonb_typeof(c.block) = 'object' THEN c.block ->> 'content' END AS tool_output,
       CASE WHEN c.content_type = 'tool_result' AND jsonb_typeof(c.block) = 'object'
            THEN (NOT coalesce(tasklog_int(c.block -> 'is_error') <> 0, false))::int END AS tool_success,
       c.task_id AS task_id,
       c.span_id AS span_id
FROM conversation_block_values c;

-- An integer flag compared with a boolean, as SQLite compares them (FALSE
-- is 0, TRUE is 1): the reference query's `tool_success = FALSE` keeps
-- running as written (tests/key_queries.sql). Only `integer = boolean`
-- and `boolean = integer` are added, which were errors before; a literal
-- in quotes still compares as an integer.
CREATE FUNCTION tasklog_int_eq_bool(i integer, b boolean) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT i = b::int $$;
CREATE FUNCTION tasklog_bool_eq_int(b boolean, i integer) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT i = b::int $$;
CREATE OPERATOR = (LEFTARG = integer, RIGHTARG = boolean, FUNCTION = tasklog_int_eq_bool, COMMUTATOR = =);
CREATE OPERATOR = (LEFTARG = boolean, RIGHTARG = integer, FUNCTION = tasklog_bool_eq_int, COMMUTATOR = =);

-- The first `session.start` record read for a task (its branch is a fact,
-- FORMAT.md 11.1). A column added at the end, as CREATE OR REPLACE allows.
CREATE OR REPLACE VIEW task_activity AS
SELECT a.host_id, a.task_id, a.records, a.first_at, a.last_at, a.errors, a.status_record,
       (SELECT r.status FROM records r WHERE r.record_id = a.status_record) AS status, a.ended,
       a.session_start
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
               sum(CASE WHEN event = 'session.end' THEN 1 ELSE 0 END) AS ended,
               min(CASE WHEN event = 'session.start' THEN record_id END) AS session_start
          FROM records GROUP BY host_id, task_id) a;

CREATE OR REPLACE VIEW task_facts AS
WITH d AS (
    SELECT t.host_id, t.task_id, t.sealed, tasklog_jsonb(t.document) AS tj, tasklog_jsonb(m.body) AS mj,
           tasklog_jsonb(coalesce(r.body, f.body)) AS rj, tasklog_jsonb(coalesce(i.body, i1.body)) AS ij,
           a.first_at, a.last_at, coalesce(a.errors, 0) AS record_errors, a.status AS record_status,
           coalesce(a.ended, 0) AS ended,
           (SELECT coalesce(tasklog_text(x.doc #> '{details,git_branch}'), tasklog_text(x.doc -> 'git_branch'))
              FROM records x WHERE x.record_id = a.session_start) AS session_branch
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
                tasklog_text(mj -> 'branch'), session_branch) AS git_branch,
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

-- Full-text search over the text SQLite's `records_fts_source` indexes
-- (messages, decisions, tool inputs, outputs and errors), in the same
-- shape: objects read out of JSON are jsonb's text form. At most the
-- first 100,000 characters: a tsvector must stay under 1 MB, and a longer
-- text would make the record's insert fail. The GIN index over
-- `to_tsvector('simple', ...)` of this text is `records_search`
-- (schema.rs: built with the other secondary indexes on an empty table,
-- else CONCURRENTLY after the migration, so writers are not blocked).
CREATE FUNCTION tasklog_search_text(event text, role text, name text, doc jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT left(CASE event
        WHEN 'message' THEN coalesce(role || ': ', '') || coalesce(doc ->> 'content', '')
        WHEN 'decision' THEN coalesce(name, '') || ' ' || coalesce(doc ->> 'reason', '')
             || ' ' || coalesce(doc ->> 'input', '') || ' ' || coalesce(doc ->> 'output', '')
        WHEN 'tool.start' THEN coalesce(name, '') || ' ' || coalesce(doc ->> 'input', '')
        WHEN 'tool.complete' THEN coalesce(name, '') || ' ' || coalesce(doc ->> 'output', '')
        ELSE coalesce(name, '') || ' ' || coalesce(doc ->> 'error', '')
    END, 100000)
$$;
