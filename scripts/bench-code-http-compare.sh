#!/usr/bin/env bash
# HumanEval-sized items/s through POST /v1/judge (`MOJ_BENCH_ONLY=http cargo bench -p
# judge-server --bench sandbox`), three runs for an older commit and three for the working tree,
# same machine, same hour: the before/after figures of docs/benchmarks.md.
# Usage: scripts/bench-code-http-compare.sh OLD_COMMIT
# The old commit is checked out in a temporary worktree sharing this tree's target folder (so
# only the workspace's own crates are rebuilt); the sources of each tree are touched before
# its build, since cargo would otherwise reuse the other tree's artifacts for path crates.
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?usage: $0 OLD_COMMIT}
root=$(pwd)
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
worktree=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$worktree" >/dev/null 2>&1 || true' EXIT
git worktree add --detach "$worktree" "$old" >/dev/null

measure() { # folder label
  (
    cd "$1"
    find . -path ./target -prune -o -name '*.rs' -print0 | xargs -0 touch
    CARGO_TARGET_DIR="$target" cargo bench -p judge-server --bench sandbox --no-run >/dev/null 2>&1
    for _ in 1 2 3; do
      figure=$(MOJ_BENCH_ONLY=http CARGO_TARGET_DIR="$target" cargo bench -p judge-server --bench sandbox 2>&1 | grep 'HTTP:')
      echo "$2: $figure"
    done
  )
}
measure "$worktree" "$(git rev-parse --short "$old") (before)"
measure "$root" "working tree (after)"
