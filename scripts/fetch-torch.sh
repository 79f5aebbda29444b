#!/usr/bin/env bash
# PyTorch (CPU use only) in a venv outside the clone, for the trainer benchmark's PyTorch eager
# reference (trainer/benches/torch_reference.py). Not part of the tests: PyPI's Linux wheel
# pulls the CUDA libraries too (~3 GB). Prints the venv's python.
#
#   scripts/fetch-torch.sh && cargo bench -p moj-trainer --bench model
set -euo pipefail
version=2.5.1
venv="${XDG_CACHE_HOME:-$HOME/.cache}/moj/venv-torch"
if ! "$venv/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$version')" 2>/dev/null; then
  echo "installing torch==$version into $venv (about 3 GB with its CUDA dependencies)..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "torch==$version" >&2
fi
echo "$venv/bin/python"
