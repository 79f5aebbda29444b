"""OpenRLHF's own SingleTurnAgentExecutor (openrlhf/utils/agent.py) scoring a rollout with moj,
both ways `--reward.remote_url` allows: a reward file (loaded with spec_from_file_location and
called as reward_func(queries, prompts, labels)) and the HTTP endpoint
(/v1/tasks/{name}/get_reward, posted with aiohttp).

OpenRLHF 0.11.2 is installed with --no-deps plus what this module imports (aiohttp, sympy,
pylatexenc, transformers, torch): deepspeed, vLLM and flash-attn do not install on a CPU machine.
The LLM engine is the one stand-in: a stub returning fixed token ids, because vLLM cannot run
here; the executor, its tokenizer calls and its reward calls are OpenRLHF's own."""

from __future__ import annotations

import asyncio
import logging
import textwrap
from types import SimpleNamespace

import pytest

from conftest import API_KEY
from moj_client import JudgeError, openrlhf
from tiny_models import model_dir

MATH_PROMPT = "What is 2 + 3? End with 'The final answer is X'."


class FixedEngine:
    """vLLM's `generate` as the executor awaits it: one output with the given text's tokens."""

    def __init__(self, tokenizer, text):
        self.ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        self.text = text

    async def generate(self, prompt_token_ids, sampling_params, multi_modal_data=None):
        output = SimpleNamespace(token_ids=self.ids, text=self.text, finish_reason="stop", logprobs=None)
        return SimpleNamespace(outputs=[output])


def rollout(executor, tokenizer, question, response, label):
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True)
    params = SimpleNamespace(max_tokens=64, logprobs=None)
    engine = FixedEngine(tokenizer, response + "<|im_end|>")
    return asyncio.run(executor.execute(prompt, label, params, 256, tokenizer, engine))


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir())


def reward_file(tmp_path, server, **kwargs):
    path = tmp_path / "my_reward.py"
    args = ", ".join(f"{k}={v!r}" for k, v in {"base_url": server, "api_key": API_KEY, **kwargs}.items())
    path.write_text(textwrap.dedent(f"""
        from moj_client.openrlhf import make_reward_func
        reward_func = make_reward_func({args})
    """))
    return str(path)


def test_reward_file_through_openrlhfs_executor(server, tmp_path, tokenizer):
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    executor = SingleTurnAgentExecutor(remote_rm_url=reward_file(tmp_path, server, task="math"))
    right = rollout(executor, tokenizer, "What is 2+3?", "The final answer is 5", "5")
    wrong = rollout(executor, tokenizer, "What is 2+3?", "The final answer is 6", "5")
    assert float(right["reward"][0]) == 1.0 and float(wrong["reward"][0]) == 0.0
    assert float(right["extra_logs"]["moj_pass_rate/math_answer"][0]) == 1.0
    assert float(wrong["extra_logs"]["moj_error_rate"][0]) == 0.0


def test_concurrent_rollouts_are_judged_in_few_requests(server, tmp_path, tokenizer):
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    from test_trl_grpo import judge_requests

    executor = SingleTurnAgentExecutor(remote_rm_url=reward_file(tmp_path, server, task="math"))
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is 2+3?"}], tokenize=False, add_generation_prompt=True)
    params = SimpleNamespace(max_tokens=64, logprobs=None)

    async def rollouts():
        engines = [FixedEngine(tokenizer, f"The final answer is {5 if i % 2 else 6}<|im_end|>") for i in range(32)]
        return await asyncio.gather(*(executor.execute(prompt, "5", params, 256, tokenizer, e) for e in engines))

    sent = judge_requests(server)
    outputs = asyncio.run(rollouts())
    assert [float(o["reward"][0]) for o in outputs] == [float(i % 2) for i in range(32)]
    # OpenRLHF runs each sample's reward_func on a thread of asyncio's default pool
    # (min(32, cores + 4) threads: 6 here); the calls in flight together meet in one request,
    # so 32 samples take a handful of requests instead of 32.
    assert judge_requests(server) - sent <= 32 // 4


