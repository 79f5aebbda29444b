"""AsyncJudgeClient against the real server: micro-batching of per-sample calls, refusals that
fail only their own caller, retries."""

from __future__ import annotations

import asyncio

import pytest

from conftest import API_KEY
from moj_client import AsyncJudgeClient, JudgeError


def test_concurrent_single_items_go_out_as_few_requests(server):
    async def main():
        async with AsyncJudgeClient(base_url=server, api_key=API_KEY, batch_window=0.02) as client:
            items = [{"prompt": "Capital?", "response": "Paris" if i % 3 else "Lyon", "id": f"s{i}"} for i in range(64)]
            results = await asyncio.gather(*(client.judge_one(item, judges=["mentions_paris"]) for item in items))
            return client.requests_sent, results

    sent, results = asyncio.run(main())
    assert [r["id"] for r in results] == [f"s{i}" for i in range(64)]
    assert [r["verdict"] for r in results] == ["pass" if i % 3 else "fail" for i in range(64)]
    assert sent <= 2, f"{sent} requests for 64 items within one window"


def test_a_refused_item_fails_only_its_own_caller(server):
    async def main():
        async with AsyncJudgeClient(base_url=server, api_key=API_KEY, batch_window=0.02) as client:
            good = [
                client.judge_one({"prompt": "2+3?", "response": "The final answer is 5", "metadata": {"answer": "5"}}, task="math")
                for _ in range(5)
            ]
            bad = client.judge_one({"prompt": "2+3?", "response": "The final answer is 5"}, task="math")
            return await asyncio.gather(*good, bad, return_exceptions=True)

    *good, bad = asyncio.run(main())
    assert all(r["verdict"] == "pass" for r in good)
    assert isinstance(bad, JudgeError)
    assert bad.status == 422
    assert bad.body["error"]["field"].startswith("item.metadata.answer")


def test_whole_batches_are_split_and_kept_in_order(server):
    async def main():
        async with AsyncJudgeClient(base_url=server, api_key=API_KEY, max_batch=4) as client:
            items = [{"prompt": "p", "response": "Paris" if i % 2 else "no"} for i in range(10)]
            return client.requests_sent, await client.judge(items, judges=["mentions_paris"])

    _, results = asyncio.run(main())
    assert [r["verdict"] for r in results] == ["pass" if i % 2 else "fail" for i in range(10)]


def test_unreachable_server_raises_after_retries():
    async def main():
        client = AsyncJudgeClient(base_url="http://127.0.0.1:9", retries=2, backoff=0.01)
        try:
            await client.judge_one({"prompt": "p", "response": "r"}, judges=["x"])
        finally:
            await client.aclose()

    with pytest.raises(JudgeError, match="failed after 3 attempts"):
        asyncio.run(main())


def test_one_client_serves_several_event_loops(server):
    client = AsyncJudgeClient(base_url=server, api_key=API_KEY)

    async def once():
        result = await client.judge_one({"prompt": "p", "response": "Paris"}, judges=["mentions_paris"])
        await client.aclose()
        return result["verdict"]

    assert asyncio.run(once()) == "pass"
    assert asyncio.run(once()) == "pass"


def test_sessions_left_open_are_closed_at_exit(server):
    """veRL and TRL never close a reward function's client: the interpreter must still exit
    without aiohttp's unclosed-session warnings (its loop stays alive, as veRL's worker does)."""
    import subprocess
    import sys

    script = (
        "import asyncio\n"
        "from moj_client import AsyncJudgeClient\n"
        f"client = AsyncJudgeClient(base_url={server!r}, api_key={API_KEY!r})\n"
        "loop = asyncio.new_event_loop()\n"
        "result = loop.run_until_complete(client.judge_one({'prompt': 'p', 'response': 'Paris'}, judges=['mentions_paris']))\n"
        "print(result['verdict'])\n"
    )
    done = subprocess.run([sys.executable, "-W", "error::ResourceWarning", "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "pass", done.stderr
    assert "Unclosed" not in done.stderr, done.stderr
