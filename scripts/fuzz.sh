#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ (libFuzzer + AddressSanitizer, nightly toolchain) for a
# bounded time each: the math answer checker, the IFEval checks, the code judge's extraction and
# stdout comparison. A crash, a failed assertion or an input slower than the per-input limit
# fails the script and leaves the reproducer under fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh                 # every target, MOJ_FUZZ_SECONDS (default 60) each
#   scripts/fuzz.sh math ifeval     # some targets
#
# cargo-fuzz is installed once per machine into the cache (outside the clone); the nightly
# toolchain must be installed (`rustup toolchain install nightly`): it is not fetched here.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${MOJ_FUZZ_SECONDS:-60}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/moj"
cargo_fuzz_version=0.13.2
cargo_fuzz_root="$cache/cargo-fuzz-$cargo_fuzz_version"

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "error: the fuzz targets need a nightly toolchain (rustup toolchain install nightly)" >&2
  exit 1
fi
nightly=$(rustup run nightly rustc --version | tr -c 'A-Za-z0-9.\n' '-')

if [ ! -x "$cargo_fuzz_root/bin/cargo-fuzz" ]; then
  echo "installing cargo-fuzz $cargo_fuzz_version into $cargo_fuzz_root..."
  cargo install --quiet --locked cargo-fuzz --version "$cargo_fuzz_version" --root "$cargo_fuzz_root"
fi
cargo_fuzz="$cargo_fuzz_root/bin/cargo-fuzz"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(math ifeval code)
fi

# Build outputs are kept outside the clone, keyed by the nightly version.
target_dir="${MOJ_CI_CACHE:-$HOME/.cache/moj-ci}/fuzz-target-$nightly"
for target in "${targets[@]}"; do
  # New inputs go to a scratch corpus; the committed seeds are read only.
  corpus=$(mktemp -d)
  log=$(mktemp)
  echo "== fuzz $target for ${seconds}s"
  # libFuzzer reports every new input; keep that in a log and show it only when a run fails.
  if ! rustup run nightly "$cargo_fuzz" run --fuzz-dir fuzz --target-dir "$target_dir" "$target" \
    "$corpus" "fuzz/seeds/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
    >"$log" 2>&1; then
    tail -n 150 "$log"
    echo "error: fuzz target $target failed; the reproducer is under fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E '^(Done|stat::)' "$log" || true
  rm -rf "$corpus" "$log"
done
echo "fuzzing: no crash in ${targets[*]} (${seconds}s each)"
