"""Client for the moj judge server (``POST /v1/judge``) and reward adapters for the Python RL
frameworks: TRL (``moj_client.trl``), veRL (``moj_client.verl``) and OpenRLHF
(``moj_client.openrlhf``).

Every adapter maps a judge ``error`` (timeout, backend down, malformed item, server
unreachable after retries) to ``None`` — "no reward for this sample" — never to 0, so an
infrastructure problem can never be read as a failed constraint.
"""

from .client import JudgeClient, JudgeError, Verdict, item_reward

__all__ = ["JudgeClient", "JudgeError", "Verdict", "item_reward"]
__version__ = "0.1.0"
