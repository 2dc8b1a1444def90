#!/usr/bin/env bash
# Importing Claude Code sessions beside ccusage and agentsview, in one run
# over the same files (issues 15 and 25). Prints each figure with the peers'.
#
#   bash scripts/bench_import.sh                                  # 1,000 sessions of 1 MB
#   SESSIONS=1000 SESSION_KB=300 bash scripts/bench_import.sh     # 1,000 sessions, 0.3 GB
#
# The sessions are synthetic (scripts/gen_claude_sessions.py): user turns,
# assistant lines that repeat a call's usage with a growing output count,
# tool calls and results. Figures: cold import, cold index, a second import
# with nothing changed, one turn appended to 10 sessions then imported and
# indexed, and the disk taken (task folders by file, the index by table).
# Peers, installed here from their registries (never committed):
# - ccusage from npm into target/bench-ccusage (CCUSAGE, default 20.0.24:
#   20.0.26's native linux-x64 package was not in the registry; falls back
#   to 18, pure JavaScript, when the release asked for does not run);
# - agentsview from PyPI into target/bench-agentsview (AGENTSVIEW, default
#   0.46.1; a Go program shipped in a wheel), run as a one-shot sync
#   (`AGENTSVIEW_NO_DAEMON=1 agentsview sync`) with HOME in the work folder.
# TASKLOG_BIN: a tasklog binary to use instead of building the release one.
# Set CARGO (e.g. "flock -o /tmp/cargo.lock cargo") to share a build lock.
set -euo pipefail
cd "$(dirname "$0")/.."
SESSIONS=${SESSIONS:-1000}
SESSION_KB=${SESSION_KB:-1000}
CCUSAGE=${CCUSAGE:-20.0.24}
AGENTSVIEW=${AGENTSVIEW:-0.46.1}
CARGO=${CARGO:-cargo}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [ -z "${TASKLOG_BIN:-}" ]; then
    $CARGO build --release -q -p tasklog -p tasklog-bench --bin tasklog --bin bench_import_freshness
fi
TASKLOG=$(realpath "${TASKLOG_BIN:-target/release/tasklog}")
export TASKLOG_ROOT="$WORK/tasks" TASKLOG_DB="$WORK/index.db"

now() { date +%s.%N; }
secs() { python3 -c "print(round($2 - $1, 2))"; }

SRC="$WORK/home/.claude/projects"
python3 scripts/gen_claude_sessions.py "$SRC" "$SESSIONS" "$SESSION_KB"
BYTES=$(du -sb "$SRC" | cut -f1)
LINES=$(cat "$SRC"/*/*.jsonl | wc -l)
echo "== corpus: $SESSIONS sessions, $LINES lines, $((BYTES / 1000000)) MB; tasklog $("$TASKLOG" --version)"

t0=$(now)
"$TASKLOG" -q import claude-code "$SRC" --format json > "$WORK/import.json"
t1=$(now)
"$TASKLOG" -q index > /dev/null
t2=$(now)
COLD_IMPORT=$(secs "$t0" "$t1")
COLD_INDEX=$(secs "$t1" "$t2")
python3 - "$WORK/import.json" "$COLD_IMPORT" "$LINES" "$BYTES" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
secs, lines, size = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
t = summary["totals"]
print(f"tasklog import, cold      {secs:8.2f} s  {lines / secs:10.0f} source lines/s  {size / secs / 1e6:6.1f} MB/s  "
      f"{t['events'] + t['source_records']} records written, output tokens {t['output_tokens']}")
PY
echo "tasklog index, cold       $COLD_INDEX s"

# Nothing changed: every file is decided by its size and modification time.
t0=$(now)
"$TASKLOG" -q import claude-code "$SRC" --format json > "$WORK/again.json"
t1=$(now)
AGAIN=$(secs "$t0" "$t1")
echo "tasklog import, unchanged $AGAIN s"

# One turn appended to 10 sessions.
append10() {
    python3 - "$SRC" "$1" <<'PY'
import glob, json, sys
files = sorted(glob.glob(sys.argv[1] + "/*/*.jsonl"))[:10]
tag = sys.argv[2]
for path in files:
    session = path.rsplit("/", 1)[1][:-6]
    ts = "2026-11-29T12:00:00.000Z"
    usage = {"input_tokens": 7, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 10, "output_tokens": 42}
    lines = [
        {"type": "user", "uuid": f"bu-{tag}", "sessionId": session, "timestamp": ts,
         "message": {"role": "user", "content": "one more turn"}},
        {"type": "assistant", "uuid": f"ba-{tag}", "sessionId": session, "timestamp": ts, "requestId": f"req_b_{tag}_{session[:8]}",
         "message": {"id": f"msg_b_{tag}_{session[:8]}", "model": "claude-sonnet-4-5", "role": "assistant",
                     "content": [{"type": "text", "text": "done"}], "usage": usage}},
        {"type": "user", "uuid": f"bv-{tag}", "sessionId": session, "timestamp": ts,
         "message": {"role": "user", "content": "thanks"}},
    ]
    with open(path, "a") as f:
        for line in lines:
            f.write(json.dumps(line, separators=(",", ":")) + "\n")
PY
}
append10 tasklog
t0=$(now)
"$TASKLOG" -q import claude-code "$SRC" --format json > "$WORK/append.json"
t1=$(now)
"$TASKLOG" -q index > /dev/null
t2=$(now)
echo "tasklog import, 10 grown  $(secs "$t0" "$t1") s (then index $(secs "$t1" "$t2") s)"

