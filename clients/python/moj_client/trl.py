"""TRL reward functions backed by the judge server.

TRL's trainers call each of ``reward_funcs`` as ``f(prompts=..., completions=...,
completion_ids=..., trainer_state=..., log_extra=..., log_metric=..., [environments=...],
**dataset_columns)`` and take one float per completion, where ``None`` means "no reward from this
function for this sample" (TRL >= 1.6 turns it into NaN and leaves it out of the group statistics:
``trl/trainer/grpo_trainer.py`` ``_calculate_rewards``; older versions turned it into 0, so this
module refuses to run on them).

    from moj_client.trl import MojReward, AsyncMojReward
    trainer = GRPOTrainer(model=..., reward_funcs=[MojReward(task="math")], ...)

``MojReward`` is a callable class instance, not a closure, so ``AsyncGRPOTrainer`` (which sends
reward functions to a spawned process) can pickle it; ``AsyncMojReward`` is its ``async`` twin,
which TRL runs on its event loop concurrently with other async reward functions. Dataset columns
(``answer``, ``instruction_id_list``, ``test_list``, ...) become each item's metadata; objects with
no JSON form (TRL's ``environments``, tool objects) are never sent. A judge ``error`` gives
``None``; a refused batch (4xx, naming the field) or an unreachable server raises
:class:`moj_client.JudgeError`. Each call logs, through TRL's ``log_metric``,
``moj/<name>/pass_rate``, ``moj/<name>/error_rate`` and ``moj/<name>/pass_rate/<judge>``, and
through ``log_extra`` the per-sample verdicts in the completions table.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional

from moj_client._items import as_prompt, as_response, judge_target, metadata_from
from moj_client._results import summary
from moj_client.aio import AsyncJudgeClient
from moj_client.client import JudgeClient, item_reward

# Keyword arguments TRL passes that are not dataset columns (grpo_trainer.py _calculate_rewards).
TRL_RESERVED = frozenset(
    {"completion_ids", "trainer_state", "log_extra", "log_metric", "prompts", "completions", "environments"}
)

MINIMUM_TRL = (1, 6)


def check_trl_version() -> None:
    """Refuses TRL older than 1.6, which turns a ``None`` reward into 0 (a judge ``error``
    would be trained on as a failed constraint)."""
    try:
        import trl
    except ImportError:
        return
    parts = []
    for piece in str(trl.__version__).split(".")[:2]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits or 0))
    if tuple(parts) < MINIMUM_TRL:
        raise RuntimeError(
            f"moj_client.trl needs TRL >= 1.6 (found {trl.__version__}): older TRL turns a None "
            "reward (a judge error) into 0, so an infrastructure failure would be trained on as a "
            "violated constraint. Upgrade TRL: pip install 'trl>=1.6'."
        )


class _Base:
    def __init__(
        self,
        task: Optional[str] = None,
        judges: Optional[Iterable[str]] = None,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        pass_reward: float = 1.0,
        fail_reward: float = 0.0,
        metadata_columns: Optional[Iterable[str]] = None,
        name: Optional[str] = None,
        log: bool = True,
    ):
        target = judge_target(task, judges)
        check_trl_version()
        self.task = task
        self.judges = target["judges"]
        self.base_url = base_url
        self.api_key = api_key
        self.pass_reward = pass_reward
        self.fail_reward = fail_reward
        self.columns = frozenset(metadata_columns) if metadata_columns is not None else None
        self.log = log
        # TRL names a reward function by its __name__ (trl/trainer/utils.py get_callable_name).
        self.__name__ = name or f"moj_{task or '_'.join(self.judges or [])}"

    def _items(self, prompts: List[Any], completions: List[Any], kwargs: Dict[str, Any]) -> List[Dict[str, Any]]:
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
        per_row = {
            key: value
            for key, value in kwargs.items()
            if key not in TRL_RESERVED
            and (self.columns is None or key in self.columns)
            and isinstance(value, (list, tuple))
            and len(value) == len(prompts)
        }
        return [
            {
                "prompt": as_prompt(prompt),
                "response": as_response(completion),
                "metadata": metadata_from({key: value[i] for key, value in per_row.items()}),
            }
            for i, (prompt, completion) in enumerate(zip(prompts, completions))
        ]

    def _rewards(self, results: List[Dict[str, Any]], kwargs: Dict[str, Any]) -> List[Optional[float]]:
        if self.log:
            log_metric = kwargs.get("log_metric")
            if callable(log_metric):
                for metric, value in summary(results, f"moj/{self.__name__}").items():
                    log_metric(metric, value)
            log_extra = kwargs.get("log_extra")
            if callable(log_extra):
                log_extra(f"{self.__name__}_verdict", [r.get("verdict") for r in results])
        return [item_reward(r, self.pass_reward, self.fail_reward) for r in results]


class MojReward(_Base):
    """A synchronous TRL reward function (one ``POST /v1/judge`` per call). Picklable."""

    def __init__(self, *args: Any, client: Optional[JudgeClient] = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._client = client

    @property
    def client(self) -> JudgeClient:
        if self._client is None:
            self._client = JudgeClient(base_url=self.base_url, api_key=self.api_key)
        return self._client

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        state["_client"] = None  # a requests.Session's pool stays in this process
        return state

    def __call__(self, prompts: List[Any], completions: List[Any], **kwargs: Any) -> List[Optional[float]]:
        items = self._items(prompts, completions, kwargs)
        results = self.client.judge(items, task=self.task, judges=self.judges)
        return self._rewards(results, kwargs)


class AsyncMojReward(_Base):
    """An ``async`` TRL reward function (TRL awaits it on its event loop). Picklable."""

    def __init__(self, *args: Any, client: Optional[AsyncJudgeClient] = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.client = client or AsyncJudgeClient(base_url=self.base_url, api_key=self.api_key)

    async def __call__(self, prompts: List[Any], completions: List[Any], **kwargs: Any) -> List[Optional[float]]:
        items = self._items(prompts, completions, kwargs)
        results = await self.client.judge(items, task=self.task, judges=self.judges)
        return self._rewards(results, kwargs)


def reward_function(**kwargs: Any) -> MojReward:
    """``MojReward(**kwargs)`` (the 0.1 name)."""
    return MojReward(**kwargs)
