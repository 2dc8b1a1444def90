#!/usr/bin/env bash
# Importing Claude Code sessions beside ccusage and agentsview, in one run
# over the same files (issues 15 and 25). Prints each figure with the peers'.
#
#   bash scripts/bench_import.sh                                  # 1,000 sessions of 1 MB
#   SESSIONS=300 SESSION_KB=300 TASKLOG_BIN=target/release/tasklog bash scripts/bench_import.sh
#
# The sessions are synthetic (scripts/gen_claude_sessions.py): user turns,
# assistant lines that repeat a call's usage with a growing output count,
# tool calls and results. Their modification times are then set to AGE
# (default "3 days ago", any `touch -d` date; AGE=now keeps them fresh) so
# that the importer's default `--compress-after 1d` applies as it does to a
# real history: sessions quiet for a day are gzipped once imported.
# Figures, all on the default path (`tasklog import claude-code DIR`, no
# flags: no verbatim copy, quiet sessions compressed): cold import and cold
# index (RUNS times into fresh folders, median printed), the disk taken
# (source bytes; task folders in disk blocks, by file; the index's files,
# db + wal + shm, by table), a second import with nothing changed, one turn
# appended to 10 sessions then imported and indexed (those 10 are made plain
# again), and the disk after it. VARIANTS=1 (default) also measures
# `--no-compress` (what sessions active within the day take) and
# `--keep-source --no-compress` (the defaults before 2026-12-07).
# Peers (PEERS=0 skips them), installed here from their registries (never committed):
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
AGE=${AGE:-3 days ago}
RUNS=${RUNS:-1}
VARIANTS=${VARIANTS:-1}
PEERS=${PEERS:-1}
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
median() { python3 -c "import statistics, sys; print(round(statistics.median(map(float, sys.argv[1:])), 2))" "$@"; }

