#!/usr/bin/env bash
# The Python side of the tests (scripts/test.sh runs it after `cargo test`, which builds the
# debug judge-server and trainer binaries these tests start): the moj-client package and its
# TRL / veRL / OpenRLHF adapters against the real judge server, and the static checks of the
# docker-compose stack, and Schemathesis against the server's /openapi.json. pytest, requests,
# PyYAML and schemathesis live in a virtual environment cached outside the clone.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${MOJ_PY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/moj/venv-tests-2}"
if [ ! -x "$venv/bin/pytest" ]; then
  echo "creating the test virtual environment in $venv ..."
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "pytest==9.2.0" "requests==2.34.2" "PyYAML==6.0.4" \
    "schemathesis==4.32.5"
fi
PYTHONPATH="$PWD/clients/python${PYTHONPATH:+:$PYTHONPATH}" \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider clients/python/tests deploy/tests "$@"
