#!/usr/bin/env bash
# Installs what the browser tests of tests/serve_scenarios.rs need: Debian's
# headless Chromium and its WebDriver (chromedriver). Does nothing when both
# are already there. Called by .ci/run before the tests; safe to run by hand
# (as root, or with sudo available).
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    echo "install_test_deps: chromium and chromedriver present" >&2
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_test_deps: no apt-get; install chromium and chromedriver yourself (the browser test skips without them)" >&2
    exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi
echo "install_test_deps: installing chromium and chromium-driver" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
command -v chromium >/dev/null && command -v chromedriver >/dev/null
echo "install_test_deps: $(chromium --version 2>/dev/null || echo chromium), $(chromedriver --version 2>/dev/null | cut -d' ' -f1-2)" >&2
