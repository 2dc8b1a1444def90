#!/usr/bin/env bash
# Query benchmark: builds a deterministic corpus (1M records by default),
# indexes it with the release binary, then times every reference-002 key
# query (tests/key_queries.sql) and every read command against the same
# question answered by jq over the files and by DuckDB over the files.
#
#   bash scripts/bench_queries.sh                 # 1M records
#   RECORDS=100000 bash scripts/bench_queries.sh  # a quick run
#   SKIP_PEERS=1 bash scripts/bench_queries.sh    # tasklog only
#
# Prints, per question: our ms (`tasklog` wall time, median of RUNS, warm
# cache), jq ms and DuckDB ms (one run each), and the ratios. JSON lines go
# to target/bench/queries.jsonl. DuckDB comes from PyPI into
# target/bench-venv; jq from Debian's packages when /usr/bin/jq is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${RECORDS:-1000000}
RUNS=${RUNS:-5}
OUT=target/bench
CORPUS=$OUT/query-corpus
DB=$OUT/query-index.db
mkdir -p "$OUT"

if ! command -v jq >/dev/null; then
    apt-get update -qq && apt-get install -y -qq jq
fi
if [ ! -x target/bench-venv/bin/python ]; then
    python3 -m venv target/bench-venv
fi
target/bench-venv/bin/python -c 'import duckdb' 2>/dev/null \
    || target/bench-venv/bin/pip install -q duckdb

cargo build --release -q -p tasklog
BIN=$PWD/target/release/tasklog

# The corpus ends today (UTC) so that "today" questions have rows; the same
# day and RECORDS give the same bytes.
END=$(date -u +%F)
STAMP="$RECORDS-$END"
if [ "$(cat "$CORPUS/.stamp" 2>/dev/null)" != "$STAMP" ]; then
    rm -rf "$CORPUS" "$DB" "$DB-wal" "$DB-shm"
    python3 scripts/gen_corpus.py "$CORPUS" --records "$RECORDS" --end "$END"
    echo "$STAMP" > "$CORPUS/.stamp"
fi
# Catches up (from scratch the first time; a no-op when already indexed).
echo "== index $RECORDS records"
TASKLOG_ROOT=$CORPUS TASKLOG_DB=$DB "$BIN" index --format json

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "== corpus: $(du -sh "$CORPUS" | cut -f1) of files, index $(du -sh "$DB" | cut -f1)"
TASKLOG_BIN=$BIN TASKLOG_ROOT=$CORPUS TASKLOG_DB=$DB RUNS=$RUNS SKIP_PEERS=${SKIP_PEERS:-0} \
    target/bench-venv/bin/python scripts/bench_queries.py tests/key_queries.sql "$OUT/queries.jsonl"
