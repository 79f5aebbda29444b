#!/usr/bin/env python3
"""Time Hugging Face math-verify on the shared conformance pairs, the same inputs the Rust
benchmark (benches/math.rs) uses: verify(parse("$" + gold + "$"), parse(response)) per pair.

    pip install "math-verify[antlr4_13_2]"
    python3 rules/math/scripts/bench_reference.py [PAIRS_JSONL]

Prints one machine-readable line: `reference verdicts_per_sec=<float> pairs=<n> seconds=<float>`.
"""
import json
import os
import sys
import time

from math_verify import parse, verify


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "..", "..", "..", "shared", "conformance", "math", "pairs.jsonl")
    path = sys.argv[1] if len(sys.argv) > 1 else default
    with open(path) as f:
        pairs = [json.loads(line) for line in f if line.strip()]
    # Warm-up (imports, grammar caches) outside the timed loop.
    for p in pairs[:20]:
        verify(parse("$" + p["gold"] + "$"), parse(p["response"]))
    start = time.perf_counter()
    for p in pairs:
        verify(parse("$" + p["gold"] + "$"), parse(p["response"]))
    seconds = time.perf_counter() - start
    print(f"reference verdicts_per_sec={len(pairs) / seconds:.1f} pairs={len(pairs)} seconds={seconds:.3f}")


if __name__ == "__main__":
    main()
