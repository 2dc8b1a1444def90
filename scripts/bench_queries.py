#!/usr/bin/env python3
"""Times each key query and read command: tasklog vs jq vs DuckDB.

Run by scripts/bench_queries.sh, which sets TASKLOG_BIN, TASKLOG_ROOT,
TASKLOG_DB and RUNS. Arguments: the key query file and the JSON Lines output.

tasklog: the CLI's wall time (process start, open, query, print), median
of RUNS warm runs. jq: the same question over the files (one run). DuckDB:
views with the reference names defined over the files (read_ndjson_objects
and the price table), then the key query itself, rewritten only where the
SQL dialects differ (date(), julianday()); one run, views re-read the files
every time as jq does. "n/a": no equivalent written.
"""

import json
import os
import re
import statistics
import subprocess
import sys
import time
import tomllib

import duckdb

BIN = os.environ["TASKLOG_BIN"]
ROOT = os.environ["TASKLOG_ROOT"]
RUNS = int(os.environ.get("RUNS", "5"))
# SKIP_PEERS=1: time tasklog only (after a change to the index, say).
SKIP_PEERS = os.environ.get("SKIP_PEERS") == "1"
HERE = os.path.dirname(os.path.abspath(__file__))

ALL = f'awk 1 {ROOT}/*/*.jsonl | jq -cR \'fromjson? | objects'
TASKS = f"jq -c . {ROOT}/*/task.json"

# jq (and grep) answers, keyed like tests/key_queries.sql. Cost questions
# price calls with the same table (prices.json, written below).
PRICED = ('def cost: (.gen_ai.usage.cost.amount // ($p[0][.gen_ai.request.model] as $m | if $m == null then null '
          'else (((.gen_ai.usage.input_tokens // 0) - (.gen_ai.usage.cache_read.input_tokens // 0) '
          '- (.gen_ai.usage.cache_creation.input_tokens // 0)) * $m.input + (.gen_ai.usage.cache_read.input_tokens // 0) * $m.cache_read '
          '+ (.gen_ai.usage.cache_creation.input_tokens // 0) * $m.cache_write + (.gen_ai.usage.output_tokens // 0) * $m.output) / 1e6 end));')
