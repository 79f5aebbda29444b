"""TRL's own GRPOTrainer (trl/trainer/grpo_trainer.py) trains 2 steps with moj reward functions
on a tiny Llama built here: the rewards it trains on and the metrics it logs come from the real
judge server."""

from __future__ import annotations

import math

import pytest
import requests

from conftest import API_KEY
from moj_client.trl import AsyncMojReward, MojReward
from tiny_models import model_dir


def judge_requests(server):
    metrics = requests.get(f"{server}/metrics", timeout=10).text
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("moj_http_requests_total{") and 'route="/v1/judge"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_grpo_trains_two_steps_on_judge_rewards(server, tmp_path):
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    folder = model_dir()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    rows = [
        {"prompt": [{"role": "user", "content": f"What is {a} + {b}?"}], "answer": str(a + b), "row": object()}
        for a, b in [(2, 3), (4, 4), (1, 6), (5, 2)]
    ]
    dataset = Dataset.from_list([{k: v for k, v in row.items() if k != "row"} for row in rows])
    rewards = [
        MojReward(task="math", base_url=server, api_key=API_KEY),
        AsyncMojReward(judges=["contains_e"], base_url=server, api_key=API_KEY),
        MojReward(judges=["unreachable_llm"], base_url=server, api_key=API_KEY),
    ]
    args = GRPOConfig(
        output_dir=str(tmp_path),
        max_steps=2,
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=12,
        learning_rate=5e-3,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        seed=0,
        bf16=False,
        dataloader_num_workers=0,
    )
    sent_before = judge_requests(server)
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=rewards, args=args, train_dataset=dataset)
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "loss" in entry or "reward" in entry]
    assert len(logs) >= 2, trainer.state.log_history
    for entry in logs[:2]:
        # The judges' verdicts are TRL's rewards: math always fails for a random model, the
        # unreachable LLM judge is an error (None -> NaN, left out, never 0).
        assert entry["rewards/moj_math/mean"] == 0.0
        assert 0.0 <= entry["rewards/moj_contains_e/mean"] <= 1.0
        # (TRL logs the mean of an all-NaN column as None.)
        unreachable = entry.get("rewards/moj_unreachable_llm/mean")
        assert unreachable is None or math.isnan(unreachable)
        # The adapters' own metrics, through TRL's log_metric.
        assert entry["moj/moj_math/error_rate"] == 0.0
        assert entry["moj/moj_unreachable_llm/error_rate"] == 1.0
        assert entry["moj/moj_math/pass_rate/final_answer_format"] == 0.0
    # 3 reward functions x 2 steps, each one request per batch.
    assert judge_requests(server) - sent_before >= 6
    changed = any(not torch.equal(before[name], p.detach()) for name, p in model.named_parameters())
    assert changed, "the policy did not move: the judge rewards gave no signal"
