#!/usr/bin/env bash
# The trainer's parity suites on a second Burn backend: wgpu, through Mesa's lavapipe (a software
# Vulkan driver, Debian package mesa-vulkan-drivers), so a machine without a GPU checks that the
# model is backend-agnostic, not only that it compiles: NumPy-reference logits, greedy decoding in
# a left-padded batch, export/reload, log-probs with gradients, and SmolLM2 against llama.cpp.
# Installs lavapipe if no Vulkan driver is present. ~10 minutes cold (wgpu builds once).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ls /usr/share/vulkan/icd.d/*.json >/dev/null 2>&1; then
  echo "no Vulkan driver; installing Mesa's (lavapipe, software)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq mesa-vulkan-drivers >/dev/null
fi

# SmolLM2 and llama-server for the llama.cpp comparison (cached; scripts/test.sh fetched them).
scripts/fetch-smollm2.sh
MOJ_LLAMA_CPP_BIN=$(scripts/fetch-llama-cpp.sh)
export MOJ_LLAMA_CPP_BIN
# Mesa's loader wants a runtime directory; a headless CI shell has none.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  XDG_RUNTIME_DIR=$(mktemp -d)
  export XDG_RUNTIME_DIR
  trap 'rm -rf "$XDG_RUNTIME_DIR"' EXIT
fi

MOJ_TEST_DEVICE=wgpu cargo test -p moj-trainer --locked --features wgpu --test parity --test smollm2 "$@"