TODAY = time.strftime("%Y-%m-%d", time.gmtime())
JQ = {
    "sessions.active": f"{ALL} | select(.event == \"session.start\" or .event == \"session.end\")' | jq -s 'group_by(.session_id) | map(select(all(.event != \"session.end\"))) | length'",
    "triggers.github_issues": f"grep -h '\"event\":\"trigger\"' {ROOT}/*/*.jsonl | jq -c 'select(.name == \"issue_detected\")' | wc -l",
    "triggers.frequency": f"grep -h '\"event\":\"trigger\"' {ROOT}/*/*.jsonl | jq -r '[.name, .ts[:10]] | @tsv' | sort | uniq -c | wc -l",
    "logic_flow.chain_for_task": f"grep -h '\"event\":\"decision\"' {ROOT}/*/*.jsonl | jq -c 'select(.context_id == \"gh-450\")' | sort | wc -l",
    "logic_flow.slow_decisions": f"grep -h '\"event\":\"decision\"' {ROOT}/*/*.jsonl | jq -s 'map(select(.duration_ms > 1000)) | sort_by(-.duration_ms) | length'",
    "logic_flow.distribution": f"grep -h '\"event\":\"decision\"' {ROOT}/*/*.jsonl | jq -r .name | sort | uniq -c",
    "tasks.active": f"{TASKS} | jq -c 'select(.status == \"active\")' | wc -l",
    "tasks.completed_today": f"{TASKS} | jq -c 'select(.status == \"completed\" and (.completed_at // \"\" | startswith(\"{TODAY}\")))' | wc -l",
    "tasks.failed": f"{TASKS} | jq -s 'map(select(.status == \"failed\")) | sort_by(.failed_at) | reverse | length'",
    "workers.failed": f"grep -h '\"event\":\"worker.exit\"' {ROOT}/*/*.jsonl | jq -c 'select(.status == \"failed\")' | wc -l",
    "conversations.tool_usage": f"grep -h '\"event\":\"message\"' {ROOT}/*/*.jsonl | jq -r '.content | arrays | .[] | select(.type == \"tool_use\") | .name' | sort | uniq -c",
    "api_calls.cost_today": f"grep -h '\"event\":\"llm.call\"' {ROOT}/*/*.jsonl | grep '\"ts\":\"{TODAY}' | jq -n --slurpfile p PRICES '{PRICED} [inputs | cost] | map(select(. != null)) | add'",
    "api_calls.cost_by_model": f"grep -h '\"event\":\"llm.call\"' {ROOT}/*/*.jsonl | jq -n --slurpfile p PRICES '{PRICED} [inputs | {{m: .gen_ai.request.model, c: cost}}] | group_by(.m) | map([.[0].m, (map(.c // 0) | add)])'",
    "api_calls.performance": f"grep -h '\"event\":\"llm.call\"' {ROOT}/*/*.jsonl | jq -s 'map(select(.gen_ai.request.model == \"claude-sonnet-4-5\")) | [(map(.gen_ai.usage.output_tokens / (.duration_ms / 1000)) | add / length), (map(.gen_ai.server.time_to_first_token_ms) | add / length)]'",
    "worktrees.preserved": f"grep -h '\"event\":\"worktree\"' {ROOT}/*/*.jsonl | jq -c 'select(.name == \"preserve\")' | wc -l",
    "system_events.errors_today": f"grep -h '\"event\":\"system\"' {ROOT}/*/*.jsonl | jq -c 'select((.severity == \"error\" or .severity == \"critical\") and (.ts | startswith(\"{TODAY}\")))' | wc -l",
    "system_events.by_component": f"grep -h '\"event\":\"system\"' {ROOT}/*/*.jsonl | jq -s 'map(select(.component == \"worktree_manager\")) | sort_by(.ts) | reverse | length'",
    "system_events.error_frequency": f"grep -h '\"event\":\"system\"' {ROOT}/*/*.jsonl | jq -r 'select(.severity == \"error\") | .component' | sort | uniq -c",
    "common.cost_today": "=api_calls.cost_today",
    "common.slowest_decisions": f"grep -h '\"event\":\"decision\"' {ROOT}/*/*.jsonl | jq -s 'group_by([.function_name, .name]) | map({{f: .[0].function_name, d: .[0].name, avg: (map(.duration_ms) | add / length)}}) | sort_by(-.avg) | .[:20] | length'",
    "common.task_timeline": f"jq -c 'select(.event == \"task.status\" or .event == \"worker.spawn\" or .event == \"llm.call\") | [.ts, .event]' {ROOT}/gh-450/*.jsonl | sort | wc -l",
    # Commands.
    "cmd.tasks": f"{TASKS} | jq -r '[.task_id, .status, .title, .detected_at] | @tsv' | sort -k4 -r | wc -l",
    "cmd.show": f"jq -c '[.ts, .event, .name, .status, .duration_ms] ' {ROOT}/gh-450/*.jsonl | sort | wc -l",
    "cmd.cost_today": "=api_calls.cost_today",
    "cmd.cost_by_model": "=api_calls.cost_by_model",
    "cmd.cost_by_task": f"for f in {ROOT}/*/events.jsonl; do grep -h '\"event\":\"llm.call\"' $f | jq -n --slurpfile p PRICES --arg t $(basename $(dirname $f)) '{PRICED} [inputs | cost // 0] | [$t, add]' -c; done | wc -l",
    "cmd.search": f"grep -rh 'flaky' {ROOT} --include=*.jsonl | wc -l",
    "cmd.tail": f"tail -n 10 {ROOT}/gh-450/events.jsonl | wc -l",
    "cmd.export": f"cat {ROOT}/gh-450/*.json {ROOT}/gh-450/*.jsonl | wc -c",
}

COMMANDS = {
    "cmd.tasks": ["tasks"],
    "cmd.show": ["show", "gh-450"],
    "cmd.cost_today": ["cost", "--today"],
    "cmd.cost_by_model": ["cost", "--by", "model"],
    "cmd.cost_by_task": ["cost", "--by", "task"],
    "cmd.search": ["search", "flaky"],
    "cmd.tail": ["tail", "gh-450"],
    "cmd.export": ["export", "gh-450"],
}


