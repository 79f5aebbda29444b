"""An OpenRLHF remote reward function backed by the judge server.

OpenRLHF loads a Python file given as ``--remote_rm_url`` and calls its ``reward_func(queries,
prompts, labels)``: ``queries`` are the prompt+response texts, ``prompts`` the prompt texts and
``labels`` the dataset's label column (``--label_key``). Point it at a small file of yours:

    # my_reward.py
    from moj_client.openrlhf import make_reward_func
    reward_func = make_reward_func(task="math")      # labels -> metadata["answer"]

The result is OpenRLHF's dict: ``rewards`` and ``scores`` (torch tensors when torch is
importable, else lists) and ``extra_logs`` with the judge error rate. A sample the judges could
not decide is not given a reward of 0: by default (``on_error="raise"``) the call raises
:class:`moj_client.JudgeError` so the step fails loudly; with ``on_error="none"`` the lists carry
``None`` for those samples (and no tensors are built) for callers that filter them.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Optional

from ._items import jsonable
from .client import JudgeClient, JudgeError


def _response(query: str, prompt: str) -> str:
    return query[len(prompt) :] if query.startswith(prompt) else query


def make_reward_func(
    task: Optional[str] = None,
    judges: Optional[Iterable[str]] = None,
    base_url: Optional[str] = None,
    api_key: Optional[str] = None,
    label_key: str = "answer",
    pass_reward: float = 1.0,
    fail_reward: float = 0.0,
    on_error: str = "raise",
    client: Optional[JudgeClient] = None,
) -> Callable[..., Dict[str, Any]]:
    if (task is None) == (judges is None):
        raise ValueError("give exactly one of task= and judges=")
    if on_error not in ("raise", "none"):
        raise ValueError('on_error must be "raise" or "none"')
    judge_list = list(judges) if judges is not None else None
    judge_client = client or JudgeClient(base_url=base_url, api_key=api_key)

    def reward_func(queries: List[str], prompts: List[str], labels: Optional[List[Any]] = None, **_: Any) -> Dict[str, Any]:
        labels = labels if labels is not None else [None] * len(queries)
        items = [
            {
                "prompt": prompt,
                "response": _response(query, prompt),
                "metadata": {} if label is None else {label_key: jsonable(label)},
            }
            for query, prompt, label in zip(queries, prompts, labels)
        ]
        rewards = judge_client.rewards(
            items, task=task, judges=judge_list, pass_reward=pass_reward, fail_reward=fail_reward
        )
        errors = sum(r is None for r in rewards)
        if errors and on_error == "raise":
            raise JudgeError(f"{errors} of {len(rewards)} samples could not be judged")
        logs = {"moj_judge_error_rate": errors / max(len(rewards), 1)}
        if errors == 0:
            try:
                import torch  # OpenRLHF always has it

                tensor = torch.tensor(rewards, dtype=torch.float32)
                return {"rewards": tensor, "scores": tensor.clone(), "extra_logs": logs}
            except ImportError:
                pass
        return {"rewards": rewards, "scores": list(rewards), "extra_logs": logs}

    return reward_func
