"""What every adapter reads from the server's results: rewards, the judges' reasons for an
``error``, and per-judge pass rates and the error rate for the framework's own logging."""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence

from moj_client.client import JudgeError, item_reward


def error_reasons(result: Dict[str, Any]) -> str:
    """The judges that could not decide an item, with their reasons: ``"math_answer: timed out"``."""
    parts = [
        f"{j.get('name')}: {j.get('reason') or 'no reason given'}"
        for j in result.get("judges", [])
        if j.get("verdict") == "error"
    ]
    return "; ".join(parts) or "the server gave no judge"


def undecided_error(results: Sequence[Dict[str, Any]], what: str) -> JudgeError:
    """A :class:`JudgeError` naming the first undecided item's judges and reasons, for adapters
    whose framework cannot hold "no reward" (veRL, OpenRLHF)."""
    undecided = [r for r in results if r.get("verdict") not in ("pass", "fail")]
    first = undecided[0]
    return JudgeError(
        f"moj: {len(undecided)} of {len(results)} {what} could not be judged "
        f"(item {first.get('id')!r}: {error_reasons(first)}); no reward is made up for them. "
        "Pass error_reward=<value> to map undecided samples to a value instead."
    )


def rewards_or_fallback(
    results: Sequence[Dict[str, Any]],
    pass_reward: float,
    fail_reward: float,
    error_reward: Optional[float],
    what: str,
) -> List[float]:
    """One float per result; an ``error`` raises (see :func:`undecided_error`) unless the caller
    opted into ``error_reward``."""
    rewards = [item_reward(r, pass_reward, fail_reward) for r in results]
    if any(r is None for r in rewards):
        if error_reward is None:
            raise undecided_error(results, what)
        rewards = [error_reward if r is None else r for r in rewards]
    return rewards  # type: ignore[return-value]


def judge_flags(result: Dict[str, Any]) -> Dict[str, float]:
    """Per judge: 1.0 pass, 0.0 fail, NaN error (so means over a batch skip undecided items)."""
    flags = {}
    for j in result.get("judges", []):
        verdict = j.get("verdict")
        flags[str(j.get("name"))] = 1.0 if verdict == "pass" else 0.0 if verdict == "fail" else math.nan
    return flags


def summary(results: Sequence[Dict[str, Any]], prefix: str) -> Dict[str, float]:
    """Batch metrics: ``<prefix>/pass_rate`` (the mixture), ``<prefix>/error_rate``, and
    ``<prefix>/pass_rate/<judge>`` over the items each judge decided."""
    n = max(len(results), 1)
    metrics = {
        f"{prefix}/pass_rate": sum(r.get("verdict") == "pass" for r in results) / n,
        f"{prefix}/error_rate": sum(r.get("verdict") not in ("pass", "fail") for r in results) / n,
    }
    decided: Dict[str, List[float]] = {}
    for r in results:
        for name, flag in judge_flags(r).items():
            if not math.isnan(flag):
                decided.setdefault(name, []).append(flag)
            else:
                decided.setdefault(name, [])
    for name, flags in decided.items():
        if flags:
            metrics[f"{prefix}/pass_rate/{name}"] = sum(flags) / len(flags)
    return metrics