def test_http_endpoint_through_openrlhfs_executor(server, tokenizer):
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    url = server.replace("http://", f"http://moj:{API_KEY}@") + "/v1/tasks/math/get_reward"
    executor = SingleTurnAgentExecutor(remote_rm_url=[url])
    right = rollout(executor, tokenizer, "What is 2+3?", "The final answer is 5", "5")
    wrong = rollout(executor, tokenizer, "What is 2+3?", "The final answer is 6", "5")
    assert right["reward"] == [1.0] and wrong["reward"] == [0.0]
    assert right["extra_logs"]["moj/math_answer"] == [1.0]


def test_an_undecided_sample_over_http_is_logged_by_openrlhf_naming_the_judge(server, tokenizer, capfd, caplog):
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    url = server.replace("http://", f"http://moj:{API_KEY}@") + "/v1/tasks/llm_only/get_reward"
    out = rollout(SingleTurnAgentExecutor(remote_rm_url=[url]), tokenizer, "Capital of France?", "Paris", "Paris")
    assert out["reward"] is None
    # OpenRLHF logs aiohttp's error, which quotes the status line: moj puts the reason there.
    # (Its logger writes to the stdout of its first use, which pytest may have captured as a log.)
    logged = capfd.readouterr().out + caplog.text
    assert "502" in logged and "unreachable_llm" in logged, logged


def test_an_undecided_sample_is_never_a_reward(server, tmp_path, tokenizer, caplog):
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    executor = SingleTurnAgentExecutor(remote_rm_url=reward_file(tmp_path, server, judges=["unreachable_llm"]))
    with caplog.at_level(logging.ERROR, logger="moj_client.openrlhf"):
        out = rollout(executor, tokenizer, "Capital of France?", "Paris", "Paris")
    # OpenRLHF catches the exception and leaves no reward (its step then fails); the reason is
    # logged at ERROR, naming the judge.
    assert out["reward"] is None
    assert any("unreachable_llm" in r.getMessage() for r in caplog.records)
    mapped = SingleTurnAgentExecutor(remote_rm_url=reward_file(tmp_path, server, judges=["unreachable_llm"], error_reward=0.0))
    assert float(rollout(mapped, tokenizer, "Capital of France?", "Paris", "Paris")["reward"][0]) == 0.0


def test_openrlhf_reward_func(server):
    reward_func = openrlhf.make_reward_func(task="math", base_url=server, api_key=API_KEY)
    prompts = [MATH_PROMPT, MATH_PROMPT]
    queries = [prompts[0] + " The final answer is 5<|im_end|>", prompts[1] + " The final answer is 9"]
    out = reward_func(queries, prompts, ["5", "5"])
    assert [float(x) for x in out["rewards"]] == [1.0, 0.0]
    assert float(out["extra_logs"]["moj_error_rate"][0]) == 0.0
    assert float(out["extra_logs"]["moj_pass_rate/math_answer"][0]) == 0.5

    failing = openrlhf.make_reward_func(judges=["unreachable_llm"], base_url=server, api_key=API_KEY)
    with pytest.raises(JudgeError, match="unreachable_llm"):
        failing(["q Paris"], ["q"], ["Paris"])
    lenient = openrlhf.make_reward_func(judges=["unreachable_llm"], base_url=server, api_key=API_KEY, error_reward=0.0)
    out = lenient(["q Paris"], ["q"], ["Paris"])
    assert [float(x) for x in out["rewards"]] == [0.0]
    assert float(out["extra_logs"]["moj_error_rate"][0]) == 1.0
    # OpenRLHF's label without --data.label_key is "": no answer is sent.
    assert openrlhf.make_items(["p a"], ["p "], [""], "answer")[0]["metadata"] == {}
