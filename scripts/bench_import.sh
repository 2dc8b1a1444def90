#!/usr/bin/env bash
# Importing Claude Code sessions: `tasklog import claude-code` beside
# ccusage's `daily --json` over the same files, in one run (issue 15).
#
#   bash scripts/bench_import.sh                  # 1,000 sessions, about 1 GB
#   SESSIONS=100 SESSION_KB=1000 bash scripts/bench_import.sh   # smaller
#
# The sessions are synthetic (scripts/gen_claude_sessions.py): user turns,
# assistant lines that repeat a call's usage with a growing output count,
# tool calls and results. ccusage comes from the npm registry into
# target/bench-ccusage (version CCUSAGE, default 18: newer releases need a
# native package the registry may not serve). Prints records/s and MB/s
# for both, and the output tokens each counted (ccusage keeps the first
# line of a call, tasklog the final usage: see docs/IMPORT.md).
set -euo pipefail
cd "$(dirname "$0")/.."
SESSIONS=${SESSIONS:-1000}
SESSION_KB=${SESSION_KB:-1000}
CCUSAGE=${CCUSAGE:-18}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cargo build --release -q -p tasklog
TASKLOG="$PWD/target/release/tasklog"

python3 scripts/gen_claude_sessions.py "$WORK/claude/projects" "$SESSIONS" "$SESSION_KB"
BYTES=$(du -sb "$WORK/claude/projects" | cut -f1)
LINES=$(cat "$WORK"/claude/projects/*/*.jsonl | wc -l)
echo "== corpus: $SESSIONS sessions, $LINES lines, $((BYTES / 1000000)) MB"

start=$(date +%s.%N)
TASKLOG_ROOT="$WORK/tasks" TASKLOG_DB="$WORK/index.db" "$TASKLOG" -q import claude-code \
    "$WORK/claude/projects" --format json > "$WORK/import.json"
end=$(date +%s.%N)
ours=$(python3 -c "print($end - $start)")
python3 - "$WORK/import.json" "$ours" "$LINES" "$BYTES" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
secs, lines, size = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
t = summary["totals"]
print(f"tasklog import   {secs:8.1f} s  {lines / secs:10.0f} source lines/s  {size / secs / 1e6:6.1f} MB/s  "
      f"{t['events'] + t['source_records']} records written, output tokens {t['output_tokens']}")
PY

# Nothing changed: every file is decided by its size and modification time.
start=$(date +%s.%N)
TASKLOG_ROOT="$WORK/tasks" TASKLOG_DB="$WORK/index.db" "$TASKLOG" -q import claude-code \
    "$WORK/claude/projects" --format json > "$WORK/again.json"
end=$(date +%s.%N)
echo "tasklog re-import, nothing changed: $(python3 -c "print(round($end - $start, 2))") s"
TASKLOG_ROOT="$WORK/tasks" TASKLOG_DB="$WORK/index.db" "$TASKLOG" -q index >/dev/null
FOLDERS=$(du -sb "$WORK/tasks" | cut -f1)
INDEX=$(cat "$WORK"/index.db* | wc -c)
python3 -c "s=$BYTES; print(f'disk: task folders {$FOLDERS/s:.2f}x, index {$INDEX/s:.2f}x, total {($FOLDERS+$INDEX)/s:.2f}x the source')"

if ! command -v npm >/dev/null 2>&1; then
    echo "skipped ccusage: npm not found"
    exit 0
fi
mkdir -p target/bench-ccusage
if [ ! -x target/bench-ccusage/node_modules/.bin/ccusage ]; then
    (cd target/bench-ccusage && npm install --silent --no-audit --no-fund "ccusage@$CCUSAGE" >/dev/null)
fi
start=$(date +%s.%N)
CLAUDE_CONFIG_DIR="$WORK/claude" target/bench-ccusage/node_modules/.bin/ccusage daily --json --offline \
    > "$WORK/ccusage.json"
end=$(date +%s.%N)
theirs=$(python3 -c "print($end - $start)")
python3 - "$WORK/ccusage.json" "$theirs" "$ours" "$LINES" "$BYTES" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
secs, ours, lines, size = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
out = sum(d.get("outputTokens", 0) for d in report.get("daily", []))
print(f"ccusage daily    {secs:8.1f} s  {lines / secs:10.0f} source lines/s  {size / secs / 1e6:6.1f} MB/s  "
      f"output tokens {out}")
print(f"ratio (ccusage time / tasklog time): {secs / ours:.2f}x")
PY
