#!/usr/bin/env bash
# The JavaScript harness benchmark (docs/benchmarks.md): 64 JavaScript unit-test items (cache off)
# against target/release/judge-server (build it first: cargo build --release -p judge-server).
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > $dir/moj.toml <<'TOML'
[judges.code_js]
kind = "code"
config = { language = "javascript" }
TOML
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
MOJ_LISTEN=127.0.0.1:$port MOJ_DATA_DIR=$dir/data DATABASE_URL="sqlite://$dir/db?mode=rwc" "$target_dir/release/judge-server" --config $dir/moj.toml serve > $dir/log 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.2; done
python3 - $port <<'PY'
import json, sys, time, urllib.request
port = sys.argv[1]
items = [{"id": i, "response": f"function add(a, b) {{ return a + b + {i} - {i}; }}", "metadata": {"unit_tests": ["assert(add(2, 3) === 5)", "assert.deepStrictEqual([add(1, 1)], [2])"]}} for i in range(64)]
def post(batch):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/judge", data=json.dumps({"judges": ["code_js"], "items": batch, "cache": False}).encode(), headers={"content-type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=300))
post(items[:4])
for rep in range(3):
    t = time.perf_counter(); r = post(items); dt = time.perf_counter() - t
    assert all(x["verdict"] == "pass" for x in r["results"]), r["results"][0]
    micros = sorted(j["micros"] for x in r["results"] for j in x["judges"])
    print(f"64 items in {dt:.2f} s = {64/dt:.1f} items/s; median judge time {micros[32]/1000:.1f} ms")
PY
kill $pid
