#!/usr/bin/env bash
# A year of operation (docs/RETENTION.md): 12 months of sealed tasks
# (TASKS x LINES records each; 1000 x 100 = 100k records a month by
# default) plus a live month of open tasks. One run prints, without and
# with archiving: the key-query times on the active database
# (tests/key_queries.sql, in process, median of RUNS), its size, the task
# folders' disk use before and after `compress --older-than 30d`, and the
# time to archive each month. A benchmark, not a test: figures, no verdict.
#
#   bash scripts/bench_retention.sh                        # the full year
#   TASKS=100 LINES=100 bash scripts/bench_retention.sh    # a quick run
#
# Needs about 3 GB free under $YEAR_DIR (default target/bench/year), which
# is deleted and written again by every run. Figures also go to
# $YEAR_DIR/results.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
TASKS=${TASKS:-1000}
LINES=${LINES:-100}
RUNS=${RUNS:-5}
DIR=${YEAR_DIR:-target/bench/year}
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p tasklog -p tasklog-bench
BIN=$TARGET/release/tasklog
GEN=$TARGET/release/bench_year
ROOT=$DIR/tasks
OUT=$DIR/results.jsonl
rm -rf "$DIR"
mkdir -p "$DIR"
: > "$OUT"
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ)"

emit() { # name value unit
    printf '{"name":"%s","value":%s,"unit":"%s"}\n' "$1" "$2" "$3" | tee -a "$OUT"
}
secs() { # command...: runs it, prints its wall time in seconds
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null
    t1=$(date +%s.%N)
    python3 -c "print(round($t1 - $t0, 2))"
}
# Bytes the database holds (pages in use), and its file size after VACUUM.
live_bytes() {
    python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); p=lambda q: c.execute(q).fetchone()[0]; print((p('pragma page_count')-p('pragma freelist_count'))*p('pragma page_size'))" "$1"
}
files_bytes() { find "$ROOT" -type f -printf '%s\n' | awk '{s += $1} END {print s}'; }
disk_bytes() { du -s --block-size=1 "$ROOT" | cut -f1; }

# The 12 months before this one, oldest first; and the months older than
# 30 days, which `[retention] archive_after = "30d"` archives.
THIS=$(date -u +%Y-%m-01)
MONTHS=$(for i in $(seq 12 -1 1); do date -u -d "$THIS -$i month" +%Y-%m; done | paste -sd, -)
CUTOFF=$(date -u -d '30 days ago' +%Y-%m)
echo "== corpus: months $MONTHS + a live month, $TASKS tasks x $LINES records each"
"$GEN" generate --out "$ROOT" --months "$MONTHS" --tasks "$TASKS" --lines "$LINES"
emit "records" "$((13 * TASKS * LINES))" "records"

echo "== without archiving"
PLAIN=$DIR/plain/index.db
emit "cold index" "$(secs "$BIN" --root "$ROOT" --db "$PLAIN" index)" "s"
emit "active database, no archiving" "$(live_bytes "$PLAIN")" "bytes"
emit "key queries, no archiving (total of medians; slowest)" "$("$GEN" queries --db "$PLAIN" --runs "$RUNS")" "json"

echo "== compress --older-than 30d"
BEFORE_FILES=$(files_bytes)
BEFORE_DISK=$(disk_bytes)
emit "compress" "$(secs "$BIN" --root "$ROOT" --db "$PLAIN" compress --older-than 30d)" "s"
AFTER_FILES=$(files_bytes)
AFTER_DISK=$(disk_bytes)
emit "task folders before compress (file bytes)" "$BEFORE_FILES" "bytes"
emit "task folders after compress (file bytes)" "$AFTER_FILES" "bytes"
emit "task folders before / after (du)" "$(python3 -c "print(round($BEFORE_DISK / $AFTER_DISK, 2))")" "ratio"
emit "task folders before / after (file bytes)" "$(python3 -c "print(round($BEFORE_FILES / $AFTER_FILES, 2))")" "ratio"
emit "first index after compress (each .gz read once)" "$(secs "$BIN" --root "$ROOT" --db "$PLAIN" index)" "s"
emit "index restart, nothing new" "$(secs "$BIN" --root "$ROOT" --db "$PLAIN" index)" "s"

echo "== with archiving (months before $CUTOFF)"
ARCH=$DIR/archived/index.db
mkdir -p "$DIR/archived"
sqlite3 "$PLAIN" ".backup '$ARCH'"
for m in ${MONTHS//,/ }; do
    if [[ "$m" < "$CUTOFF" ]]; then
        emit "archive --month $m" "$(secs "$BIN" --root "$ROOT" --db "$ARCH" archive --month "$m")" "s"
    fi
done
emit "active database, archived (pages in use)" "$(live_bytes "$ARCH")" "bytes"
sqlite3 "$ARCH" "VACUUM"
emit "active database, archived, file after VACUUM" "$(stat -c %s "$ARCH")" "bytes"
emit "one archive file ($(ls "$DIR/archived/archive" | head -1))" "$(stat -c %s "$DIR/archived/archive/$(ls "$DIR/archived/archive" | head -1)")" "bytes"
emit "key queries, archived, active database" "$("$GEN" queries --db "$ARCH" --runs "$RUNS")" "json"
emit "key queries, archived, --archives (union)" "$("$GEN" queries --db "$ARCH" --archives --runs "$RUNS")" "json"
emit "index restart, archived" "$(secs "$BIN" --root "$ROOT" --db "$ARCH" index)" "s"
emit "verify --archives" "$(secs "$BIN" --root "$ROOT" --db "$ARCH" verify --archives)" "s"
