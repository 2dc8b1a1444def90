#!/usr/bin/env bash
# The kernel's inotify limit below the folder count: `tasklog watch` must
# still index every line (the folders the kernel refuses are polled) and say
# so in `status`. Lowers fs.inotify.max_user_watches for the whole machine
# while it runs, so it needs root and is not part of the test suite (other
# processes would lose watches too); the limit is restored on exit.
#
#   sudo bash scripts/check_inotify_limit.sh      # FOLDERS=500 LIMIT=100 by default
set -euo pipefail
cd "$(dirname "$0")/.."
FOLDERS=${FOLDERS:-500}
LIMIT=${LIMIT:-100}
LIMIT_FILE=/proc/sys/fs/inotify/max_user_watches
[ -w "$LIMIT_FILE" ] || { echo "needs root (writes $LIMIT_FILE)" >&2; exit 2; }

cargo build --release -q -p tasklog
BIN=$PWD/target/release/tasklog
WORK=$(mktemp -d)
ORIGINAL=$(cat "$LIMIT_FILE")
PID=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
    echo "$ORIGINAL" > "$LIMIT_FILE"
    rm -rf "$WORK"
}
trap cleanup EXIT
export TASKLOG_ROOT=$WORK/tasks TASKLOG_DB=$WORK/index.db
mkdir -p "$TASKLOG_ROOT"

echo "$LIMIT" > "$LIMIT_FILE"
"$BIN" watch 2>"$WORK/watch.log" &
PID=$!
sleep 1
# Folders created while watching, each with lines appended later too.
for i in $(seq 1 "$FOLDERS"); do
    "$BIN" append "t-$i" events '{"event":"step","n":1}'
done
for i in $(seq 1 "$FOLDERS"); do
    "$BIN" append "t-$i" events '{"event":"step","n":2}'
done
want=$((FOLDERS * 2))
for _ in $(seq 1 120); do
    got=$("$BIN" query --format csv "SELECT count(*) FROM records" | tail -1)
    [ "$got" = "$want" ] && break
    sleep 0.5
done
"$BIN" status --format json > "$WORK/status.json"
python3 - "$WORK/status.json" "$want" "$got" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
want, got = int(sys.argv[2]), int(sys.argv[3])
print(f"records {got} of {want}; mode {s['watch_mode']}, {s['watches']} watched, {s['polled_tasks']} polled")
assert got == want, "lines missing"
assert s["watch_mode"] == "inotify+polling" and int(s["polled_tasks"]) > 0, "fallback not reported"
PY
grep -c "polling it instead" "$WORK/watch.log" | xargs echo "folders the kernel refused:"
echo "ok: every line indexed with the kernel limit at $LIMIT for $FOLDERS folders"
