#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests and benchmarks (issue 13).
#
#   pg_cluster.sh start [--durable] [--tls DIR [--hostssl-only]]
#                                    prints "URL DATA_DIR" of a new cluster:
#                                    initdb in a temporary folder, pg_ctl on a
#                                    free loopback port, password auth for TCP
#                                    (user tasklog, password tasklog).
#                                    --tls: ssl=on with DIR/server.crt and
#                                    DIR/server.key (issue 21);
#                                    --hostssl-only: TCP clients must use TLS
#   pg_cluster.sh stop DATA_DIR      stops it and removes the folder
#   pg_cluster.sh pg_ctl DATA_DIR ARGS...   stop/start/restart it in place
#   pg_cluster.sh available          exit 0 when initdb and pg_ctl exist
#
# As root, the server runs as the unprivileged user `nobody` (PostgreSQL
# refuses to run as root). Without --durable, fsync is off: test clusters
# are thrown away, and durability of the server is not what they test.
set -euo pipefail

find_bin() {
    local name=$1 dir
    if command -v "$name" >/dev/null 2>&1; then
        command -v "$name"
        return
    fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/$name" ]; then
            echo "$dir/$name"
            return
        fi
    done
    return 1
}

as_server_user() {
    if [ "$(id -u)" = 0 ]; then
        setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cmd=${1:-}
case "$cmd" in
available)
    find_bin initdb >/dev/null && find_bin pg_ctl >/dev/null
    ;;
start)
    initdb=$(find_bin initdb) || { echo "pg_cluster: initdb not found (install Debian's postgresql)" >&2; exit 3; }
    pg_ctl=$(find_bin pg_ctl)
    fsync=off
    tls=
    hostssl_only=
    shift
    while [ $# -gt 0 ]; do
        case "$1" in
        --durable) fsync=on ;;
        --tls) tls=${2:?--tls needs a folder holding server.crt and server.key}; shift ;;
        --hostssl-only) hostssl_only=1 ;;
        *) echo "pg_cluster: unknown option $1" >&2; exit 2 ;;
        esac
        shift
    done
    base=$(mktemp -d /tmp/tasklog-pg.XXXXXX)
    chmod 755 "$base"
    [ "$(id -u)" = 0 ] && chown nobody:nogroup "$base"
    echo tasklog > "$base/pwfile"
    as_server_user "$initdb" -D "$base/data" -U tasklog --pwfile="$base/pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C >"$base/initdb.log" 2>&1 \
        || { cat "$base/initdb.log" >&2; exit 1; }
    port=$(free_port)
    cat >> "$base/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$base'
fsync = $fsync
max_connections = 200
CONF
    if [ -n "$tls" ]; then
        # The server refuses a key others can read; it runs as `nobody`.
        install -m 600 "$tls/server.crt" "$base/data/server.crt"
        install -m 600 "$tls/server.key" "$base/data/server.key"
        [ "$(id -u)" = 0 ] && chown nobody:nogroup "$base/data/server.crt" "$base/data/server.key"
        cat >> "$base/data/postgresql.conf" <<CONF
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
CONF
        if [ -n "$hostssl_only" ]; then
            sed -i 's/^host\([[:space:]]\)/hostssl\1/' "$base/data/pg_hba.conf"
        fi
    fi
    as_server_user "$pg_ctl" -D "$base/data" -l "$base/server.log" -w -t 60 start >/dev/null \
        || { cat "$base/server.log" >&2; exit 1; }
    echo "postgres://tasklog:tasklog@127.0.0.1:$port/postgres?sslmode=disable $base"
    ;;
stop)
    base=${2:?data dir}
    pg_ctl=$(find_bin pg_ctl)
    as_server_user "$pg_ctl" -D "$base/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$base"
    ;;
pg_ctl)
    base=${2:?data dir}
    shift 2
    pg_ctl=$(find_bin pg_ctl)
    as_server_user "$pg_ctl" -D "$base/data" -l "$base/server.log" -w -t 60 "$@" >/dev/null
    ;;
*)
    echo "usage: pg_cluster.sh start [--durable] | stop DIR | pg_ctl DIR ARGS... | available" >&2
    exit 2
    ;;
esac
