#!/usr/bin/env bash
# After a whole test run: no API key, admin key or LLM backend key that the tests use appears in
# any judge-server log the run produced. The keys are the literal values the test sources assign
# to key constants and key variables (12 characters or more); the logs are the ones
# tests/common/mod.rs and clients/python/tests/conftest.py copy into MOJ_TEST_LOG_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: check-logs-for-keys.sh LOG_DIR}

mapfile -t keys < <(
  grep -rhoE '(KEY[A-Z_]*: &str = |KEY[A-Z_]* = |MOJ_(API|ADMIN)_KEYS", )"[^"]{12,}"' tests clients/python/tests |
    sed -E 's/.*"([^"]+)"$/\1/' | sort -u
)
logs=("$dir"/*.log)
if [ ${#keys[@]} -lt 3 ]; then
  echo "error: found only ${#keys[@]} test keys in the test sources; the pattern is out of date" >&2
  exit 1
fi
if [ ! -e "${logs[0]}" ] || [ ${#logs[@]} -lt 20 ]; then
  echo "error: only ${#logs[@]} server logs were collected in $dir; expected one per test server" >&2
  exit 1
fi
leaks=0
for key in "${keys[@]}"; do
  if grep -lF -- "$key" "${logs[@]}" >/dev/null 2>&1; then
    echo "error: a test key appears in these server logs:" >&2
    grep -lF -- "$key" "${logs[@]}" >&2
    leaks=1
  fi
done
[ "$leaks" = 0 ] || exit 1
echo "no key in ${#logs[@]} server logs (${#keys[@]} keys checked)"
