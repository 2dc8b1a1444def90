#!/usr/bin/env bash
# What TLS to PostgreSQL costs the sink (issue 21): the cold backfill of the
# same corpus by `tasklog index --sink` with sslmode=disable beside
# sslmode=verify-full, into fresh databases of one local server with
# ssl = on (a CA and a P-256 server certificate made here with Debian's
# openssl), rounds interleaved. Prints seconds and records/s per round.
#
#   bash scripts/bench_pg_tls.sh                     # 200 tasks x 500 lines, 3 rounds
#   TASKS=1000 LINES=1000 ROUNDS=3 bash scripts/bench_pg_tls.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TASKS=${TASKS:-200}
LINES=${LINES:-500}
ROUNDS=${ROUNDS:-3}
# CARGO="flock -o /tmp/cargo.lock cargo" on a shared machine.
${CARGO:-cargo} build --release -q -p tasklog -p tasklog-bench --bin tasklog --bin bench_corpus
work=$(mktemp -d /tmp/tasklog-bench-pgtls.XXXXXX)
base=
cleanup() {
    [ -n "$base" ] && bash scripts/pg_cluster.sh stop "$base"
    rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/tls"
(
    cd "$work/tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
        -keyout ca.key -out ca.crt -subj /CN=tasklog-bench-CA 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null
    printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 \
        -extfile ext -out server.crt 2>/dev/null
)
read -r url base < <(bash scripts/pg_cluster.sh start --durable --tls "$work/tls")
port=${url##*:}
port=${port%%/*}
psql=$(ls /usr/lib/postgresql/*/bin/psql | sort -V | tail -1)
target/release/bench_corpus --out "$work/tasks" --tasks "$TASKS" --lines "$LINES"
records=$((TASKS * LINES))
echo "== machine: $(nproc) cores, $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$ROUNDS"); do
    for mode in disable verify-full; do
        db="tls_${mode//-/_}_$round"
        "$psql" -q -h "$base" -p "$port" -U tasklog -d postgres -c "CREATE DATABASE $db"
        sink="postgres://tasklog:tasklog@localhost:$port/$db?sslmode=$mode"
        [ "$mode" = verify-full ] && sink="$sink&sslrootcert=$work/tls/ca.crt"
        start=$(date +%s.%N)
        target/release/tasklog --root "$work/tasks" --host-id bench index --sink "$sink" >/dev/null
        end=$(date +%s.%N)
        awk -v m="$mode" -v r="$round" -v s="$start" -v e="$end" -v n="$records" \
            'BEGIN { printf "round %d  sslmode=%-12s %7.2f s  %9.0f records/s\n", r, m, e - s, n / (e - s) }'
    done
done
