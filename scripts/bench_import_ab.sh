#!/usr/bin/env bash
# Cold import + index of the same synthetic Claude Code sessions with the
# importer's flags interleaved, so a noisy machine weighs on each alike
# (issue 25: "cold at least as fast", after the defaults of 2026-12-07).
#
#   SESSIONS=300 SESSION_KB=300 ROUNDS=3 TASKLOG_BIN=target/release/tasklog bash scripts/bench_import_ab.sh
#
# The sources' modification times are set to AGE (default "3 days ago") so
# the default `--compress-after 1d` compresses every task, as for a history
# imported for the first time. Each round imports and indexes the tree once
# per variant, each into fresh folders and a fresh index: the default (no
# verbatim copy, quiet tasks gzipped), `--no-compress`, and
# `--keep-source --no-compress` (the defaults before 2026-12-07). Then a
# second import with nothing changed, UNCHANGED times per variant. Prints
# every run and the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
SESSIONS=${SESSIONS:-300}
SESSION_KB=${SESSION_KB:-300}
ROUNDS=${ROUNDS:-3}
UNCHANGED=${UNCHANGED:-5}
AGE=${AGE:-3 days ago}
TASKLOG=$(realpath "${TASKLOG_BIN:-target/release/tasklog}")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

SRC="$WORK/src"
python3 scripts/gen_claude_sessions.py "$SRC" "$SESSIONS" "$SESSION_KB"
find "$SRC" -name '*.jsonl' -exec touch -d "$AGE" {} +
BYTES=$(du -sb "$SRC" | cut -f1)
echo "== $SESSIONS sessions of $SESSION_KB KB ($BYTES bytes), modified '$AGE'; $("$TASKLOG" --version); load $(cut -d' ' -f1-3 /proc/loadavg)"

now() { date +%s.%N; }
VARIANTS=("default" "--no-compress" "--keep-source --no-compress")
declare -A IMPORT INDEX AGAIN
for round in $(seq "$ROUNDS"); do
    for i in "${!VARIANTS[@]}"; do
        v=${VARIANTS[$i]} dir="$WORK/v$i"
        flags=()
        [ "$v" != default ] && read -r -a flags <<< "$v"
        rm -rf "$dir" && mkdir -p "$dir"
        export TASKLOG_ROOT="$dir/tasks" TASKLOG_DB="$dir/index.db"
        t0=$(now)
        "$TASKLOG" -q import claude-code "${flags[@]}" "$SRC" > /dev/null
        t1=$(now)
        "$TASKLOG" -q index > /dev/null
        t2=$(now)
        IMPORT[$i]+="$(python3 -c "print(round($t1 - $t0, 2))") "
        INDEX[$i]+="$(python3 -c "print(round($t2 - $t1, 2))") "
        if [ "$round" = "$ROUNDS" ]; then
            for _ in $(seq "$UNCHANGED"); do
                t0=$(now)
                "$TASKLOG" -q import claude-code "${flags[@]}" "$SRC" > /dev/null
                t1=$(now)
                AGAIN[$i]+="$(python3 -c "print(round($t1 - $t0, 3))") "
            done
        fi
        echo "  round $round, $v: import $(echo "${IMPORT[$i]}" | awk '{print $NF}') s, index $(echo "${INDEX[$i]}" | awk '{print $NF}') s"
    done
done
rm -rf "$WORK"/v*
for i in "${!VARIANTS[@]}"; do
    python3 - "${VARIANTS[$i]}" "${IMPORT[$i]}" "${INDEX[$i]}" "${AGAIN[$i]}" "$BYTES" <<'PY'
import statistics, sys
label, imp, idx, again, size = sys.argv[1], *[list(map(float, a.split())) for a in sys.argv[2:5]], int(sys.argv[5])
tot = [a + b for a, b in zip(imp, idx)]
m = statistics.median
print(f"{label:28} cold import {m(imp):6.2f} s + index {m(idx):6.2f} s; import + index {m(tot):6.2f} s "
      f"({size / m(tot) / 1e6:.1f} MB/s; runs {', '.join(f'{t:.1f}' for t in tot)}); "
      f"unchanged {m(again):.3f} s (median of {len(again)})")
PY
done
