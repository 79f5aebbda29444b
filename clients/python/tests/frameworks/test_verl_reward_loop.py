"""veRL's own reward path: its custom-reward loader (verl/trainer/ppo/reward.py
get_custom_reward_fn -> verl/utils/import_utils.py load_extern_object, the file-path and pkg://
forms) and its reward-loop worker with the `naive` reward manager
(verl/experimental/reward_loop/reward_loop.py RewardLoopWorker.compute_score_batch,
reward_manager/naive.py), scoring a DataProto batch with moj; and veRL's SandboxFusion client
(verl/utils/reward_score/sandbox_fusion) against moj's /run_code.

veRL 0.9.1 is installed with --no-deps plus the modules this path imports (ray, tensordict,
omegaconf, codetiming, pylatexenc): its full dependency set (vLLM, flash-attn, wandb, ...) does
not install on a CPU machine and is not on the reward path."""

from __future__ import annotations

import numpy as np
import pytest
import requests

import moj_client.verl
from conftest import API_KEY
from moj_client import JudgeError
from tiny_models import model_dir
from test_trl_grpo import judge_requests

GSM8K_SUFFIX = ' Let\'s think step by step and output the final answer after "####".'


def verl_config(server, path, **reward_kwargs):
    from omegaconf import OmegaConf

    kwargs = {"base_url": server, "api_key": API_KEY, **reward_kwargs}
    return OmegaConf.create(
        {
            "reward": {
                "custom_reward_function": {"path": path, "name": "compute_score", "reward_kwargs": kwargs},
                "reward_manager": {"source": "register", "name": "naive", "module": {"path": None, "name": "custom_reward_manager"}},
                "reward_model": {"enable": False, "model_path": None},
                "sandbox_fusion": {"url": None},
            },
            "actor_rollout_ref": {"model": {"path": model_dir(), "tokenizer_path": None}},
        }
    )


def batch(tokenizer, questions, responses, ground_truths, data_source="openai/gsm8k"):
    """A DataProto as veRL's rollout leaves it: left-padded prompts, right-padded responses."""
    import torch
    from verl import DataProto

    prompts = tokenizer([q + GSM8K_SUFFIX for q in questions], padding="longest", padding_side="left", return_tensors="pt")
    answers = tokenizer(responses, padding="longest", padding_side="right", return_tensors="pt")
    return DataProto.from_dict(
        tensors={
            "prompts": prompts["input_ids"],
            "responses": answers["input_ids"],
            "attention_mask": torch.cat([prompts["attention_mask"], answers["attention_mask"]], dim=1),
        },
        non_tensors={
            "data_source": np.array([data_source] * len(questions), dtype=object),
            "reward_model": np.array([{"style": "rule", "ground_truth": g} for g in ground_truths], dtype=object),
            # What veRL's examples/data_preprocess/gsm8k.py writes.
            "extra_info": np.array(
                [{"split": "train", "index": i, "answer": f"... #### {g}", "question": q} for i, (q, g) in enumerate(zip(questions, ground_truths))],
                dtype=object,
            ),
        },
    )


