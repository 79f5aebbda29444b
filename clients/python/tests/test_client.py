"""The client and the three framework adapters against the real judge server."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from conftest import API_KEY
from moj_client import JudgeClient, JudgeError, item_reward
from moj_client import trl, verl

MATH_PROMPT = "What is 2 + 3? End with 'The final answer is X'."


def client(url, **kwargs):
    return JudgeClient(base_url=url, api_key=API_KEY, **kwargs)


def test_judge_batches_in_order_and_splits_large_batches(server):
    c = client(server, max_batch=3)
    items = [
        {"prompt": "Capital of France?", "response": "Paris" if i % 2 == 0 else "Lyon"}
        for i in range(7)
    ]
    results = c.judge(items, judges=["mentions_paris"])
    assert [r["id"] for r in results] == list(range(7))
    assert [r["verdict"] for r in results] == ["pass" if i % 2 == 0 else "fail" for i in range(7)]
    assert results[0]["judges"][0]["name"] == "mentions_paris"


def test_bad_requests_raise_with_the_servers_error_body(server):
    c = client(server)
    with pytest.raises(JudgeError) as err:
        c.judge([{"prompt": "p", "response": "r"}], task="no_such_task")
    assert err.value.status in (404, 422)
    assert "no_such_task" in json.dumps(err.value.body)
    with pytest.raises(JudgeError) as err:
        JudgeClient(base_url=server, api_key="wrong-key", retries=0).judge(
            [{"prompt": "p", "response": "r"}], judges=["mentions_paris"]
        )
    assert err.value.status == 401
    with pytest.raises(ValueError):
        c.judge([], task="math", judges=["mentions_paris"])


def test_verdicts_map_to_rewards_and_errors_to_none():
    assert item_reward({"verdict": "pass"}) == 1.0
    assert item_reward({"verdict": "fail"}) == 0.0
    assert item_reward({"verdict": "error"}) is None
    assert item_reward({"verdict": "fail"}, fail_reward=-1.0) == -1.0


def test_trl_reward_function_with_conversations_and_dataset_columns(server):
    reward = trl.MojReward(task="math", base_url=server, api_key=API_KEY)
    assert reward.__name__ == "moj_math"
    prompts = [[{"role": "user", "content": MATH_PROMPT}]] * 3
    completions = [
        [{"role": "assistant", "content": "2 + 3 = 5. The final answer is 5"}],
        [{"role": "assistant", "content": "The final answer is 6"}],
        [{"role": "assistant", "content": "It is five."}],
    ]
    logged = {}
    rewards = reward(
        prompts=prompts,
        completions=completions,
        completion_ids=[[1], [2], [3]],
        answer=["5", "5", "5"],
        trainer_state=object(),
        environments=[object(), object(), object()],
        log_metric=lambda name, value: logged.__setitem__(name, value),
    )
    assert rewards == [1.0, 0.0, 0.0]
    assert logged["moj/moj_math/pass_rate"] == pytest.approx(1 / 3)
    assert logged["moj/moj_math/error_rate"] == 0.0
    assert logged["moj/moj_math/pass_rate/final_answer_format"] == pytest.approx(2 / 3)
    # Plain-text prompts and completions too.
    assert reward(prompts=[MATH_PROMPT], completions=["The final answer is 5"], answer=["5"]) == [1.0]


def test_trl_non_json_columns_are_never_sent_as_their_repr(server):
    seen = []

    class Recording(JudgeClient):
        def judge(self, items, **kwargs):
            seen.extend(items)
            return super().judge(items, **kwargs)

    reward = trl.MojReward(task="math", client=Recording(base_url=server, api_key=API_KEY))
    with pytest.warns(RuntimeWarning, match="tool"):
        reward(prompts=["p"], completions=["The final answer is 5"], answer=["5"], tool=[object()])
    assert seen[0]["metadata"] == {"answer": "5"}
    # A tool-call message has no text: "" is sent, never "None".
    reward(
        prompts=[[{"role": "user", "content": "q"}, {"role": "assistant", "content": None, "tool_calls": []}]],
        completions=[[{"role": "assistant", "content": "The final answer is 5"}]],
        answer=["5"],
    )
    assert seen[1]["prompt"][1] == {"role": "assistant", "content": ""}


def test_trl_errors_are_none_and_refusals_raise(server):
    reward = trl.MojReward(judges=["unreachable_llm"], base_url=server, api_key=API_KEY)
    logged = {}
    out = reward(
        prompts=["Capital of France?"], completions=["Paris"], answer=["Paris"],
        log_metric=lambda name, value: logged.__setitem__(name, value),
    )
    assert out == [None]
    assert logged["moj/moj_unreachable_llm/error_rate"] == 1.0
    # One row missing `answer`: the server names the field and the whole call raises (never a
    # batch of silent Nones).
    math = trl.MojReward(task="math", base_url=server, api_key=API_KEY)
    with pytest.raises(JudgeError) as err:
        math(prompts=["p", "q"], completions=["The final answer is 1", "x"], answer=["1", None])
    assert "items[1].metadata.answer" in json.dumps(err.value.body)
    down = trl.MojReward(task="math", client=JudgeClient(base_url="http://127.0.0.1:9", retries=1, backoff=0.01))
    with pytest.raises(JudgeError, match="failed after 2 attempts"):
        down(prompts=["p", "q"], completions=["a", "b"])


def test_trl_reward_functions_pickle_for_async_grpo(server):
    import pickle

    for cls in (trl.MojReward, trl.AsyncMojReward):
        reward = pickle.loads(pickle.dumps(cls(task="math", base_url=server, api_key=API_KEY)))
        assert reward.__name__ == "moj_math"
    reward = pickle.loads(pickle.dumps(trl.MojReward(task="math", base_url=server, api_key=API_KEY)))
    assert reward(prompts=["p"], completions=["The final answer is 5"], answer=["5"]) == [1.0]


def test_trl_older_than_1_6_is_refused(monkeypatch):
    import sys
    import types

    monkeypatch.setitem(sys.modules, "trl", types.SimpleNamespace(__version__="1.5.2"))
    with pytest.raises(RuntimeError, match="TRL >= 1.6"):
        trl.MojReward(task="math")


def test_verl_compute_score(server):
    import asyncio

    kwargs = dict(task="math", base_url=server, api_key=API_KEY)

    async def scores():
        return await asyncio.gather(
            verl.compute_score("gsm8k", "The final answer is 5", "5", {"question": MATH_PROMPT, "index": 3}, **kwargs),
            verl.compute_score("gsm8k", "The final answer is 4", "5", None, **kwargs),
        )

    good, bad = asyncio.run(scores())
    assert good["score"] == 1.0 and good["moj_pass"] == 1.0 and good["moj/math_answer"] == 1.0
    assert bad["score"] == 0.0 and bad["moj/final_answer_format"] == 1.0 and bad["moj/math_answer"] == 0.0
    assert verl.compute_score_sync("gsm8k", "The final answer is 5", "5", None, **kwargs)["score"] == 1.0
    item = verl.make_item("gsm8k", "r", "18", {"question": "q?", "answer": "raw solution #### 18", "index": 0, "split": "train"})
    assert item == {"prompt": "q?", "response": "r", "metadata": {"answer": "18", "data_source": "gsm8k"}}


def test_verl_errors_raise_naming_the_judge_unless_mapped(server):
    import asyncio

    kwargs = dict(judges=["unreachable_llm"], base_url=server, api_key=API_KEY)
    with pytest.raises(JudgeError, match="unreachable_llm"):
        asyncio.run(verl.compute_score("x", "Paris", "Paris", None, **kwargs))
    mapped = asyncio.run(verl.compute_score("x", "Paris", "Paris", None, error_score=-1.0, **kwargs))
    assert mapped["score"] == -1.0 and mapped["moj_error"] == 1.0


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Answers 503 with Retry-After twice, then a valid judge response."""

    calls = 0

    def do_POST(self):
        type(self).calls += 1
        self.rfile.read(int(self.headers["Content-Length"]))
        if type(self).calls <= 2:
            self.send_response(503)
            self.send_header("Retry-After", "0")
            body = b'{"error":"overloaded"}'
        else:
            self.send_response(200)
            body = json.dumps({"results": [{"id": 0, "verdict": "pass", "judges": []}], "stats": {}}).encode()
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_transient_failures_are_retried_honouring_retry_after():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        c = JudgeClient(base_url=f"http://127.0.0.1:{httpd.server_port}", retries=3, backoff=5.0)
        assert c.rewards([{"prompt": "p", "response": "r"}], judges=["x"]) == [1.0]
        assert _Flaky.calls == 3
    finally:
        httpd.shutdown()
