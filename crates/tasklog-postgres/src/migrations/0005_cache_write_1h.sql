-- PostgreSQL migration 5: one-hour cache writes priced at their own rate
-- (issue 25; the SQLite index's migration 12, which explains the split).
-- `records.cache_write_1h_tokens` is appended (COPY names its columns, so
-- it may follow `doc`); `prices.cache_write_1h_per_mtok` NULL means the
-- five-minute rate. api_calls keeps its columns; only its priced cost
-- changes (the view of migration 4 otherwise), written as SQLite's
-- llm_call_rows writes it, term for term, so
-- both stores give equal doubles (tests/pg_scenarios.rs).
ALTER TABLE records ADD COLUMN cache_write_1h_tokens bigint;
ALTER TABLE prices ADD COLUMN cache_write_1h_per_mtok double precision;

-- Calls stored before this migration: the nested form, integers within
-- ±2^53 (what SQLite's migration 12 takes).
UPDATE records
   SET cache_write_1h_tokens = (doc #>> '{gen_ai,usage,cache_creation,ephemeral_1h,input_tokens}')::bigint
 WHERE event = 'llm.call'
   AND jsonb_typeof(doc #> '{gen_ai,usage,cache_creation,ephemeral_1h,input_tokens}') = 'number'
   AND (doc #>> '{gen_ai,usage,cache_creation,ephemeral_1h,input_tokens}') ~ '^-?[0-9]{1,16}$'
   AND abs((doc #>> '{gen_ai,usage,cache_creation,ephemeral_1h,input_tokens}')::bigint) <= 9007199254740991;

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
            + (coalesce(r.cache_write_tokens, 0)
               - greatest(least(coalesce(r.cache_write_1h_tokens, 0), coalesce(r.cache_write_tokens, 0)), 0)) * x.cache_write_per_mtok
            + greatest(least(coalesce(r.cache_write_1h_tokens, 0), coalesce(r.cache_write_tokens, 0)), 0)
              * coalesce(x.cache_write_1h_per_mtok, x.cache_write_per_mtok)
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
