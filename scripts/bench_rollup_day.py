#!/usr/bin/env python3
"""The cost rollup keyed by day (SQLite migration 7) beside the one whose day
may be NULL (migration 11: calls without a known time belong to no day).

Builds both shapes of `cost_rollup` in memory with the per-call upsert
trigger of `api_calls`, inserts the same 200,000 calls (2,000 tasks, 30 days,
3 models) into each, and times the trigger path and a one-day sum over the
rollup (SQL that bounds the day; the built-in questions read the whole
rollup in both shapes). Medians of 3 rounds,
interleaved; our figure beside the baseline as a ratio. Standard library
only: `python3 scripts/bench_rollup_day.py`.
"""
import random
import sqlite3
import time

SUMS = """calls INTEGER NOT NULL, tokens_input INTEGER NOT NULL, tokens_output INTEGER NOT NULL,
  tokens_cached_read INTEGER NOT NULL, tokens_cached_write INTEGER NOT NULL, cost_usd REAL NOT NULL,
  actual_cost_usd REAL NOT NULL, unpriced_calls INTEGER NOT NULL, unpriced_tokens INTEGER NOT NULL"""
CALLS = """CREATE TABLE api_calls (call_id INTEGER PRIMARY KEY, task_id TEXT, timestamp TEXT, model TEXT,
  provider TEXT, tokens_input INTEGER, tokens_output INTEGER, cost REAL);"""
VALUES = """(coalesce(date(NEW.timestamp), substr(NEW.timestamp, 1, 10)), NEW.task_id, NEW.model, NEW.provider, 1,
  NEW.tokens_input, NEW.tokens_output, 0, 0, NEW.cost, NEW.cost, 0, 0)"""
UPDATE = """calls = calls + 1, tokens_input = tokens_input + excluded.tokens_input,
  tokens_output = tokens_output + excluded.tokens_output, cost_usd = cost_usd + excluded.cost_usd,
  actual_cost_usd = actual_cost_usd + excluded.actual_cost_usd"""
BASELINE = f"""
CREATE TABLE cost_rollup (day TEXT NOT NULL, task_id TEXT NOT NULL, model TEXT NOT NULL, provider TEXT NOT NULL,
  {SUMS}, PRIMARY KEY (day, task_id, model, provider)) WITHOUT ROWID;
CREATE INDEX cost_rollup_task ON cost_rollup(task_id);
{CALLS}
CREATE TRIGGER t AFTER INSERT ON api_calls BEGIN
  INSERT INTO cost_rollup VALUES {VALUES} ON CONFLICT (day, task_id, model, provider) DO UPDATE SET {UPDATE};
END;
"""
OURS = f"""
CREATE TABLE cost_rollup (day TEXT, task_id TEXT NOT NULL, model TEXT NOT NULL, provider TEXT NOT NULL, {SUMS});
CREATE UNIQUE INDEX cost_rollup_key ON cost_rollup(coalesce(day, 0), task_id, model, provider);
CREATE INDEX cost_rollup_day ON cost_rollup(day);
CREATE INDEX cost_rollup_task ON cost_rollup(task_id);
{CALLS}
CREATE TRIGGER t AFTER INSERT ON api_calls BEGIN
  INSERT INTO cost_rollup VALUES {VALUES} ON CONFLICT (coalesce(day, 0), task_id, model, provider) DO UPDATE SET {UPDATE};
END;
"""
DAY_SUM = """SELECT task_id, sum(calls), sum(tokens_input + tokens_output), sum(cost_usd) FROM cost_rollup
 WHERE day >= '2026-11-20' AND day < '2026-11-21' GROUP BY task_id"""
# tasklog's own question (tasklog_sqlite::COST_BY_TASK_DAY) for one day.
QUESTION = """SELECT day, task_id, model, provider, calls, tokens_input, tokens_output, tokens_cached_read,
        tokens_cached_write, cost_usd, unpriced_calls, unpriced_tokens
   FROM cost_rollup WHERE (?1 IS NULL OR day >= ?1) AND (?2 IS NULL OR day < ?2)"""
N = 200_000


def run(schema, rows):
    conn = sqlite3.connect(":memory:")
    conn.executescript(schema)
    start = time.perf_counter()
    with conn:
        conn.executemany(
            "INSERT INTO api_calls (task_id, timestamp, model, provider, tokens_input, tokens_output, cost)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    insert = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(50):
        conn.execute(DAY_SUM).fetchall()
    day_sum = (time.perf_counter() - start) / 50 * 1e3
    start = time.perf_counter()
    for _ in range(20):
        conn.execute(QUESTION, ("2026-11-20", "2026-11-21")).fetchall()
    return N / insert, day_sum, (time.perf_counter() - start) / 20 * 1e3


def main():
    random.seed(1)
    rows = [
        (f"task-{random.randrange(2000)}", f"2026-11-{random.randrange(1, 31):02d}T10:00:00Z",
         random.choice(["a", "b", "c"]), "p", 100, 10, 0.01)
        for _ in range(N)
    ]
    got = {"baseline": [], "ours": []}
    for _ in range(3):
        for name, schema in (("baseline", BASELINE), ("ours", OURS)):
            got[name].append(run(schema, rows))
    median = {k: [sorted(r[i] for r in v)[1] for i in range(3)] for k, v in got.items()}
    (b_rate, b_sum, b_q), (o_rate, o_sum, o_q) = median["baseline"], median["ours"]
    print(f"SQLite {sqlite3.sqlite_version}, {N:,} calls")
    print(f"trigger path: ours {o_rate:,.0f} calls/s, baseline {b_rate:,.0f} calls/s, ratio {o_rate / b_rate:.2f}")
    print(f"one-day sum by task (SQL): ours {o_sum:.2f} ms, baseline {b_sum:.2f} ms, ratio {o_sum / b_sum:.2f}")
    print(f"COST_BY_TASK_DAY, one day: ours {o_q:.2f} ms, baseline {b_q:.2f} ms, ratio {o_q / b_q:.2f}")


if __name__ == "__main__":
    main()
