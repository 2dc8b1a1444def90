#!/usr/bin/env bash
# The PostgreSQL sink's benchmark (issue 13): a local server started for the
# run (durable: fsync on), the 1M-record corpus, then in one run the cold
# backfill beside a naive INSERT loop and the SQLite sink, and live
# freshness. Figures also go to target/bench/results.jsonl.
#
#   bash scripts/bench_postgres.sh                  # 1,000 tasks x 1,000 lines
#   TASKS=100 LINES=1000 bash scripts/bench_postgres.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TASKS=${TASKS:-1000}
LINES=${LINES:-1000}
SECONDS_LIVE=${SECONDS_LIVE:-10}
mkdir -p target/bench
cargo build --release -q -p tasklog -p tasklog-bench
export TASKLOG_BIN="$PWD/target/release/tasklog"
read -r url base < <(bash scripts/pg_cluster.sh start --durable)
trap 'bash scripts/pg_cluster.sh stop "$base"' EXIT
echo "== machine"
echo "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr), PostgreSQL $(ls /usr/lib/postgresql | tr '\n' ' '), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "== PostgreSQL sink ($((TASKS * LINES)) records)"
target/release/bench_postgres --url "$url" --tasks "$TASKS" --lines "$LINES" --seconds "$SECONDS_LIVE" \
    --json target/bench/results.jsonl
