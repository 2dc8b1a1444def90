-- Migration 7: rollups that equal a fresh aggregation of their source after
-- any sequence of inserts and deletes (issue 10, section 3).
--
-- The rollups are kept incrementally: a call adds its figures, a removed
-- call subtracts them. That is exact only while the arithmetic is. Token
-- counts are integers within ±2^53 (the indexer promotes no larger count;
-- FORMAT.md), so their sums stay exact 64-bit integers. Costs are REAL: a
-- large cost added and later subtracted left the rounding error of every
-- smaller cost added in between (1000 + 9.2e18 - 9.2e18 = 0). Each call's
-- cost now enters the rollups rounded to a multiple of 2^-30 USD (about
-- 1e-9 USD); sums of such multiples are exact in a double while a rollup
-- row stays under 2^23 USD (8,388,608 USD), so adding and subtracting in
-- any order gives the fresh sum bit for bit. verify.rs recomputes both
-- rollups with the same expression and reports any difference.
DROP TRIGGER api_calls_rollup_insert;
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

DROP TRIGGER api_calls_rollup_delete;
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
    WHERE day = coalesce(date(OLD.timestamp), substr(OLD.timestamp, 1, 10)) AND task_id = OLD.task_id
      AND model = coalesce(OLD.model, '') AND provider = coalesce(OLD.provider, '');
    DELETE FROM cost_rollup
    WHERE day = coalesce(date(OLD.timestamp), substr(OLD.timestamp, 1, 10)) AND task_id = OLD.task_id
      AND model = coalesce(OLD.model, '') AND provider = coalesce(OLD.provider, '') AND calls <= 0;
END;

-- Token columns promoted before this version may hold counts beyond 2^53
-- (and sums that overflowed into REAL): clear them as the indexer now
-- would, then rebuild both rollups from their sources.
UPDATE records SET input_tokens = NULL WHERE abs(input_tokens) > 9007199254740991;
UPDATE records SET output_tokens = NULL WHERE abs(output_tokens) > 9007199254740991;
UPDATE records SET cache_read_tokens = NULL WHERE abs(cache_read_tokens) > 9007199254740991;
UPDATE records SET cache_write_tokens = NULL WHERE abs(cache_write_tokens) > 9007199254740991;
UPDATE records SET seq = NULL WHERE abs(seq) > 9007199254740991;
UPDATE api_calls SET tokens_input = NULL WHERE abs(tokens_input) > 9007199254740991;
UPDATE api_calls SET tokens_output = NULL WHERE abs(tokens_output) > 9007199254740991;
UPDATE api_calls SET tokens_cached_read = NULL WHERE abs(tokens_cached_read) > 9007199254740991;
UPDATE api_calls SET tokens_cached_write = NULL WHERE abs(tokens_cached_write) > 9007199254740991;
UPDATE api_calls SET tokens_total = CASE WHEN tokens_input IS NOT NULL OR tokens_output IS NOT NULL
         THEN coalesce(tokens_input, 0) + coalesce(tokens_output, 0) END
 WHERE typeof(tokens_total) = 'real' OR abs(tokens_total) > 18014398509481982;
DELETE FROM cost_rollup;
DELETE FROM cost_daily;
INSERT INTO cost_rollup
SELECT coalesce(date(timestamp), substr(timestamp, 1, 10)), task_id, coalesce(model, ''), coalesce(provider, ''),
       count(*), sum(coalesce(tokens_input, 0)), sum(coalesce(tokens_output, 0)),
       sum(coalesce(tokens_cached_read, 0)), sum(coalesce(tokens_cached_write, 0)),
       sum(round(coalesce(estimated_cost_usd, 0) * 1073741824.0) / 1073741824.0),
       sum(round(coalesce(actual_cost_usd, 0) * 1073741824.0) / 1073741824.0),
       sum(estimated_cost_usd IS NULL),
       sum(CASE WHEN estimated_cost_usd IS NULL THEN coalesce(tokens_total, 0) ELSE 0 END)
  FROM api_calls
 GROUP BY 1, 2, 3, 4;