@pytest.mark.parametrize("form", ["file", "pkg"])
def test_verl_loads_the_adapter_and_scores_a_batch_through_its_reward_loop(server, form):
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker
    from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls
    from verl.trainer.ppo.reward import get_custom_reward_fn

    path = moj_client.verl.__file__ if form == "file" else "pkg://moj_client.verl"
    config = verl_config(server, path, judges=["math_answer"])
    assert get_custom_reward_fn(config) is not None
    worker = RewardLoopWorker(config, reward_router_address=None)
    questions = ["Natalia sold 48 clips in April and half as many in May. How many in all?"] * 3 + ["What is 2+3?"]
    responses = ["48 + 24 = 72\n#### 72", "#### 70", "The final answer is 72", "I do not know"]
    data = batch(worker.input_tokenizer, questions, responses, ["72", "72", "72", "5"])
    sent = judge_requests(server)
    outputs = worker.loop.run_until_complete(worker.compute_score_batch(data))
    # One request for the batch: veRL calls compute_score per sample, concurrently, and the
    # adapter micro-batches them.
    assert judge_requests(server) - sent == 1
    scores = [o["reward_score"] for o in outputs]
    assert scores == [1.0, 0.0, 1.0, 0.0]
    # What RewardLoopManager.compute_rm_score does with the outputs (reward_loop.py): the
    # reward at each response's last token, and the extra info as per-sample arrays.
    rm_scores = get_reward_manager_cls("naive").assemble_rm_scores(data, scores)
    assert rm_scores.sum(dim=1).tolist() == scores
    infos = [o["reward_extra_info"] for o in outputs]
    extra = {key: np.array([info[key] for info in infos]) for key in infos[0]}
    assert extra["moj/math_answer"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert extra["moj_error"].tolist() == [0.0] * 4


def test_an_undecided_sample_fails_the_step_naming_the_judge(server):
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

    worker = RewardLoopWorker(verl_config(server, "pkg://moj_client.verl", judges=["unreachable_llm"]), reward_router_address=None)
    data = batch(worker.input_tokenizer, ["q"], ["Paris"], ["Paris"])
    with pytest.raises(JudgeError, match="unreachable_llm"):
        worker.loop.run_until_complete(worker.compute_score_batch(data))
    mapped = RewardLoopWorker(
        verl_config(server, "pkg://moj_client.verl", judges=["unreachable_llm"], error_score=0.0), reward_router_address=None
    )
    outputs = mapped.loop.run_until_complete(mapped.compute_score_batch(data))
    assert outputs[0]["reward_score"] == 0.0 and outputs[0]["reward_extra_info"]["moj_error"] == 1.0


def test_verl_sandbox_fusion_client_runs_on_moj(server):
    from verl.utils.reward_score.sandbox_fusion import compute_score

    # URL-only clients carry the key as credentials (sent as Basic auth).
    url = server.replace("http://", f"http://moj:{API_KEY}@") + "/run_code"
    stdio = {"inputs": ["1 2\n", "10 -3\n"], "outputs": ["3\n", "7\n"]}
    right = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
    wrong = "```python\na, b = map(int, input().split())\nprint(a - b)\n```"
    score, meta = compute_score(url, None, 1024, right, stdio)
    assert score == 1.0, meta
    score, meta = compute_score(url, None, 1024, wrong, stdio)
    assert score == 0.0, meta
    assert [m["status"] for m in meta] == ["wrong_answer", "wrong_answer"]
    half = "```python\na, b = map(int, input().split())\nprint(a + b if a < 5 else 0)\n```"
    assert compute_score(url, None, 1024, half, stdio)[0] == 0.5
    crash = "```python\nraise ValueError('no')\n```"
    score, meta = compute_score(url, None, 1024, crash, stdio)
    assert score == 0.0 and meta[0]["status"] == "runtime_error"
    # fn_name problems: veRL's own wrapper (stdin lines are JSON arguments) runs on moj.
    calls = {"fn_name": "add", "inputs": ["1\n2", "[1]\n[2, 3]"], "outputs": ["3", "[1, 2, 3]"]}
    solution = "```python\ndef add(a, b):\n    return a + b\n```"
    score, meta = compute_score(url, None, 1024, solution, calls)
    assert score == 1.0, meta
    score, meta = compute_score(url, None, 1024, "```python\ndef add(a, b):\n    return a\n```", calls)
    assert score == 0.0, meta
    # Without the key the server refuses, and veRL's client reports an API error (-1).
    score, meta = compute_score(server + "/run_code", None, 1024, right, stdio)
    assert score == 0.0 and meta[0]["status"] == "api_error"


def test_verl_sandbox_fusion_client_runs_cpp_on_moj(server):
    # veRL's own client (verl/utils/reward_score/sandbox_fusion/utils.py check_correctness)
    # with language="cpp": moj compiles to WebAssembly and answers compile_result as
    # SandboxFusion does; a program that does not compile is a compile error, not a crash.
    from verl.utils.reward_score.sandbox_fusion.utils import check_correctness

    url = server.replace("http://", f"http://moj:{API_KEY}@") + "/run_code"
    stdio = {"inputs": ["1 2\n", "4000000000 5\n"], "outputs": ["3\n", "4000000005\n"]}
    right = "#include <bits/stdc++.h>\nusing namespace std;\nint main(){ long long a, b; cin >> a >> b; cout << a + b << endl; }"
    overflow = "#include <cstdio>\nint main(){ long long a, b; scanf(\"%lld %lld\", &a, &b); printf(\"%d\\n\", (int)(a + b)); }"
    broken = "int main(){ return undeclared; }"
    results, meta = check_correctness(url, stdio, right, timeout=10, language="cpp")
    assert results == [True, True], meta
    results, meta = check_correctness(url, stdio, overflow, timeout=10, language="cpp")
    assert results == [True, False], meta
    results, meta = check_correctness(url, stdio, broken, timeout=10, language="cpp")
    assert all(r is not True for r in results), meta
    assert meta[0]["status"] == "compile_error", meta