def duck_setup(con, prices):
    files = f"{ROOT}/*/*.jsonl"
    con.execute("CREATE TABLE prices AS SELECT * FROM (VALUES " + ", ".join(
        f"('{m}', {p['input']}, {p['output']}, {p['cache_read']}, {p['cache_write']})" for m, p in prices.items()
    ) + ") t(model, input, output, cache_read, cache_write)")
    con.execute(f"""
CREATE VIEW records AS
SELECT regexp_extract(filename, '([^/]+)/[^/]+$', 1) AS task_id, json AS body,
       coalesce(json_extract_string(json, '$.ts'), json_extract_string(json, '$.timestamp')) AS ts,
       coalesce(json_extract_string(json, '$.event'), json_extract_string(json, '$.type')) AS event,
       json_extract_string(json, '$.name') AS name, json_extract_string(json, '$.status') AS status,
       json_extract_string(json, '$.span_id') AS span_id, json_extract_string(json, '$.parent_span_id') AS parent_span_id,
       TRY_CAST(json_extract(json, '$.duration_ms') AS DOUBLE) AS duration_ms
  FROM read_ndjson_objects('{files}', filename = true, ignore_errors = true);
CREATE VIEW tasks AS
SELECT json_extract_string(json, '$.task_id') AS task_id, json_extract_string(json, '$.session_id') AS session_id,
       json_extract_string(json, '$.title') AS title, json_extract_string(json, '$.status') AS status,
       coalesce(json_extract_string(json, '$.detected_at'), json_extract_string(json, '$.created_at')) AS detected_at,
       coalesce(json_extract_string(json, '$.started_at'), json_extract_string(json, '$.active_at')) AS started_at,
       json_extract_string(json, '$.completed_at') AS completed_at, json_extract_string(json, '$.failed_at') AS failed_at
  FROM read_json_objects('{ROOT}/*/task.json');
CREATE VIEW coordinator_sessions AS
SELECT json_extract_string(s.body, '$.session_id') AS session_id, s.ts AS started_at, e.ts AS ended_at,
       json_extract_string(e.body, '$.exit_reason') AS exit_reason
  FROM records s LEFT JOIN records e ON e.event = 'session.end'
   AND json_extract_string(e.body, '$.session_id') = json_extract_string(s.body, '$.session_id')
 WHERE s.event = 'session.start';
CREATE VIEW action_triggers AS
SELECT coalesce(t.session_id, r.task_id) AS session_id, r.ts AS timestamp, r.name AS trigger_type, r.task_id
  FROM records r LEFT JOIN tasks t USING (task_id) WHERE r.event = 'trigger';
CREATE VIEW logic_flow AS
SELECT r.ts AS timestamp, json_extract_string(r.body, '$.context_id') AS context_id,
       json_extract_string(r.body, '$.function_name') AS function_name, r.name AS decision_point, r.duration_ms
  FROM records r WHERE r.event = 'decision';
CREATE VIEW worker_sessions AS
SELECT json_extract_string(s.body, '$.worker_id') AS worker_id, s.task_id, s.ts AS spawned_at,
       CASE WHEN e.status IS DISTINCT FROM 'failed' THEN e.ts END AS completed_at,
       coalesce(e.status, 'running') AS status
  FROM records s LEFT JOIN records e ON e.event = 'worker.exit' AND e.task_id = s.task_id
   AND json_extract_string(e.body, '$.worker_id') = json_extract_string(s.body, '$.worker_id')
 WHERE s.event = 'worker.spawn';
CREATE VIEW conversations AS
SELECT coalesce(json_extract_string(r.body, '$.worker_id'), r.task_id) AS worker_id, r.ts AS timestamp,
       json_extract_string(b.value, '$.type') AS content_type, json_extract_string(b.value, '$.name') AS tool_name,
       NOT coalesce(TRY_CAST(json_extract(b.value, '$.is_error') AS BOOLEAN), false) AS tool_success,
       json_extract_string(r.body, '$.seq') AS message_index
  FROM records r, json_each(json_extract(r.body, '$.content')) b WHERE r.event = 'message';
CREATE VIEW api_calls AS
WITH calls AS (SELECT * FROM records WHERE event = 'llm.call'),
     spawns AS (SELECT span_id, json_extract_string(body, '$.worker_id') AS worker_id FROM records WHERE event = 'worker.spawn')
SELECT coalesce(json_extract_string(c.body, '$.worker_id'), s.worker_id, c.task_id) AS worker_id, c.task_id,
       c.ts AS timestamp, json_extract_string(c.body, '$.gen_ai.request.model') AS model,
       CAST(json_extract(c.body, '$.gen_ai.usage.input_tokens') AS BIGINT) + CAST(json_extract(c.body, '$.gen_ai.usage.output_tokens') AS BIGINT) AS tokens_total,
       coalesce(TRY_CAST(json_extract(c.body, '$.gen_ai.usage.cost.amount') AS DOUBLE),
                ((CAST(json_extract(c.body, '$.gen_ai.usage.input_tokens') AS BIGINT)
                  - coalesce(CAST(json_extract(c.body, '$.gen_ai.usage.cache_read.input_tokens') AS BIGINT), 0)
                  - coalesce(CAST(json_extract(c.body, '$.gen_ai.usage.cache_creation.input_tokens') AS BIGINT), 0)) * p.input
                 + coalesce(CAST(json_extract(c.body, '$.gen_ai.usage.cache_read.input_tokens') AS BIGINT), 0) * p.cache_read
                 + coalesce(CAST(json_extract(c.body, '$.gen_ai.usage.cache_creation.input_tokens') AS BIGINT), 0) * p.cache_write
                 + CAST(json_extract(c.body, '$.gen_ai.usage.output_tokens') AS BIGINT) * p.output) / 1e6) AS estimated_cost_usd,
       CAST(json_extract(c.body, '$.gen_ai.usage.output_tokens') AS DOUBLE) / (c.duration_ms / 1000) AS tokens_per_second,
       TRY_CAST(json_extract(c.body, '$.gen_ai.server.time_to_first_token_ms') AS DOUBLE) AS time_to_first_token_ms
  FROM calls c LEFT JOIN spawns s ON s.span_id = c.parent_span_id
  LEFT JOIN prices p ON p.model = json_extract_string(c.body, '$.gen_ai.request.model');
CREATE VIEW worktree_operations AS
SELECT r.task_id, r.ts AS timestamp, r.name AS operation,
       TRY_CAST(json_extract(r.body, '$.had_changes') AS INTEGER) AS had_changes,
       TRY_CAST(json_extract(r.body, '$.worker_running') AS INTEGER) AS worker_running
  FROM records r WHERE r.event = 'worktree';
CREATE VIEW system_events AS
SELECT r.ts AS timestamp, json_extract_string(r.body, '$.severity') AS severity,
       json_extract_string(r.body, '$.component') AS component, json_extract_string(r.body, '$.message') AS message
  FROM records r WHERE r.event = 'system';
""")