SRC="$WORK/home/.claude/projects"
python3 scripts/gen_claude_sessions.py "$SRC" "$SESSIONS" "$SESSION_KB"
find "$SRC" -name '*.jsonl' -exec touch -d "$AGE" {} +
BYTES=$(du -sb "$SRC" | cut -f1)
BLOCKS=$(du -sB1 "$SRC" | cut -f1)
LINES=$(cat "$SRC"/*/*.jsonl | wc -l)
echo "== corpus: $SESSIONS sessions of $SESSION_KB KB, $LINES lines, $BYTES bytes ($((BYTES / 1000000)) MB; $BLOCKS in disk blocks); tasklog $("$TASKLOG" --version)"
echo "== sources modified '$AGE' ($(date -u -d "$AGE" +%FT%TZ)): the default --compress-after 1d $(
    python3 -c "import sys, time; print('applies' if time.time() - float(sys.argv[1]) >= 86400 else 'does NOT apply (sources younger than a day)')" "$(date -d "$AGE" +%s)")"
echo "== every import below is the default path unless its flags are named; disk ratios are disk blocks (task folders) and file sizes (index) over the source's bytes"

# Cold: import (which gzips the tasks of quiet sessions after its pass) then index.
IMPORTS=() INDEXES=()
for run in $(seq "$RUNS"); do
    rm -rf "$WORK/tasks" "$WORK"/index.db*
    t0=$(now)
    "$TASKLOG" -q import claude-code "$SRC" --format json > "$WORK/import.json"
    t1=$(now)
    "$TASKLOG" -q index > /dev/null
    t2=$(now)
    IMPORTS+=("$(secs "$t0" "$t1")") INDEXES+=("$(secs "$t1" "$t2")")
    echo "  run $run: import ${IMPORTS[-1]} s, index ${INDEXES[-1]} s"
done
COLD_IMPORT=$(median "${IMPORTS[@]}")
COLD_INDEX=$(median "${INDEXES[@]}")
python3 - "$WORK/import.json" "$COLD_IMPORT" "$LINES" "$BYTES" "$RUNS" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
secs, lines, size, runs = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
t = summary["totals"]
print(f"tasklog import, cold      {secs:8.2f} s  {lines / secs:10.0f} source lines/s  {size / secs / 1e6:6.1f} MB/s  "
      f"{t['events'] + t['source_records']} records written ({t['source_records']} verbatim), output tokens {t['output_tokens']}"
      f"  (median of {runs})")
PY
echo "tasklog index, cold       $COLD_INDEX s (median of $RUNS)"
echo "tasklog import + index    $(python3 -c "print(round($COLD_IMPORT + $COLD_INDEX, 2))") s"

disk() {
python3 - "$1" "$2" "$BYTES" "$3" <<'PY'
import collections, os, sqlite3, sys
root, db_dir, size, label = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
by_kind, apparent = collections.Counter(), 0
tasks = gz_tasks = 0
for task in os.scandir(root):
    if not task.is_dir():
        continue
    tasks += 1
    gz = False
    for folder, dirs, files in os.walk(task.path):
        for name in files:
            st = os.lstat(os.path.join(folder, name))
            kind = "agent-*" + name[name.index("."):] if name.startswith("agent-") else name
            gz |= name.endswith(".gz")
            by_kind[kind] += st.st_blocks * 512
            apparent += st.st_size
    gz_tasks += gz
folders = sum(by_kind.values())
index = {n: os.path.getsize(os.path.join(db_dir, n)) for n in sorted(os.listdir(db_dir)) if n.startswith("index.db")}
total = sum(index.values())
print(f"disk, {label}: task folders {folders / size:.2f}x + index {total / size:.2f}x = {(folders + total) / size:.2f}x the source"
      f"  ({gz_tasks} of {tasks} tasks compressed)")
print(f"  bytes: source {size}, task folders {folders} in disk blocks ({apparent} apparent), index {total} ("
      + ", ".join(f"{n} {b}" for n, b in index.items()) + ")")
print("  task folders: " + ", ".join(f"{k} {v / size:.2f}x" for k, v in by_kind.most_common(6)))
db = sqlite3.connect(os.path.join(db_dir, "index.db"))
try:
    rows = db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 6").fetchall()
    print("  index: " + ", ".join(f"{n} {b / size:.2f}x" for n, b in rows))
except sqlite3.Error as e:
    print(f"  index by table: {e}")
PY
}
disk "$WORK/tasks" "$WORK" "default, cold"

# Nothing changed: every file is decided by its size and modification time.
t0=$(now)
"$TASKLOG" -q import claude-code "$SRC" --format json > "$WORK/again.json"
t1=$(now)
AGAIN=$(secs "$t0" "$t1")
echo "tasklog import, unchanged $AGAIN s"

# The same sources with other flags, each into its own folders and index.
variant() {
    local dir="$WORK/variant" label="$1"; shift
    rm -rf "$dir" && mkdir -p "$dir"
    t0=$(now)
    TASKLOG_ROOT="$dir/tasks" "$TASKLOG" -q import claude-code "$@" "$SRC" > /dev/null
    t1=$(now)
    TASKLOG_ROOT="$dir/tasks" TASKLOG_DB="$dir/index.db" "$TASKLOG" -q index > /dev/null
    t2=$(now)
    echo "tasklog import $*, cold $(secs "$t0" "$t1") s (then index $(secs "$t1" "$t2") s)"
    disk "$dir/tasks" "$dir" "$label"
    rm -rf "$dir"
}
if [ "$VARIANTS" = 1 ]; then
    variant "--no-compress (as sessions active within the day)" --no-compress
    variant "--keep-source --no-compress (the defaults before 2026-12-07)" --keep-source --no-compress
fi

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
disk "$WORK/tasks" "$WORK" "default, after 10 sessions grown (a compressed task is made plain again; the index keeps its earlier rows as superseded_records)"

# ccusage: reads and sums, stores nothing.
if [ "$PEERS" != 1 ]; then
    echo "skipped ccusage and agentsview: PEERS=$PEERS"
elif command -v npm >/dev/null 2>&1; then
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
if [ "$PEERS" != 1 ]; then
    :
elif python3 -m venv --help >/dev/null 2>&1; then
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
