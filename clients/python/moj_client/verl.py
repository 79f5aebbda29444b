"""veRL reward functions backed by the judge server.

veRL's reward managers call a custom ``compute_score``; point its config at this file:

    custom_reward_function.path=<site-packages>/moj_client/verl.py
    custom_reward_function.name=compute_score          # NaiveRewardManager, one item per call
    # or name=compute_score_batch with reward_model.reward_manager=batch (one request per batch)
    +custom_reward_function.reward_kwargs.task=math    # or judges=[...]; base_url=...

``ground_truth`` becomes ``metadata[answer_key]`` (default ``answer``), ``extra_info`` (a dict)
is merged into the metadata, and ``extra_info["prompt"]`` (a string or messages), when present,
is the prompt the judges see. The server URL and key default to ``$MOJ_JUDGE_URL`` and
``$MOJ_API_KEY``. A judge ``error`` or an unreachable server gives ``None``, never 0.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional

from ._items import as_prompt, jsonable
from .client import JudgeClient

_clients: Dict[tuple, JudgeClient] = {}


def _client(base_url: Optional[str], api_key: Optional[str]) -> JudgeClient:
    # veRL calls the function per item: reuse one client (and its connection pool) per server.
    key = (base_url, api_key)
    if key not in _clients:
        _clients[key] = JudgeClient(base_url=base_url, api_key=api_key)
    return _clients[key]


def _item(data_source: Any, solution_str: str, ground_truth: Any, extra_info: Any, answer_key: str) -> Dict[str, Any]:
    extra = dict(extra_info) if isinstance(extra_info, dict) else {}
    prompt = extra.pop("prompt", "")
    metadata = {key: jsonable(value) for key, value in extra.items()}
    if ground_truth is not None:
        metadata[answer_key] = jsonable(ground_truth)
    if data_source is not None:
        metadata.setdefault("data_source", jsonable(data_source))
    return {"prompt": as_prompt(prompt) if prompt else "", "response": solution_str, "metadata": metadata}


def compute_score_batch(
    data_sources: List[Any],
    solution_strs: List[str],
    ground_truths: List[Any],
    extra_infos: Optional[List[Any]] = None,
    task: Optional[str] = None,
    judges: Optional[Iterable[str]] = None,
    base_url: Optional[str] = None,
    api_key: Optional[str] = None,
    answer_key: str = "answer",
    pass_reward: float = 1.0,
    fail_reward: float = 0.0,
    **_: Any,
) -> List[Optional[float]]:
    """One request for a whole batch (veRL's ``batch`` reward manager)."""
    extras = extra_infos if extra_infos is not None else [None] * len(solution_strs)
    items = [
        _item(source, solution, truth, extra, answer_key)
        for source, solution, truth, extra in zip(data_sources, solution_strs, ground_truths, extras)
    ]
    return _client(base_url, api_key).rewards(
        items,
        task=task,
        judges=list(judges) if judges is not None else None,
        pass_reward=pass_reward,
        fail_reward=fail_reward,
    )


def compute_score(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: Any = None,
    **kwargs: Any,
) -> Optional[float]:
    """One item (veRL's ``naive`` reward manager)."""
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info], **kwargs)[0]
