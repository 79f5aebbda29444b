#!/usr/bin/env python3
"""Times the Python IFEval reference on the conformance responses; prints verdicts/s.

A verdict is one item fully checked: every instruction, strict and loose (as the Rust bench
counts). Needs the reference (see reference.py); exits with status 3 if it cannot be imported.

Usage: python3 scripts/bench_reference.py [path/to/gpt4-responses.jsonl] [--rounds N]
"""
import argparse
import json
import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

DEFAULT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "../../../../shared/conformance/ifeval/gpt4-responses.jsonl",
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=DEFAULT)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    path, rounds = args.data, args.rounds
    try:
        import reference

        registry, _ = reference.load()
        import langdetect

        langdetect.DetectorFactory.seed = 0
        logging.disable(logging.CRITICAL)  # the reference logs every langdetect failure
    except ImportError as e:
        print(f"reference missing: {e}", file=sys.stderr)
        sys.exit(3)
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    # Warm-up (loads langdetect profiles and compiles regexes).
    for r in rows[:20]:
        reference.evaluate(registry, r["prompt"], r["response"], r["instruction_id_list"], r["kwargs"])
    start = time.perf_counter()
    for _ in range(rounds):
        for r in rows:
            reference.evaluate(registry, r["prompt"], r["response"], r["instruction_id_list"], r["kwargs"])
    elapsed = time.perf_counter() - start
    n = rounds * len(rows)
    print(f"python reference: {n} verdicts in {elapsed:.3f} s = {n / elapsed:.1f} verdicts/s")


if __name__ == "__main__":
    main()
