#!/usr/bin/env bash
# The AsyncJudgeClient benchmark (docs/benchmarks.md): per-sample calls sent one request each vs
# micro-batched, 4,096 calls from 256 concurrent callers, against the release judge-server on
# loopback (SQLite in a temporary folder, cache bypassed). Uses the test virtual environment of
# scripts/test-python.sh (run that first) with the package installed from the source tree.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p judge-server
venv="${MOJ_PY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/moj/venv-tests-3}"
dir=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
cat > "$dir/moj.toml" <<'TOML'
[judges.mentions_paris]
kind = "regex"
config = { must_match = ["Paris"] }
TOML
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
MOJ_LISTEN="127.0.0.1:$port" MOJ_DATA_DIR="$dir/data" DATABASE_URL="sqlite://$dir/moj.sqlite3?mode=rwc" \
  MOJ_LIMITS_MAX_CONCURRENT_BATCHES=1024 MOJ_LIMITS_MAX_QUEUED_BATCHES=4096 \
  "$target_dir/release/judge-server" --config "$dir/moj.toml" serve > "$dir/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.1
done
echo "judge-server $(git rev-parse --short HEAD) on 127.0.0.1:$port; $(nproc) cores"
PYTHONPATH="$PWD/clients/python" "$venv/bin/python" clients/python/bench/bench_async.py \
  --url "http://127.0.0.1:$port" "$@"
