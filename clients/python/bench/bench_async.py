"""AsyncJudgeClient: per-sample calls sent one request each vs micro-batched, against a running
judge server (scripts/bench-python-client.sh starts a release build and runs this).

4,096 calls from 256 concurrent callers (each awaits its 16 calls one after another, as veRL's
and OpenRLHF's per-sample reward coroutines do). Prints items/s and latency percentiles per
mode as one JSON line each."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

from moj_client import AsyncJudgeClient


async def run_mode(url: str, key: str, mode: str, callers: int, calls: int, judges: list) -> dict:
    client = AsyncJudgeClient(base_url=url, api_key=key, max_connections=callers, batch_window=0.005, max_batch=512)
    latencies = []

    async def caller(index: int) -> None:
        for j in range(calls):
            item = {"prompt": "Capital of France?", "response": f"Paris, answer {index}-{j}"}
            started = time.perf_counter()
            if mode == "per_item":
                await client.judge([item], judges=judges, cache=False)
            else:
                await client.judge_one(item, judges=judges, cache=False)
            latencies.append(time.perf_counter() - started)

    # Warm the connection pool and the server.
    await client.judge([{"prompt": "p", "response": "Paris"}], judges=judges, cache=False)
    sent_before = client.requests_sent
    started = time.perf_counter()
    await asyncio.gather(*(caller(i) for i in range(callers)))
    wall = time.perf_counter() - started
    await client.aclose()
    latencies.sort()
    n = len(latencies)
    return {
        "mode": mode,
        "items": n,
        "requests": client.requests_sent - sent_before,
        "items_per_s": round(n / wall, 1),
        "p50_ms": round(1000 * statistics.median(latencies), 2),
        "p99_ms": round(1000 * latencies[int(0.99 * (n - 1))], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", default="")
    parser.add_argument("--callers", type=int, default=256)
    parser.add_argument("--calls", type=int, default=16)
    parser.add_argument("--judges", default="mentions_paris")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    judges = args.judges.split(",")
    for _ in range(args.repeats):
        for mode in ("per_item", "micro_batched"):
            print(json.dumps(asyncio.run(run_mode(args.url, args.key, mode, args.callers, args.calls, judges))), flush=True)


if __name__ == "__main__":
    main()
