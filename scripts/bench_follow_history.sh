#!/usr/bin/env bash
# The index a followed session leaves behind (issue 25): one synthetic Claude
# Code session (scripts/gen_claude_sessions.py, 350 KB) is imported 8 lines at
# a time, as a follower would, and indexed after each import; prints the
# `import` document's history (versions, bytes) and the index's size.
#
#   bash scripts/bench_follow_history.sh [TASKLOG_BIN]    # default target/release/tasklog
set -euo pipefail
cd "$(dirname "$0")/.."
T=$(realpath "${1:-target/release/tasklog}")
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
python3 scripts/gen_claude_sessions.py "$W/gen" 1 350 > /dev/null
f=$(ls "$W"/gen/*/*.jsonl)
mkdir -p "$W/live"
live="$W/live/$(basename "$f")"
export TASKLOG_ROOT="$W/tasks" TASKLOG_DB="$W/index.db"
n=$(wc -l < "$f")
i=0
while [ "$i" -lt "$n" ]; do
    i=$((i + 8))
    head -n "$i" "$f" > "$live.tmp" && mv "$live.tmp" "$live"
    "$T" -q import claude-code "$live" > /dev/null
    "$T" -q index
done
hist=$(sqlite3 "$W/index.db" "SELECT count(*) || ' versions, ' || sum(length(body)) || ' bytes' FROM document_history WHERE name = 'import'")
echo "source $(stat -c %s "$f") bytes, $n lines; import history: $hist; index $(stat -c %s "$W/index.db") bytes"
