#!/usr/bin/env bash
# The whole test suite from a clean checkout: creates .venv, builds the native library
# into it, makes sure a PostgreSQL server answers, runs cargo's unit tests and pytest.
# pytest runs twice: once as configured (replay cache on), and the end-to-end suite again
# with the replay cache off (DUROXIDE_REPLAY_CACHE=0), which must give the same results.
# Extra arguments go to both pytest runs (e.g. scripts/test.sh -k race -x).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# shellcheck disable=SC1091
source .venv/bin/activate
python -m pip install --quiet --disable-pip-version-check "maturin>=1.9,<2.0" "pytest>=8" "hypothesis>=6" \
    "fastapi>=0.100" "uvicorn>=0.20" \
    "starlette>=0.37" "jinja2>=3.1" "playwright>=1.40" \
    "pydantic>=2" \
    "mypy==2.4.1" "pyright==1.1.414" \
    "opentelemetry-sdk>=1.20" "prometheus_client>=0.20"
# (examples/async_service, the dashboard, typed payloads, tests/test_typing.py, observability)

# A stale generated module from an older build breaks the package build.
rm -rf python/duroxide/_ffi
maturin develop --quiet

DATABASE_URL="$(scripts/ensure_postgres.sh)"
export DATABASE_URL
# The dashboard's tests drive a real headless browser (Playwright on Debian's chromium).
CHROMIUM="$(scripts/ensure_chromium.sh)"
export CHROMIUM
# tests/test_kotlin.py compiles and runs the Kotlin bindings (JNA + the npm kotlin-compiler,
# cached outside the repository). Under CI they must be had; elsewhere the test says why it skips.
if KOTLIN_HOME="$(scripts/ensure_kotlin.sh)"; then
    export KOTLIN_HOME
elif [ "${CI:-}" = true ]; then
    exit 1
fi

cargo test --quiet --lib
python -m pytest "$@"
echo "== the end-to-end suite again, replay cache off" >&2
DUROXIDE_REPLAY_CACHE=0 python -m pytest --ignore=tests/reliability --ignore=tests/fuzz "$@"
