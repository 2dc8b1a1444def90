-- PostgreSQL migration 2: the query surface, as views over `records`,
-- `documents` and `tasks`, with the names and columns of the SQLite index
-- (its migrations 2, 4, 5 and 7; docs/QUERIES.md) plus `host_id` first.
-- Differences of dialect are listed in docs/POSTGRES.md: values read out
-- of JSON are text unless a number or a flag is meant (tasklog_int,
-- tasklog_real), objects read out of JSON are jsonb's text form.
-- Every join and lookup stays within one host.

-- A worker.spawn's span, so that its worker's records find their worker.
CREATE VIEW worker_spans AS
SELECT r.host_id, r.span_id, r.doc ->> 'worker_id' AS worker_id, r.task_id, r.record_id
FROM records r
WHERE r.event = 'worker.spawn' AND r.span_id IS NOT NULL;

-- 002 api_calls, one row per llm.call record (call_id = records.record_id).
CREATE VIEW api_calls AS
SELECT r.host_id,
       r.record_id AS call_id,
       coalesce(r.doc ->> 'worker_id',
                (SELECT w.worker_id FROM worker_spans w
                  WHERE w.host_id = r.host_id AND w.span_id = r.parent_span_id
                  ORDER BY w.record_id DESC LIMIT 1),
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

-- Cost and tokens per UTC day, task, model and provider.
CREATE VIEW cost_rollup AS
SELECT a.host_id,
       tasklog_utc_day(a.timestamp) AS day,
       a.task_id,
       coalesce(a.model, '') AS model,
       coalesce(a.provider, '') AS provider,
       count(*) AS calls,
       sum(coalesce(a.tokens_input, 0)) AS tokens_input,
       sum(coalesce(a.tokens_output, 0)) AS tokens_output,
       sum(coalesce(a.tokens_cached_read, 0)) AS tokens_cached_read,
       sum(coalesce(a.tokens_cached_write, 0)) AS tokens_cached_write,
       sum(coalesce(a.estimated_cost_usd, 0)) AS cost_usd,
       sum(coalesce(a.actual_cost_usd, 0)) AS actual_cost_usd,
       count(*) FILTER (WHERE a.estimated_cost_usd IS NULL) AS unpriced_calls,
       sum(CASE WHEN a.estimated_cost_usd IS NULL THEN coalesce(a.tokens_total, 0) ELSE 0 END) AS unpriced_tokens
FROM api_calls a
GROUP BY 1, 2, 3, 4, 5;

-- Cost and tokens per UTC day, model and provider.
CREATE VIEW cost_daily AS
SELECT host_id, day, model, provider,
       sum(calls) AS calls,
       sum(tokens_input) AS tokens_input,
       sum(tokens_output) AS tokens_output,
       sum(tokens_cached_read) AS tokens_cached_read,
       sum(tokens_cached_write) AS tokens_cached_write,
       sum(cost_usd) AS cost_usd,
       sum(actual_cost_usd) AS actual_cost_usd,
       sum(unpriced_calls) AS unpriced_calls,
       sum(unpriced_tokens) AS unpriced_tokens
FROM cost_rollup
GROUP BY host_id, day, model, provider;

-- 002 coordinator_sessions: session.start rows, ended by session.end.
CREATE VIEW coordinator_sessions AS
SELECT s.host_id,
       coalesce(s.doc ->> 'session_id', s.task_id) AS session_id,
       s.ts AS started_at,
       e.ts AS ended_at,
       s.doc #>> '{details,config}' AS config,
       e.doc ->> 'exit_reason' AS exit_reason,
       tasklog_int(s.doc -> 'pid') AS pid,
       s.doc #>> '{details,hostname}' AS hostname,
       s.doc #>> '{details,git_branch}' AS git_branch,
       s.doc #>> '{details,git_commit}' AS git_commit,
       s.doc #>> '{details,python_version}' AS python_version,
       s.doc #>> '{details,tac_version}' AS tac_version,
       s.task_id AS task_id,
       s.trace_id AS trace_id,
       s.record_id AS record_id
FROM records s
LEFT JOIN records e
       ON e.host_id = s.host_id AND e.task_id = s.task_id AND e.event = 'session.end'
      AND coalesce(e.doc ->> 'session_id', e.task_id) = coalesce(s.doc ->> 'session_id', s.task_id)
WHERE s.event = 'session.start';

-- The session a record belongs to when it names none: its task's, else
-- the session started in the same folder, else its trace.
CREATE FUNCTION tasklog_session(h text, t text, trace text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(
        (SELECT k.session_id FROM tasks k WHERE k.host_id = h AND k.task_id = t),
        (SELECT ss.doc ->> 'session_id' FROM records ss
          WHERE ss.host_id = h AND ss.task_id = t AND ss.event = 'session.start'
          ORDER BY ss.record_id LIMIT 1),
        trace)
$$;

-- 002 action_triggers.
CREATE VIEW action_triggers AS
SELECT r.host_id,
       r.record_id AS trigger_id,
       coalesce(r.doc ->> 'session_id', tasklog_session(r.host_id, r.task_id, r.trace_id)) AS session_id,
       r.ts AS timestamp,
       r.name AS trigger_type,
       r.doc ->> 'source' AS trigger_source,
       r.doc ->> 'data' AS trigger_data,
       r.task_id AS task_id,
       r.id AS id,
       r.span_id AS span_id
FROM records r
WHERE r.event = 'trigger';

-- 002 logic_flow.
CREATE VIEW logic_flow AS
SELECT r.host_id,
       r.record_id AS flow_id,
       coalesce(r.doc ->> 'session_id', tasklog_session(r.host_id, r.task_id, r.trace_id)) AS session_id,
       r.ts AS timestamp,
       r.doc ->> 'context_type' AS context_type,
       r.doc ->> 'context_id' AS context_id,
       r.doc ->> 'function_name' AS function_name,
       r.name AS decision_point,
       r.doc ->> 'input' AS decision_input,
       r.doc ->> 'output' AS decision_output,
       r.doc ->> 'reason' AS decision_reason,
       r.duration_ms AS duration_ms,
       r.doc ->> 'source_file' AS source_file,
       r.task_id AS task_id,
       r.id AS id,
       r.span_id AS span_id,
       r.parent_span_id AS parent_span_id
FROM records r
WHERE r.event = 'decision';

-- 002 worker_sessions: worker.spawn rows with the latest worker.exit of
-- the same worker_id in the same task; plus one implicit row per task
-- whose model calls name no worker (worker_id = task_id).
CREATE VIEW worker_sessions AS
SELECT s.host_id,
       s.doc ->> 'worker_id' AS worker_id,
       coalesce(s.doc ->> 'session_id',
                (SELECT t.session_id FROM tasks t WHERE t.host_id = s.host_id AND t.task_id = s.task_id),
                s.trace_id) AS session_id,
       s.task_id AS task_id,
       s.ts AS spawned_at,
       CASE WHEN e.status IS DISTINCT FROM 'failed' THEN e.ts END AS completed_at,
       CASE WHEN e.status = 'failed' THEN e.ts END AS failed_at,
       tasklog_int(s.doc -> 'pid') AS pid,
       coalesce(e.status, 'running') AS status,
       tasklog_int(e.doc -> 'exit_code') AS exit_code,
       e.doc ->> 'failure_reason' AS failure_reason,
       s.doc ->> 'worktree_path' AS worktree_path,
       s.doc ->> 'branch_name' AS branch_name,
       s.doc ->> 'prompt_file' AS prompt_file,
       s.doc ->> 'log_file' AS log_file,
       0 AS implicit,
       s.span_id AS span_id
FROM records s
LEFT JOIN LATERAL (
    SELECT x.ts, x.status, x.doc FROM records x
     WHERE x.host_id = s.host_id AND x.event = 'worker.exit' AND x.task_id = s.task_id
       AND x.doc ->> 'worker_id' = s.doc ->> 'worker_id'
     ORDER BY x.record_id DESC LIMIT 1
) e ON true
WHERE s.event = 'worker.spawn'
UNION ALL
SELECT t.host_id, t.task_id, t.session_id, t.task_id,
       coalesce(t.started_at, t.detected_at, t.created_at, t.first_seen_at),
       t.completed_at, t.failed_at, NULL::bigint, coalesce(t.status, 'running'), NULL::bigint,
       t.failure_reason, NULL, NULL, NULL, NULL, 1, NULL
FROM tasks t
WHERE EXISTS (SELECT 1 FROM api_calls a WHERE a.host_id = t.host_id AND a.worker_id = t.task_id);

-- 002 conversations, one row per content block of each message (a string
-- content is one 'text' block); block_index counts from 0.
CREATE VIEW conversation_block_values AS
SELECT r.host_id,
       r.record_id,
       (b.ordinality - 1)::bigint AS block_index,
       b.value AS block,
       coalesce(r.doc ->> 'worker_id',
                (SELECT w.worker_id FROM worker_spans w
                  WHERE w.host_id = r.host_id AND w.span_id = r.parent_span_id
                  ORDER BY w.record_id DESC LIMIT 1),
                r.task_id) AS worker_id,
       coalesce(tasklog_int(r.doc -> 'message_index'), r.seq) AS message_index,
       CASE jsonb_typeof(b.value) WHEN 'object' THEN b.value ->> 'type'
                                  WHEN 'string' THEN 'text'
                                  ELSE jsonb_typeof(b.value) END AS content_type,
       r.task_id, r.ts, r.role, r.span_id
FROM records r
CROSS JOIN LATERAL jsonb_array_elements(
    CASE WHEN jsonb_typeof(r.doc -> 'content') = 'array' THEN r.doc -> 'content'
         ELSE jsonb_build_array(r.doc -> 'content') END) WITH ORDINALITY AS b(value, ordinality)
WHERE r.event = 'message';

CREATE VIEW conversation_blocks AS
SELECT host_id, record_id, block_index, worker_id, message_index, content_type,
       CASE WHEN content_type = 'tool_use' AND jsonb_typeof(block) = 'object' THEN block ->> 'name' END AS tool_name,
       CASE WHEN content_type = 'tool_result' AND jsonb_typeof(block) = 'object'
            THEN NOT coalesce(tasklog_int(block -> 'is_error') <> 0, false) END AS tool_success,
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
            THEN NOT coalesce(tasklog_int(c.block -> 'is_error') <> 0, false) END AS tool_success,
       c.task_id AS task_id,
       c.span_id AS span_id
FROM conversation_block_values c;

-- 002 worktree_operations.
CREATE VIEW worktree_operations AS
SELECT r.host_id,
       r.record_id AS operation_id,
       coalesce(r.doc ->> 'session_id',
                (SELECT t.session_id FROM tasks t WHERE t.host_id = r.host_id AND t.task_id = r.task_id),
                r.trace_id) AS session_id,
       r.task_id AS task_id,
       r.ts AS timestamp,
       r.name AS operation,
       r.doc ->> 'worktree_path' AS worktree_path,
       r.doc ->> 'branch_name' AS branch_name,
       r.doc ->> 'reason' AS decision_reason,
       tasklog_int(r.doc -> 'had_changes') AS had_changes,
       tasklog_int(r.doc -> 'was_clean') AS was_clean,
       tasklog_int(r.doc -> 'worker_running') AS worker_running,
       tasklog_int(r.doc -> 'worker_pid') AS worker_pid,
       tasklog_real(r.doc -> 'file_mtime_age_minutes') AS file_mtime_age_minutes,
       r.doc ->> 'decision_logic' AS decision_logic
FROM records r
WHERE r.event = 'worktree';

-- 002 system_events.
CREATE VIEW system_events AS
SELECT r.host_id,
       r.record_id AS event_id,
       coalesce(r.doc ->> 'session_id', tasklog_session(r.host_id, r.task_id, r.trace_id)) AS session_id,
       r.ts AS timestamp,
       coalesce(r.doc #>> '{details,event_type}', r.doc ->> 'event_type', r.name, r.severity) AS event_type,
       r.severity AS severity,
       r.component AS component,
       r.doc ->> 'message' AS message,
       r.doc ->> 'details' AS details,
       coalesce(r.doc #>> '{details,stack_trace}', r.doc ->> 'stack_trace') AS stack_trace,
       r.task_id AS task_id
FROM records r
WHERE r.event = 'system';

-- 000/001 tool_calls: tool.start paired by span_id with its end.
CREATE VIEW tool_calls AS
SELECT s.host_id,
       s.record_id AS id,
       s.span_id AS span_id,
       s.task_id AS task_id,
       coalesce(s.tool_name, s.name) AS tool_name,
       CASE e.event WHEN 'tool.complete' THEN 'success' WHEN 'tool.fail' THEN 'failure' ELSE 'started' END AS status,
       s.doc ->> 'input' AS input,
       e.doc ->> 'output' AS output,
       CASE WHEN e.event = 'tool.fail' THEN coalesce(e.error, e.doc ->> 'error') END AS error,
       e.duration_ms AS duration_ms,
       s.ts AS started_at,
       e.ts AS completed_at,
       s.trace_id AS trace_id,
       s.parent_span_id AS parent_span_id,
       e.record_id AS end_record_id
FROM records s
LEFT JOIN records e
       ON e.host_id = s.host_id AND e.span_id = s.span_id AND e.task_id = s.task_id
      AND e.event IN ('tool.complete', 'tool.fail')
WHERE s.event = 'tool.start';

-- 000/001 decision_log.
CREATE VIEW decision_log AS
SELECT r.host_id,
       r.record_id AS id,
       r.parent_span_id AS cycle_id,
       r.doc ->> 'reason' AS reasoning,
       coalesce(r.doc ->> 'output', r.name) AS decision,
       r.ts AS created_at,
       r.name AS decision_point,
       r.duration_ms AS duration_ms,
       r.task_id AS task_id,
       r.span_id AS span_id
FROM records r
WHERE r.event = 'decision';

-- 000/001 planning_cycles: cycle.start paired with its cycle.complete.
CREATE VIEW planning_cycles AS
SELECT s.host_id,
       s.record_id AS id,
       s.span_id AS span_id,
       s.task_id AS task_id,
       s.name AS name,
       s.doc ->> 'goals' AS goals,
       CASE WHEN e.record_id IS NULL THEN 'active'
            WHEN e.status IS NULL OR e.status = 'ok' THEN 'completed'
            ELSE e.status END AS status,
       e.doc ->> 'outcome' AS outcomes,
       s.ts AS started_at,
       e.ts AS completed_at,
       e.duration_ms AS duration_ms
FROM records s
LEFT JOIN records e
       ON e.host_id = s.host_id AND e.span_id = s.span_id AND e.task_id = s.task_id
      AND e.event = 'cycle.complete'
WHERE s.event = 'cycle.start';

-- 001 agent_state: the current value of each key of each task's state.json.
CREATE VIEW agent_state AS
SELECT d.host_id,
       d.task_id AS task_id,
       j.key AS key,
       j.value ->> 'value' AS value,
       j.value ->> 'updated_at' AS updated_at,
       j.value ->> 'expires_at' AS expires_at,
       CASE WHEN j.value ->> 'expires_at' IS NULL THEN 0
            WHEN j.value ->> 'expires_at'
                 > to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS') || '000Z' THEN 0
            ELSE 1 END AS expired
FROM documents d
CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(tasklog_jsonb(d.body)) = 'object'
                                   THEN tasklog_jsonb(d.body) ELSE '{}'::jsonb END) j
WHERE d.name = 'state' AND jsonb_typeof(j.value) = 'object';

-- 001 memory_facts: a later fact about the same subject makes the earlier
-- one stale, as does is_stale: true on the record itself.
CREATE VIEW memory_facts AS
SELECT r.host_id,
       r.record_id AS id,
       r.name AS subject,
       r.doc ->> 'body' AS body,
       r.doc ->> 'fact' AS fact,
       CASE WHEN coalesce(tasklog_real(r.doc -> 'is_stale'), 0) <> 0 THEN 1
            WHEN EXISTS (SELECT 1 FROM records n
                          WHERE n.host_id = r.host_id AND n.event = 'memory.fact' AND n.name = r.name
                            AND (n.ts > r.ts OR (n.ts = r.ts AND n.record_id > r.record_id))) THEN 1
            ELSE 0 END AS is_stale,
       r.ts AS created_at,
       r.task_id AS task_id
FROM records r
WHERE r.event = 'memory.fact';
