"""A TRL reward function backed by the judge server.

TRL's trainers (``GRPOTrainer``, ``RLOOTrainer``, ...) call each of ``reward_funcs`` as
``f(prompts=..., completions=..., completion_ids=..., **dataset_columns)`` and take a list of
floats, one per completion, where ``None`` means "no reward from this function for this sample".

    from moj_client.trl import reward_function
    trainer = GRPOTrainer(model=..., reward_funcs=[reward_function(task="math")], ...)

Dataset columns (e.g. ``answer``, ``instruction_id_list``, ``test_list``) become each item's
metadata, so rows of the usual datasets are judged unchanged. A judge ``error`` and an unreachable
server give ``None``, never 0.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, List, Optional

from ._items import as_prompt, as_response, jsonable
from .client import JudgeClient

# Keyword arguments TRL adds that are not dataset columns.
TRL_RESERVED = frozenset({"completion_ids", "trainer_state", "log_extra", "log_metric", "prompts", "completions"})


def reward_function(
    task: Optional[str] = None,
    judges: Optional[Iterable[str]] = None,
    base_url: Optional[str] = None,
    api_key: Optional[str] = None,
    pass_reward: float = 1.0,
    fail_reward: float = 0.0,
    metadata_columns: Optional[Iterable[str]] = None,
    client: Optional[JudgeClient] = None,
    name: Optional[str] = None,
) -> Callable[..., List[Optional[float]]]:
    """A TRL ``reward_funcs`` entry scoring with ``task``'s mixture (or explicit ``judges``).

    ``metadata_columns`` limits which dataset columns are sent as metadata (default: all of
    them). The function's ``__name__`` (TRL logs rewards under it) is ``name`` or
    ``moj_<task>``."""
    if (task is None) == (judges is None):
        raise ValueError("give exactly one of task= and judges=")
    judge_list = list(judges) if judges is not None else None
    columns = frozenset(metadata_columns) if metadata_columns is not None else None
    judge_client = client or JudgeClient(base_url=base_url, api_key=api_key)

    def reward(prompts: List[Any], completions: List[Any], **kwargs: Any) -> List[Optional[float]]:
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
        per_row = {
            key: value
            for key, value in kwargs.items()
            if key not in TRL_RESERVED
            and (columns is None or key in columns)
            and isinstance(value, (list, tuple))
            and len(value) == len(prompts)
        }
        items = [
            {
                "prompt": as_prompt(prompt),
                "response": as_response(completion),
                "metadata": {key: jsonable(value[i]) for key, value in per_row.items()},
            }
            for i, (prompt, completion) in enumerate(zip(prompts, completions))
        ]
        return judge_client.rewards(
            items, task=task, judges=judge_list, pass_reward=pass_reward, fail_reward=fail_reward
        )

    reward.__name__ = name or f"moj_{task or '_'.join(judge_list or [])}"
    return reward
