#!/usr/bin/env bash
# Builds the Python and Node writers (docs/WRITERS.md) the way users
# install them -- `pip install ./crates/tasklog-py` into a fresh virtualenv,
# `npm install ./crates/tasklog-node` into a fresh folder -- and runs their
# own test suites (pytest, node --test). Writes OUT/env, which sets
# TASKLOG_TEST_PYTHON and TASKLOG_TEST_NODE_MODULE for the interop
# scenarios of tests/writers_interop.rs. Called by scripts/test.sh.
#
# Without python3's venv or node/npm it prints one `skipped:` line per
# package and succeeds; under CI=true a missing tool is a failure
# (scripts/install_test_deps.sh installs them).
#
# Usage: scripts/test_bindings.sh [OUT]   (default target/bindings)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
out="${1:-target/bindings}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
: > "$out/env"
# Share compiled dependencies with the workspace's release builds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"

missing() {
    if [ "${CI:-}" = true ]; then
        echo "test_bindings: $2 is missing, which CI=true requires (scripts/install_test_deps.sh)" >&2
        exit 1
    fi
    echo "skipped: $1: $2 is missing (scripts/install_test_deps.sh installs it)" >&2
}

if python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    echo "test_bindings: pip install ./crates/tasklog-py into $out/venv" >&2
    rm -rf "$out/venv"
    python3 -m venv "$out/venv"
    "$out/venv/bin/python" -m pip install -q --disable-pip-version-check pytest
    "$out/venv/bin/python" -m pip install -q --disable-pip-version-check "$repo/crates/tasklog-py"
    # From outside the checkout, so the installed package is what is imported.
    (cd "$out" && "$out/venv/bin/python" -m pytest -q -p no:cacheprovider "$repo/crates/tasklog-py/tests")
    echo "export TASKLOG_TEST_PYTHON='$out/venv/bin/python'" >> "$out/env"
else
    missing "pytest crates/tasklog-py" "python3 with venv and ensurepip"
fi

if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    echo "test_bindings: npm install ./crates/tasklog-node into $out/npm" >&2
    rm -rf "$out/npm"
    mkdir -p "$out/npm"
    (
        cd "$out/npm"
        npm init -y >/dev/null
        npm install --no-audit --no-fund --loglevel=error "$repo/crates/tasklog-node" >&2
        # The installed package loads, as CommonJS and as ESM.
        node -e "const { Writer } = require('tasklog'); if (typeof Writer !== 'function') process.exit(1)"
        node --input-type=module -e "import { Writer } from 'tasklog'; if (typeof Writer !== 'function') process.exit(1)"
    )
    node --test "$repo"/crates/tasklog-node/test/*.test.js
    echo "export TASKLOG_TEST_NODE_MODULE='$out/npm/node_modules/tasklog'" >> "$out/env"
else
    missing "node --test crates/tasklog-node" "node and npm"
fi
