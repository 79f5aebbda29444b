"""veRL reward functions backed by the judge server.

veRL (0.9: ``verl/trainer/ppo/reward.py`` ``get_custom_reward_fn``) loads a custom reward function
with ``verl.utils.import_utils.load_extern_object``, from a file path (``spec_from_file_location``:
this file therefore uses absolute imports only) or a ``pkg://`` module path, and its reward-loop
reward managers (``verl/experimental/reward_loop/reward_manager/naive.py``) call it once per
sample, concurrently, awaiting it when it is a coroutine function:

    reward.custom_reward_function.path=pkg://moj_client.verl
    reward.custom_reward_function.name=compute_score
    +reward.custom_reward_function.reward_kwargs.task=math     # or judges=[...], base_url=...

``compute_score`` is ``async``: the calls of one reward-loop worker that arrive within a few
milliseconds are sent as one ``POST /v1/judge`` (:class:`moj_client.aio.AsyncJudgeClient`
micro-batching), not one request per sample.

The item: the prompt is ``extra_info["question"]`` (veRL's own preprocessing scripts put the raw
question there; ``extra_info["prompt"]`` is read too), ``ground_truth`` becomes
``metadata[answer_key]`` (default ``answer``), and the other ``extra_info`` fields that are JSON
become metadata, except veRL's bookkeeping (``index``, ``split``, ``num_turns``,
``rollout_reward_scores``, ...). The result is veRL's dict: ``score`` plus ``reward_extra_info``
entries ``moj_pass`` (1/0), ``moj/<judge>`` (1 pass, 0 fail) which veRL logs per step.

A judge ``error`` raises :class:`moj_client.JudgeError` naming the judge and its reason, so the
step fails loudly: veRL's tensors have no "no reward" value, and a made-up 0 would be trained on
as a failed constraint. ``error_score=<float>`` (a reward kwarg) opts into mapping undecided
samples to that value; they are then marked ``moj_error: 1`` in the extra info.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Optional, Tuple

from moj_client import _background
from moj_client._items import as_prompt, judge_target, metadata_from
from moj_client._results import judge_flags, undecided_error
from moj_client.aio import AsyncJudgeClient
from moj_client.client import item_reward

# extra_info fields veRL and its preprocessing scripts add that are not metadata for a judge.
VERL_BOOKKEEPING = frozenset(
    {"index", "split", "num_turns", "rollout_reward_scores", "question", "prompt", "tools_kwargs", "interaction_kwargs"}
)

_async_clients: Dict[Tuple[Any, ...], AsyncJudgeClient] = {}


def _async_client(base_url: Optional[str], api_key: Optional[str], batch_window: float) -> AsyncJudgeClient:
    key = (base_url, api_key, batch_window)
    if key not in _async_clients:
        _async_clients[key] = AsyncJudgeClient(base_url=base_url, api_key=api_key, batch_window=batch_window)
    return _async_clients[key]


def make_item(data_source: Any, solution_str: str, ground_truth: Any, extra_info: Any, answer_key: str = "answer") -> Dict[str, Any]:
    """The judge item for one veRL sample."""
    extra = dict(extra_info) if isinstance(extra_info, dict) else {}
    prompt = extra.get("question")
    if prompt is None:
        prompt = extra.get("prompt")
    metadata = metadata_from({k: v for k, v in extra.items() if k not in VERL_BOOKKEEPING})
    if ground_truth is not None:
        metadata.update(metadata_from({answer_key: ground_truth}))
    if data_source is not None and "data_source" not in metadata:
        metadata.update(metadata_from({"data_source": data_source}))
    return {"prompt": as_prompt(prompt) if prompt else "", "response": solution_str, "metadata": metadata}


def score_of(
    result: Dict[str, Any], pass_reward: float, fail_reward: float, error_score: Optional[float]
) -> Dict[str, Any]:
    """veRL's result dict for one judged sample (raises on an ``error`` unless ``error_score``)."""
    reward = item_reward(result, pass_reward, fail_reward)
    undecided = reward is None
    if undecided:
        if error_score is None:
            raise undecided_error([result], "samples")
        reward = error_score
    out: Dict[str, Any] = {
        "score": float(reward),
        "moj_pass": 1.0 if result.get("verdict") == "pass" else 0.0,
        "moj_error": 1.0 if undecided else 0.0,
    }
    for name, flag in judge_flags(result).items():
        out[f"moj/{name}"] = flag
    return out


async def compute_score(
    data_source: Any = None,
    solution_str: str = "",
    ground_truth: Any = None,
    extra_info: Any = None,
    task: Optional[str] = None,
    judges: Optional[Iterable[str]] = None,
    base_url: Optional[str] = None,
    api_key: Optional[str] = None,
    answer_key: str = "answer",
    pass_reward: float = 1.0,
    fail_reward: float = 0.0,
    error_score: Optional[float] = None,
    batch_window: float = 0.005,
    **_: Any,
) -> Dict[str, Any]:
    """One sample (veRL's reward-loop managers), micro-batched with its neighbours."""
    item = make_item(data_source, solution_str, ground_truth, extra_info, answer_key)
    client = _async_client(base_url, api_key, batch_window)
    result = await client.judge_one(item, **judge_target(task, judges))
    return score_of(result, pass_reward, fail_reward, error_score)


def compute_score_sync(*args: Any, **kwargs: Any) -> Dict[str, Any]:
    """:func:`compute_score` for callers outside an event loop (on any thread): run on one
    background loop, so concurrent callers are still micro-batched."""
    return _background.run(compute_score(*args, **kwargs))
