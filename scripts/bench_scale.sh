#!/usr/bin/env bash
# The scale run: 100k task folders x 100 lines (10M records, about 2.6 GB
# of JSONL) by default. Generates the corpus, indexes it cold, then
# measures what a restart costs: `tasklog index` with nothing new, and
# `tasklog watch` from start to ready (its watches registered, every
# folder checked), with its peak RSS, watches and polled folders.
#
#   bash scripts/bench_scale.sh                       # 100k x 100
#   TASKS=10000 LINES=100 bash scripts/bench_scale.sh # a quick run
#
# Needs about 12 GB free under $SCALE_DIR (default target/bench/scale).
# Results go to target/bench/scale.jsonl; the corpus and database stay for
# reruns (delete $SCALE_DIR to start over).
set -euo pipefail
cd "$(dirname "$0")/.."
TASKS=${TASKS:-100000}
LINES=${LINES:-100}
DIR=${SCALE_DIR:-target/bench/scale}
OUT=target/bench/scale.jsonl
ROOT=$DIR/tasks-$TASKS-$LINES
DB=$DIR/index-$TASKS-$LINES.db
mkdir -p "$DIR"

cargo build --release -q -p tasklog -p tasklog-bench
BIN=$PWD/target/release/tasklog
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ)"

if [ ! -f "$ROOT/.complete" ]; then
    rm -rf "$ROOT"
    target/release/bench_corpus --out "$ROOT" --tasks "$TASKS" --lines "$LINES"
    touch "$ROOT/.complete"
fi
# The bytes of the files themselves (du would add 100k directories' blocks).
JSONL_BYTES=$(find "$ROOT" -type f -name '*.jsonl' -printf '%s\n' | awk '{s += $1} END {print s}')

# One JSON line per figure, as the other runners write.
emit() { # name value unit target
    printf '{"name":"%s","value":%s,"unit":"%s","target":"%s"}\n' "$1" "$2" "$3" "$4" | tee -a "$OUT"
}
: > "$OUT"

echo "== cold index of $((TASKS * LINES)) records in $TASKS folders"
rm -f "$DB" "$DB-wal" "$DB-shm"
/usr/bin/time -f "%e %M" -o "$DIR/time.txt" "$BIN" --root "$ROOT" --db "$DB" index >/dev/null
read -r SECS RSS_KB < "$DIR/time.txt"
emit "scale: cold index" "$(python3 -c "print(round($TASKS * $LINES / $SECS))")" "records/s" ""
emit "scale: cold index peak RSS" "$((RSS_KB / 1024))" "MiB" ""
DB_BYTES=$(( $(stat -c %s "$DB") + $(stat -c %s "$DB-wal" 2>/dev/null || echo 0) ))
emit "scale: database size / JSONL bytes" "$(python3 -c "print(round($DB_BYTES / $JSONL_BYTES, 2))")" "ratio" "<= 1.5"

echo "== restart: tasklog index with nothing new"
# The first pass after a 10 GB write may find the folders' metadata out of
# the page cache (a cold start); the second is the usual restart.
for pass in first second; do
    /usr/bin/time -f "%e %M" -o "$DIR/time.txt" "$BIN" --root "$ROOT" --db "$DB" index >/dev/null
    read -r SECS RSS_KB < "$DIR/time.txt"
    emit "scale: index restart, nothing new ($pass pass)" "$SECS" "s" "<= 3"
done

echo "== restart: tasklog watch to ready"
STARTED=$(date +%s.%N)
"$BIN" --root "$ROOT" --db "$DB" watch >/dev/null 2>"$DIR/watch.log" &
PID=$!
trap 'kill "$PID" 2>/dev/null || true' EXIT
# Ready = this process recorded its watch state after checking every folder.
until python3 - "$DB" "$PID" <<'PY'
import sqlite3, sys
db, pid = sys.argv[1], sys.argv[2]
try:
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
    row = c.execute("SELECT value FROM indexer_state WHERE key = 'watcher_pid'").fetchone()
    sys.exit(0 if row and row[0] == pid else 1)
except sqlite3.Error:
    sys.exit(1)
PY
do sleep 0.05; done
READY=$(python3 -c "print(round($(date +%s.%N) - $STARTED, 2))")
emit "scale: watch restart to ready" "$READY" "s" "<= 3"
sleep 5 # a few poll ticks over the unwatched folders
emit "scale: watch peak RSS" "$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$PID/status")" "MiB" "<= 100"
"$BIN" --root "$ROOT" --db "$DB" status --format json > "$DIR/status.json"
python3 - "$DIR/status.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
keep = {k: s.get(k) for k in ("watch_mode", "watches", "polled_tasks", "records", "lag_bytes")}
print("status:", json.dumps(keep))
PY
kill -TERM "$PID"
wait "$PID" || true
trap - EXIT
echo "results: $OUT"
