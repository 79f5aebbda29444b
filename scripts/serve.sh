#!/usr/bin/env bash
# The judge server on its own, on embedded defaults: builds it, starts it on SQLite
# (./moj-data/moj.sqlite3) on 127.0.0.1:8080 with the ready-made judges and tasks of
# examples/moj.toml, scores a demo batch, prints the verdicts, and keeps serving until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

sandboxes/python/fetch.sh   # the CPython WASI runtime for the code judge (verified; cached)
sandboxes/js/fetch.sh       # the QuickJS WASI runtime for JavaScript code items (verified; cached)
cargo build --release --locked -p judge-server
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target_dir/release/judge-server"
export MOJ_CONFIG="${MOJ_CONFIG:-examples/moj.toml}"
export MOJ_LISTEN="${MOJ_LISTEN:-127.0.0.1:8080}"
export MOJ_DATA_DIR="${MOJ_DATA_DIR:-moj-data}"

"$bin" check-config >/dev/null
"$bin" serve &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null' EXIT INT TERM

base="http://$MOJ_LISTEN"
for _ in $(seq 1 1800); do   # the first start compiles CPython for WASI (cached afterwards)
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || { echo "judge-server exited; see the log above" >&2; exit 1; }
  sleep 0.1
done
curl -fsS "$base/readyz" >/dev/null

show() {
  python3 -c '
import json, sys
answer = json.load(sys.stdin)
for result in answer["results"]:
    judges = ", ".join("%s=%s" % (j["name"], j["verdict"]) for j in result["judges"])
    print("  %-10s %-5s (%s)" % (result["id"], result["verdict"], judges))
s = answer["stats"]
print("  stats: %d items, pass %d, fail %d, error %d, cache hits %d, misses %d, %d us"
      % (s["items"], s["pass"], s["fail"], s["error"], s["cache_hits"], s["cache_misses"], s["micros"]))
'
}
for demo in math code; do
  file=examples/demo-batch.json
  [ "$demo" = code ] && file=examples/demo-code-batch.json
  echo
  echo "== Demo batch: POST $base/v1/judge with task \"$demo\" ($file) =="
  curl -fsS "$base/v1/judge" -H 'content-type: application/json' -d @"$file" | show
done
echo
echo "judge-server is serving on $base (API: $base/openapi.json, metrics: $base/metrics). Ctrl-C stops it."
wait $server
