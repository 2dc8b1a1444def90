#!/usr/bin/env bash
# The writers' benchmark (docs/PERFORMANCE.md, "Python and Node writers"):
# builds the Rust side and, unless already built, the Python and Node
# packages (scripts/test_bindings.sh), then runs scripts/bench_writers.py.
#
#   bash scripts/bench_writers.sh [--records 20000] [--rounds 5]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p tasklog-bench --bin bench_writers
if [ ! -s target/bindings/env ] || ! grep -q TASKLOG_TEST_NODE_MODULE target/bindings/env \
    || ! grep -q TASKLOG_TEST_PYTHON target/bindings/env; then
    bash scripts/test_bindings.sh target/bindings
fi
# shellcheck disable=SC1091
. target/bindings/env
echo "$(nproc) cores, $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ)"
"$TASKLOG_TEST_PYTHON" scripts/bench_writers.py --node-module "$TASKLOG_TEST_NODE_MODULE" \
    --rust target/release/bench_writers "$@"
