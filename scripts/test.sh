#!/usr/bin/env bash
# The test command from README.md: every test of every crate, including the
# scenario tests that run the real binary against real files.
#
# When PostgreSQL is installed, a throwaway cluster serves the PostgreSQL
# tests (TASKLOG_TEST_PG; tests that stop a server start their own) and is
# stopped afterwards. Without it those tests print one line saying they
# skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

if bash scripts/pg_cluster.sh available; then
    read -r url base < <(bash scripts/pg_cluster.sh start)
    trap 'bash scripts/pg_cluster.sh stop "$base"' EXIT
    export TASKLOG_TEST_PG="$url"
    echo "test.sh: PostgreSQL test cluster at ${url/tasklog:tasklog@/tasklog:***@}" >&2
else
    echo "test.sh: PostgreSQL not installed: its tests skip (scripts/install_test_deps.sh installs it)" >&2
fi
cargo test --workspace --locked --no-fail-fast "$@"
