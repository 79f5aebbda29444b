"""OpenRLHF reward functions backed by the judge server.

Two ways, both tested inside OpenRLHF 0.11's own ``SingleTurnAgentExecutor``
(``openrlhf/utils/agent.py``):

1. No Python at all: the judge server speaks OpenRLHF's remote reward protocol,
   ``--reward.remote_url http://moj:8080/v1/tasks/math/get_reward`` (``--data.label_key answer``).
2. A reward file, ``--reward.remote_url my_reward.py``, which OpenRLHF loads with
   ``spec_from_file_location`` and calls as ``reward_func(queries, prompts, labels)``:

       # my_reward.py
       from moj_client.openrlhf import make_reward_func
       reward_func = make_reward_func(task="math")      # labels -> metadata["answer"]

OpenRLHF calls the function once per sample, each on its own thread; the calls meet on one
background event loop and are sent micro-batched (:class:`moj_client.aio.AsyncJudgeClient`).

``queries`` are prompt+response decoded with their special tokens: the response is the query
minus its prompt, with trailing end-of-turn tokens (``<|im_end|>``, ``<|eot_id|>``, ``</s>``,
...) removed. A label of ``""`` (OpenRLHF's value when ``--data.label_key`` is not set) is no
answer. The result is OpenRLHF's dict: ``rewards`` and ``scores`` tensors and ``extra_logs``
(``moj_pass_rate``, ``moj_error_rate``, ``moj_pass_rate/<judge>``), which OpenRLHF logs per step.

A judge ``error`` raises :class:`moj_client.JudgeError` naming the judge and its reason, and logs
it at ERROR level (OpenRLHF's executor catches reward exceptions and logs them at INFO, then
fails on the missing reward): OpenRLHF's tensors cannot hold "no reward", and a made-up 0 would
be trained on. ``error_reward=<float>`` opts into mapping undecided samples to that value.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, Iterable, List, Optional

import asyncio

from moj_client import _background
from moj_client._items import judge_target, metadata_from, response_after_prompt
from moj_client._results import rewards_or_fallback, summary
from moj_client.aio import AsyncJudgeClient
from moj_client.client import JudgeError

logger = logging.getLogger("moj_client.openrlhf")


def make_items(
    queries: List[str], prompts: List[str], labels: Optional[List[Any]], label_key: str
) -> List[Dict[str, Any]]:
    """Judge items from OpenRLHF's ``(queries, prompts, labels)``."""
    if len(queries) != len(prompts):
        raise ValueError(f"{len(queries)} queries but {len(prompts)} prompts")
    labels = list(labels) if labels is not None else [None] * len(queries)
    if len(labels) != len(queries):
        raise ValueError(f"{len(queries)} queries but {len(labels)} labels")
    return [
        {
            "prompt": prompt,
            "response": response_after_prompt(query, prompt),
            "metadata": {} if label is None or label == "" else metadata_from({label_key: label}),
        }
        for query, prompt, label in zip(queries, prompts, labels)
    ]


class RewardFunc:
    """OpenRLHF's ``reward_func(queries, prompts, labels)``; see the module's documentation."""

    def __init__(
        self,
        task: Optional[str] = None,
        judges: Optional[Iterable[str]] = None,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        label_key: str = "answer",
        pass_reward: float = 1.0,
        fail_reward: float = 0.0,
        error_reward: Optional[float] = None,
        client: Optional[AsyncJudgeClient] = None,
    ):
        self.task = task
        self.judges = judge_target(task, judges)["judges"]
        self.label_key = label_key
        self.pass_reward = pass_reward
        self.fail_reward = fail_reward
        self.error_reward = error_reward
        self.client = client or AsyncJudgeClient(base_url=base_url, api_key=api_key)

    def __call__(self, queries: List[str], prompts: List[str], labels: Optional[List[Any]] = None, **_: Any) -> Dict[str, Any]:
        items = make_items(queries, prompts, labels, self.label_key)
        # OpenRLHF calls this once per sample, each on its own thread: the items meet on one
        # background loop and go out micro-batched.
        results = _background.run(self._judge(items))
        try:
            rewards = rewards_or_fallback(results, self.pass_reward, self.fail_reward, self.error_reward, "samples")
        except JudgeError as err:
            logger.error("%s", err)
            raise
        logs = {key.replace("moj/", "moj_", 1): value for key, value in summary(results, "moj").items()}
        import torch  # OpenRLHF always has it

        tensor = torch.tensor(rewards, dtype=torch.float32)
        return {
            "rewards": tensor,
            "scores": tensor.clone(),
            "extra_logs": {key: torch.tensor([value] * len(rewards)) for key, value in logs.items()},
        }


    async def _judge(self, items: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        target = {"task": self.task, "judges": self.judges}
        return list(await asyncio.gather(*(self.client.judge_one(item, **target) for item in items)))


def make_reward_func(**kwargs: Any) -> Callable[..., Dict[str, Any]]:
    """A ``reward_func`` for an OpenRLHF reward file (``RewardFunc(**kwargs)``)."""
    return RewardFunc(**kwargs)
