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
# The Python and Node writers: built as users install them, tested with
# pytest and node --test; the interop scenarios (tests/writers_interop.rs)
# then use these builds. A failure there fails the run after the cargo
# tests have run too.
bindings=0
bash scripts/test_bindings.sh target/bindings || bindings=$?
# shellcheck disable=SC1091
[ -f target/bindings/env ] && . target/bindings/env
status=0
cargo test --workspace --locked --no-fail-fast "$@" || status=$?
if [ "$bindings" != 0 ]; then
    echo "test.sh: the Python or Node writer tests failed (scripts/test_bindings.sh, above)" >&2
    exit "$bindings"
fi
exit "$status"
