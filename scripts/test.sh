#!/usr/bin/env bash
# The test command from README.md: every test of every crate, including the
# scenario tests that run the real binary against real files.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked "$@"
