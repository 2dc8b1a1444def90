#!/usr/bin/env bash
# The benchmark runner: builds release binaries, generates a deterministic
# corpus, runs every figure in one run and prints our figure beside its
# baseline with the ratio. Results also go to target/bench/results.jsonl.
#
#   bash scripts/bench.sh            # default sizes (about 5 minutes on 2 cores)
#   TASKS=1000 LINES=1000 bash scripts/bench.sh   # the 1M-record backfill
#   QUERIES=1 bash scripts/bench.sh               # also the key queries at 1M records
#
# Peer tools (sqlite-utils, DuckDB) come from PyPI into target/bench-venv;
# jq from Debian's packages when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
TASKS=${TASKS:-300}
LINES=${LINES:-1000}
SECONDS_LIVE=${SECONDS_LIVE:-10}
OUT=target/bench
mkdir -p "$OUT"
: > "$OUT/results.jsonl"

cargo build --release -q -p tasklog -p tasklog-bench
export TASKLOG_BIN="$PWD/target/release/tasklog"

echo "== machine"
echo "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ)"

echo "== appends"
target/release/bench_append --records 200000 --json "$OUT/results.jsonl"

CORPUS=$(mktemp -d)
trap 'rm -rf "$CORPUS"' EXIT
target/release/bench_corpus --out "$CORPUS/tasks" --tasks "$TASKS" --lines "$LINES" >/dev/null
RECORDS=$((TASKS * LINES))

echo "== cold index ($RECORDS records in $TASKS folders)"
BENCH_ROOT="$CORPUS/tasks" target/release/bench_index --json "$OUT/results.jsonl"

echo "== peers"
[ -x target/bench-venv/bin/python ] || python3 -m venv target/bench-venv
target/bench-venv/bin/pip install -q sqlite-utils duckdb
PATH="$PWD/target/bench-venv/bin:$PATH" target/bench-venv/bin/python scripts/bench_peers.py "$CORPUS/tasks" "$RECORDS" "$OUT/results.jsonl" >/dev/null
python3 - "$OUT/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ours = next(r for r in rows if r["name"] == "index: tasklog index, cold")
for r in rows:
    if r["name"].startswith("peer:"):
        print(f'{r["name"]:<44} {r["value"]:>14.0f} records/s   tasklog = {ours["value"]:.0f}  ratio {ours["value"] / r["value"]:.2f}x')
PY

echo "== live freshness and restart"
target/release/bench_freshness --seconds "$SECONDS_LIVE" --json "$OUT/results.jsonl"

# The 1M-record query benchmark takes about 10 minutes more: opt in.
if [ "${QUERIES:-0}" = 1 ]; then
  echo "== queries"
  bash scripts/bench_queries.sh
fi
echo "results: $OUT/results.jsonl"
