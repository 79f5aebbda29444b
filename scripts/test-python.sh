#!/usr/bin/env bash
# The Python side of the tests (scripts/test.sh runs it after `cargo test`, which builds the
# debug judge-server and trainer binaries these tests start): the moj-client package and its
# TRL / veRL / OpenRLHF adapters against the real judge server, and the static checks of the
# docker-compose stack. pytest, requests and PyYAML live in a virtual environment cached
# outside the clone.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${MOJ_PY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/moj/venv-tests-1}"
if [ ! -x "$venv/bin/pytest" ]; then
  echo "creating the test virtual environment in $venv ..."
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "pytest==8.3.4" "requests==2.32.3" "PyYAML==6.0.2"
fi
PYTHONPATH="$PWD/clients/python${PYTHONPATH:+:$PYTHONPATH}" \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider clients/python/tests deploy/tests "$@"