def duck_sql(sql):
    sql = sql.replace("date('now')", "current_date")
    sql = re.sub(r"date\(([\w.]+)\)", r"CAST(substr(\1, 1, 10) AS DATE)", sql)
    sql = re.sub(r"julianday\(([\w.]+)\)", r"(epoch(CAST(\1 AS TIMESTAMPTZ)) / 86400.0)", sql)
    sql = sql.replace("GROUP BY t.task_id\n", "GROUP BY t.task_id, t.title\n")
    return sql


def key_queries(path):
    out = []
    for block in open(path).read().split("\n\n"):
        name, params, sql = None, [], []
        for line in block.splitlines():
            if line.startswith("-- name: "):
                name = line[9:]
            elif line.startswith("-- params: "):
                params = json.loads(line[11:])
            elif not line.startswith("--"):
                sql.append(line)
        if name:
            text = "\n".join(sql)
            for p in params:
                text = text.replace("?", "'" + p.replace("'", "''") + "'", 1)
            out.append((name, text))
    return out


def ours(args):
    times = []
    for _ in range(RUNS + 1):
        t = time.perf_counter()
        r = subprocess.run([BIN] + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append((time.perf_counter() - t) * 1000)
        if r.returncode == 2:
            return None, r.stderr.decode()[:200]
    return statistics.median(times[1:]), None


def shell(cmd):
    t = time.perf_counter()
    r = subprocess.run(["bash", "-c", "set -o pipefail; " + cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ms = (time.perf_counter() - t) * 1000
    return (ms, None) if r.returncode == 0 else (None, r.stderr.decode()[:200])


def main():
    queries, out_path = sys.argv[1], sys.argv[2]
    prices = {}
    with open(os.path.join(HERE, "..", "config", "prices.toml"), "rb") as f:
        for m in tomllib.load(f)["model"]:
            for name in [m["name"]] + m.get("aliases", []):
                prices[name] = {"input": m["input"], "output": m["output"],
                                "cache_read": m.get("cache_read", m["input"]),
                                "cache_write": m.get("cache_write", m["input"])}
    prices_json = os.path.join(os.path.dirname(out_path), "prices.json")
    with open(prices_json, "w") as f:
        json.dump(prices, f)
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    duck_setup(con, prices)

    rows = [(name, ["query", "--format", "jsonl", sql], sql) for name, sql in key_queries(queries)]
    rows += [(name, args, None) for name, args in COMMANDS.items()]
    print(f"{'question':36} {'tasklog ms':>10} {'jq ms':>9} {'duckdb ms':>10} {'jq/ours':>8} {'duck/ours':>9}")
    results = []
    with open(out_path, "w") as out:
        for name, args, sql in rows:
            our_ms, our_err = ours(args)
            jq_cmd = None if SKIP_PEERS else JQ.get(name)
            if jq_cmd and jq_cmd.startswith("="):
                jq_cmd = JQ[jq_cmd[1:]]
            jq_ms, jq_err = shell(jq_cmd.replace("PRICES", prices_json)) if jq_cmd else (None, "n/a")
            duck_ms, duck_err = None, "n/a"
            duck_q = sql or {"cmd.cost_by_model": "SELECT model, SUM(estimated_cost_usd) FROM api_calls GROUP BY model",
                             "cmd.cost_today": "SELECT SUM(estimated_cost_usd) FROM api_calls WHERE date(timestamp) = date('now')",
                             "cmd.cost_by_task": "SELECT task_id, SUM(estimated_cost_usd) FROM api_calls GROUP BY task_id",
                             "cmd.tasks": "SELECT * FROM tasks ORDER BY detected_at DESC",
                             "cmd.show": "SELECT ts, event, name, status, duration_ms FROM records WHERE task_id = 'gh-450' ORDER BY ts"}.get(name)
            if duck_q and not SKIP_PEERS:
                try:
                    t = time.perf_counter()
                    con.execute(duck_sql(duck_q)).fetchall()
                    duck_ms, duck_err = (time.perf_counter() - t) * 1000, None
                except Exception as e:  # noqa: BLE001 - reported, not fatal
                    duck_err = str(e).splitlines()[0][:200]
            fmt = lambda v: f"{v:10.1f}" if v is not None else f"{'-':>10}"
            ratio = lambda a, b: f"{a / b:8.0f}x" if a and b else f"{'-':>9}"
            print(f"{name:36} {fmt(our_ms)} {fmt(jq_ms)[1:]} {fmt(duck_ms)} {ratio(jq_ms, our_ms)} {ratio(duck_ms, our_ms)}")
            for label, err in (("tasklog", our_err), ("duckdb", duck_err if duck_q and not SKIP_PEERS else None),
                               ("jq", jq_err if jq_cmd else None)):
                if err:
                    print(f"    {label} error: {err}")
            rec = {"question": name, "tasklog_ms": our_ms, "jq_ms": jq_ms, "duckdb_ms": duck_ms,
                   "tasklog_error": our_err, "jq_error": jq_err if jq_cmd else "n/a", "duckdb_error": duck_err}
            results.append(rec)
            out.write(json.dumps(rec) + "\n")
    key = [r["tasklog_ms"] for r in results if not r["question"].startswith("cmd.") and r["tasklog_ms"]]
    over = [r["question"] for r in results if not r["question"].startswith("cmd.") and (r["tasklog_ms"] or 1e9) > 20]
    print(f"key queries: median {statistics.median(key):.1f} ms, max {max(key):.1f} ms; over 20 ms: {', '.join(over) or 'none'}")


if __name__ == "__main__":
    main()
