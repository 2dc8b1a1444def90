-- Migration 12: one-hour cache writes priced at their own rate (issue 25).
--
-- Anthropic bills a cache write by its lifetime: five minutes at 1.25x the
-- input price, one hour at 2x. Claude Code reports the split in
-- `usage.cache_creation.ephemeral_1h_input_tokens`; the importers write it
-- as `gen_ai.usage.cache_creation.ephemeral_1h.input_tokens`, promoted to
-- `records.cache_write_1h_tokens` (tasklog-tail `Row`, appended last as
-- ADD COLUMN appends). `prices.cache_write_1h_per_mtok` is the rate, NULL
-- meaning the five-minute rate (models without the distinction).
ALTER TABLE records ADD COLUMN cache_write_1h_tokens INTEGER;
ALTER TABLE prices ADD COLUMN cache_write_1h_per_mtok REAL;

-- Calls indexed before this migration: the nested form only (what every
-- tasklog writer writes), integral counts within ±2^53 as Row::new takes.
UPDATE records
   SET cache_write_1h_tokens = json_extract(body, '$.gen_ai.usage.cache_creation.ephemeral_1h.input_tokens')
 WHERE event = 'llm.call' AND json_valid(body)
   AND json_type(body, '$.gen_ai.usage.cache_creation.ephemeral_1h.input_tokens') = 'integer'
   AND abs(json_extract(body, '$.gen_ai.usage.cache_creation.ephemeral_1h.input_tokens')) <= 9007199254740991;

-- The view of migration 11 with the one-hour part of the cache writes
-- (clamped to 0..cache writes) at its own rate and the rest at the
-- five-minute rate. The clamp is written out twice, not in a nested
-- derived table, so the trigger's lookup by record_id stays flattened. PostgreSQL's api_calls (its migration 5) writes the
-- same expression in the same order, so both stores give equal doubles.
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
                     + (coalesce(r.cache_write_tokens, 0)
                        - max(min(coalesce(r.cache_write_1h_tokens, 0), coalesce(r.cache_write_tokens, 0)), 0)) * p.cache_write_per_mtok
                     + max(min(coalesce(r.cache_write_1h_tokens, 0), coalesce(r.cache_write_tokens, 0)), 0)
                       * coalesce(p.cache_write_1h_per_mtok, p.cache_write_per_mtok)
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

-- Re-price at the next open: the price table's fingerprint now covers the
-- one-hour rate, so it differs and every stored call is priced again from
-- this view (prices.rs). Forgetting it makes that certain.
DELETE FROM indexer_state WHERE key = 'prices_hash';
