"""The client and the three framework adapters against the real judge server."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from conftest import API_KEY
from moj_client import JudgeClient, JudgeError, item_reward
from moj_client import openrlhf, trl, verl

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
    reward = trl.reward_function(task="math", base_url=server, api_key=API_KEY)
    assert reward.__name__ == "moj_math"
    prompts = [[{"role": "user", "content": MATH_PROMPT}]] * 3
    completions = [
        [{"role": "assistant", "content": "2 + 3 = 5. The final answer is 5"}],
        [{"role": "assistant", "content": "The final answer is 6"}],
        [{"role": "assistant", "content": "It is five."}],
    ]
    rewards = reward(
        prompts=prompts,
        completions=completions,
        completion_ids=[[1], [2], [3]],
        answer=["5", "5", "5"],
        trainer_state=object(),
    )
    assert rewards == [1.0, 0.0, 0.0]
    # Plain-text prompts and completions too.
    assert reward(prompts=[MATH_PROMPT], completions=["The final answer is 5"], answer=["5"]) == [1.0]


def test_trl_errors_are_none_never_zero(server):
    reward = trl.reward_function(judges=["unreachable_llm"], base_url=server, api_key=API_KEY)
    assert reward(prompts=["Capital of France?"], completions=["Paris"], answer=["Paris"]) == [None]
    down = trl.reward_function(
        task="math", client=JudgeClient(base_url="http://127.0.0.1:9", retries=1, backoff=0.01)
    )
    with pytest.warns(RuntimeWarning):
        assert down(prompts=["p", "q"], completions=["a", "b"]) == [None, None]


def test_verl_compute_score_and_batch(server):
    kwargs = dict(task="math", base_url=server, api_key=API_KEY)
    assert verl.compute_score("gsm8k", "The final answer is 5", "5", {"prompt": MATH_PROMPT}, **kwargs) == 1.0
    assert verl.compute_score("gsm8k", "The final answer is 4", "5", None, **kwargs) == 0.0
    scores = verl.compute_score_batch(
        data_sources=["gsm8k"] * 3,
        solution_strs=["The final answer is 5", "The final answer is 7", "The final answer is 7"],
        ground_truths=["5", "5", "7"],
        extra_infos=[{"index": 0}, {"index": 1}, {"index": 2}],
        **kwargs,
    )
    assert scores == [1.0, 0.0, 1.0]
    assert verl.compute_score("x", "Paris", "Paris", None, judges=["unreachable_llm"], base_url=server, api_key=API_KEY) is None


def test_openrlhf_reward_func(server):
    reward_func = openrlhf.make_reward_func(task="math", base_url=server, api_key=API_KEY)
    prompts = [MATH_PROMPT, MATH_PROMPT]
    queries = [p + " The final answer is 5" for p in prompts[:1]] + [prompts[1] + " The final answer is 9"]
    out = reward_func(queries, prompts, ["5", "5"])
    assert [float(x) for x in out["rewards"]] == [1.0, 0.0]
    assert out["extra_logs"]["moj_judge_error_rate"] == 0.0

    failing = openrlhf.make_reward_func(judges=["unreachable_llm"], base_url=server, api_key=API_KEY)
    with pytest.raises(JudgeError):
        failing(["q Paris"], ["q"], ["Paris"])
    lenient = openrlhf.make_reward_func(
        judges=["unreachable_llm"], base_url=server, api_key=API_KEY, on_error="none"
    )
    out = lenient(["q Paris"], ["q"], ["Paris"])
    assert out["rewards"] == [None]
    assert out["extra_logs"]["moj_judge_error_rate"] == 1.0


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