disk() {
python3 - "$1" "$2" "$BYTES" "$3" <<'PY'
import collections, os, sqlite3, sys
root, work, size, label = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
by_kind = collections.Counter()
for task in os.scandir(root):
    if not task.is_dir():
        continue
    for f in os.scandir(task.path):
        name = f.name
        kind = "source*.jsonl" if name.startswith("source") else name
        by_kind[kind] += f.stat().st_blocks * 512
folders = sum(by_kind.values())
index = sum(os.path.getsize(os.path.join(work, n)) for n in os.listdir(work) if n.startswith("index.db"))
print(f"disk, {label}: task folders {folders / size:.2f}x + index {index / size:.2f}x = {(folders + index) / size:.2f}x the source")
print("  task folders: " + ", ".join(f"{k} {v / size:.2f}x" for k, v in by_kind.most_common(5)))
db = sqlite3.connect(os.path.join(work, "index.db"))
try:
    rows = db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 6").fetchall()
    print("  index: " + ", ".join(f"{n} {b / size:.2f}x" for n, b in rows))
except sqlite3.Error as e:
    print(f"  index by table: {e}")
PY
}
disk "$WORK/tasks" "$WORK" "default"

# Lean: no verbatim copy (--no-source), then the sealed tasks compressed
# (what `[retention] compress_after` does once they are old enough).
t0=$(now)
TASKLOG_ROOT="$WORK/lean/tasks" "$TASKLOG" -q import claude-code --no-source "$SRC" > /dev/null
t1=$(now)
mkdir -p "$WORK/lean"
TASKLOG_ROOT="$WORK/lean/tasks" TASKLOG_DB="$WORK/lean/index.db" "$TASKLOG" -q index > /dev/null
t2=$(now)
echo "tasklog import --no-source, cold $(secs "$t0" "$t1") s (then index $(secs "$t1" "$t2") s)"
disk "$WORK/lean/tasks" "$WORK/lean" "--no-source"
TASKLOG_ROOT="$WORK/lean/tasks" TASKLOG_DB="$WORK/lean/index.db" "$TASKLOG" -q compress --older-than 0s > /dev/null
disk "$WORK/lean/tasks" "$WORK/lean" "--no-source, then compress"
"$TASKLOG" -q compress --older-than 0s > /dev/null
disk "$WORK/tasks" "$WORK" "default, then compress"
rm -rf "$WORK/lean"

# ccusage: reads and sums, stores nothing.
if command -v npm >/dev/null 2>&1; then
    CC_DIR=target/bench-ccusage
    install_ccusage() {
        rm -rf "$CC_DIR" && mkdir -p "$CC_DIR"
        (cd "$CC_DIR" && npm install --silent --no-audit --no-fund "ccusage@$1" >/dev/null 2>&1)
    }
    run_ccusage() {
        CLAUDE_CONFIG_DIR="$WORK/home/.claude" "$CC_DIR/node_modules/.bin/ccusage" daily --json --offline > "$WORK/ccusage.json"
    }
    if ! { "$CC_DIR/node_modules/.bin/ccusage" --version 2>/dev/null | grep -q "$CCUSAGE" && run_ccusage; } 2>/dev/null \
        && ! { install_ccusage "$CCUSAGE" && run_ccusage; } 2>/dev/null; then
        echo "ccusage@$CCUSAGE did not install or run here; using ccusage@18"
        install_ccusage 18
    fi
    CC_VERSION=$(node -p "require('./$CC_DIR/node_modules/ccusage/package.json').version")
    t0=$(now); run_ccusage; t1=$(now)
    echo "ccusage $CC_VERSION daily --json      $(secs "$t0" "$t1") s (all $SESSIONS sessions, cold page cache aside)"
    python3 - "$WORK/ccusage.json" "$WORK/append.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
out = sum(d.get("outputTokens", 0) for d in report.get("daily", []))
print(f"  ccusage output tokens {out} (its rule: see docs/IMPORT.md section 18)")
PY
    t0=$(now); run_ccusage; t1=$(now)
    echo "ccusage $CC_VERSION again, unchanged  $(secs "$t0" "$t1") s"
else
    echo "skipped ccusage: npm not found"
fi

# agentsview: syncs sessions into its own SQLite database.
if python3 -m venv --help >/dev/null 2>&1; then
    AV_DIR=target/bench-agentsview
    if [ ! -x "$AV_DIR/bin/agentsview" ]; then
        python3 -m venv "$AV_DIR" && "$AV_DIR/bin/pip" install -q "agentsview==$AGENTSVIEW"
    fi
    av() { HOME="$WORK/home" AGENTSVIEW_NO_DAEMON=1 "$AV_DIR/bin/agentsview" "$@"; }
    AV_VERSION=$(av --version | head -1)
    t0=$(now); av sync > "$WORK/av1.out" 2>&1; t1=$(now)
    echo "$AV_VERSION sync, cold         $(secs "$t0" "$t1") s ($(tail -1 "$WORK/av1.out"))"
    t0=$(now); av sync > /dev/null 2>&1; t1=$(now)
    echo "agentsview sync, unchanged    $(secs "$t0" "$t1") s"
    append10 agentsview
    t0=$(now); av sync > /dev/null 2>&1; t1=$(now)
    echo "agentsview sync, 10 grown     $(secs "$t0" "$t1") s"
    AV_DB=$(cat "$WORK"/home/.agentsview/sessions.db* | wc -c)
    python3 -c "print(f'agentsview disk: {$AV_DB / $BYTES:.2f}x the source (sessions.db*)')"
else
    echo "skipped agentsview: python3 -m venv not available"
fi

# Freshness of a followed session (file events vs looking every 500 ms).
if [ -x target/release/bench_import_freshness ]; then
    TASKLOG_BIN="$TASKLOG" target/release/bench_import_freshness --appends "${APPENDS:-50}"
fi
