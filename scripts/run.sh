#!/usr/bin/env bash
# The main job on embedded defaults: the CPU-scale CGPO experiment (`trainer experiment`).
# Builds judge-server and trainer (release), fetches and verifies the CPython WASI runtime for the
# code judge, then: a synthetic multi-task dataset, SFT of a small policy from scratch, a biased
# Bradley-Terry reward model, and from the same start the reward-only baseline, CRPG, CRRAFT and
# CODPO, judged by the real judge server (started on 127.0.0.1 with SQLite). The report lands in
# ./experiment-report/ (report.md, plots/, runs/*/metrics.jsonl, experiment.json) and its table
# is printed at the end. One seed of the full preset (300 training and 100 held-out prompts per
# task, 3000 SFT steps, evaluation every 4 steps) took 14.2 min after the build on the 2-core
# reference machine (2026-12-05; SFT alone about 11 min, then two RL runs at once; one at a time,
# commit 9481c41, 17.4 min; the release build itself 12 to 20 min cold); `--seeds 5` took 37.6
# minutes at 9481c41 with one RL run at a time and another experiment on the second core.
#
#   scripts/run.sh                 # one seed per method
#   scripts/run.sh --seeds 5       # means with 95 % intervals and significance tables
#   scripts/run.sh --quick         # 17 s after the build, tiny settings (a pipeline check)
# Any argument goes to `trainer experiment` (see `trainer experiment --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

sandboxes/python/fetch.sh   # the CPython WASI runtime for the code judge (verified; cached)
cargo build --release --locked -p judge-server -p moj-trainer
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
exec "$target_dir/release/trainer" experiment --out "${MOJ_EXPERIMENT_OUT:-experiment-report}" "$@"
