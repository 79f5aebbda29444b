#!/usr/bin/env bash
# Prints the path of a virtual environment holding the pinned RL frameworks the Python adapters
# are tested inside (clients/python/tests/frameworks/requirements.txt: TRL, veRL, OpenRLHF,
# torch, transformers), creating it on first use. It is cached outside the clone, keyed by the
# requirements file's hash, so a changed pin builds a new one; torch's wheel is ~3 GB with its
# CUDA libraries (pip's own cache keeps the download).
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=clients/python/tests/frameworks/requirements.txt
key=$(sha256sum "$requirements" | cut -c1-12)
venv="${MOJ_FRAMEWORKS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/moj/venv-frameworks-$key}"
if [ ! -f "$venv/.complete" ]; then
  echo "creating the RL frameworks' virtual environment in $venv (first time: ~3 GB) ..." >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  # Exactly the listed versions, nothing resolved: veRL and OpenRLHF declare GPU-only
  # dependencies that cannot be installed here and are not on their reward paths.
  "$venv/bin/pip" install --quiet --no-deps -r "$requirements" >&2
  "$venv/bin/python" - >&2 <<'PY'
# The modules the tests drive, imported once so a missing one fails here with its name.
import trl.trainer.grpo_trainer
import verl.experimental.reward_loop.reward_loop
import verl.utils.reward_score.sandbox_fusion
import openrlhf.utils.agent
PY
  touch "$venv/.complete"
fi
echo "$venv"
