#!/usr/bin/env bash
# Installs what the tests need beyond cargo: Debian's headless Chromium and
# its WebDriver (chromedriver) for the browser tests of
# tests/serve_scenarios.rs, and Debian's PostgreSQL server for the
# PostgreSQL tests (tests/pg_*.rs), and python3's venv, Node.js and npm for
# the Python and Node writers (scripts/test_bindings.sh, which installs
# maturin and pytest from PyPI into its own virtualenv). Does nothing when
# all are there. Called
# by .ci/run before the tests; safe to run by hand (as root, or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
if ! { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }; then
    packages+=(chromium chromium-driver)
fi
if ! bash scripts/pg_cluster.sh available; then
    packages+=(postgresql)
fi
# nginx in front of `tasklog serve` (tests/proxy.rs).
if ! [ -x /usr/sbin/nginx ]; then
    packages+=(nginx)
fi
# PgBouncer in front of the test cluster (tests/pg_production.rs).
if ! [ -x /usr/sbin/pgbouncer ]; then
    packages+=(pgbouncer)
fi
# systemd-analyze checks config/tasklog.service (tests/operations.rs).
if ! command -v systemd-analyze >/dev/null 2>&1; then
    packages+=(systemd)
fi
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    packages+=(python3-venv)
fi
if ! { command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; }; then
    packages+=(nodejs npm)
fi
if [ ${#packages[@]} -eq 0 ]; then
    echo "install_test_deps: chromium, chromedriver, PostgreSQL, nginx, systemd, python3-venv, node and npm present" >&2
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_test_deps: no apt-get; install ${packages[*]} yourself (their tests skip without them)" >&2
    exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi
echo "install_test_deps: installing ${packages[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
command -v chromium >/dev/null && command -v chromedriver >/dev/null
bash scripts/pg_cluster.sh available
echo "install_test_deps: $(chromium --version 2>/dev/null || echo chromium), $(chromedriver --version 2>/dev/null | cut -d' ' -f1-2), PostgreSQL $(ls /usr/lib/postgresql 2>/dev/null | tr '\n' ' ')" >&2
