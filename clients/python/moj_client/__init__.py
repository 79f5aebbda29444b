"""Client for the moj judge server (``POST /v1/judge``) and reward adapters for the Python RL
frameworks: TRL (``moj_client.trl``), veRL (``moj_client.verl``) and OpenRLHF
(``moj_client.openrlhf``).

A judge ``error`` (timeout, backend down, server unreachable after retries) is never a reward
of 0: TRL gets ``None`` (no reward for that sample), veRL and OpenRLHF, whose tensors cannot hold
"no reward", get an exception naming the judge and its reason, unless the caller opts into a
value.
"""

from moj_client.aio import AsyncJudgeClient
from moj_client.client import JudgeClient, JudgeError, Verdict, item_reward

__all__ = ["AsyncJudgeClient", "JudgeClient", "JudgeError", "Verdict", "item_reward"]
__version__ = "0.2.0"
