#!/usr/bin/env bash
# The Python side of the tests (scripts/test.sh runs it after `cargo test`, which builds the
# debug judge-server binary these tests start):
# 1. the moj-client package is built as a wheel and installed from it (never from the source
#    tree) into two cached virtual environments outside the clone;
# 2. the client, the adapters, get_reward/run_code and moj-judge against the real judge server,
#    the docker-compose stack's static checks, and Schemathesis against /openapi.json;
# 3. the adapters inside the real frameworks (clients/python/tests/frameworks: TRL's
#    GRPOTrainer, veRL's reward loop and SandboxFusion client, OpenRLHF's agent executor),
#    pinned in clients/python/tests/frameworks/requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${MOJ_PY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/moj/venv-tests-3}"
if [ ! -x "$venv/bin/pytest" ]; then
  echo "creating the test virtual environment in $venv ..."
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "pytest==9.2.0" "requests==2.34.2" "PyYAML==6.0.4" \
    "schemathesis==4.32.5" "aiohttp==3.14.5" "setuptools==80.9.0" "wheel==0.45.1"
fi
frameworks=$(scripts/fetch-python-frameworks.sh)

wheels=$(mktemp -d)
trap 'rm -rf "$wheels"' EXIT
"$venv/bin/python" -m pip wheel --quiet --no-deps --no-build-isolation -w "$wheels" clients/python
wheel=$(ls "$wheels"/moj_client-*.whl)
echo "built $(basename "$wheel")"
for env in "$venv" "$frameworks"; do
  "$env/bin/python" -m pip install --quiet --no-deps --force-reinstall "$wheel"
  # The tests must import the installed wheel, not the source tree.
  (cd / && "$env/bin/python" -c 'import moj_client, sys; assert "site-packages" in moj_client.__file__, moj_client.__file__')
done
# The console script the wheel installs.
"$venv/bin/moj-judge" --help >/dev/null

"$venv/bin/python" -m pytest -q -p no:cacheprovider clients/python/tests deploy/tests \
  --ignore=clients/python/tests/frameworks "$@"
HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false RAY_DISABLE_IMPORT_WARNING=1 \
  "$frameworks/bin/python" -m pytest -q -p no:cacheprovider --confcutdir=clients/python/tests \
  --rootdir=clients/python/tests clients/python/tests/frameworks "$@"
