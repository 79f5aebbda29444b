"""The HTTP client for ``POST /v1/judge``: batching, retries on transient failures, and the
mapping from verdicts to rewards that every adapter shares."""

from __future__ import annotations

import os
import time
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

import requests

from moj_client._retry import TRANSIENT_STATUSES, retry_delay

Verdict = str  # "pass" | "fail" | "error"


class JudgeError(Exception):
    """The judge server refused a request (4xx) or could not be reached after the retries.

    ``status`` is the HTTP status (``None`` when nothing answered) and ``body`` the JSON error
    body the server sent, which names the offending field."""

    def __init__(self, message: str, status: Optional[int] = None, body: Any = None):
        super().__init__(message)
        self.status = status
        self.body = body


def item_reward(
    result: Dict[str, Any], pass_reward: float = 1.0, fail_reward: float = 0.0
) -> Optional[float]:
    """The reward of one item result: ``pass_reward`` when the mixture passes, ``fail_reward``
    when any judge fails, and ``None`` when it could not be decided (an ``error``)."""
    verdict = result.get("verdict")
    if verdict == "pass":
        return pass_reward
    if verdict == "fail":
        return fail_reward
    return None


def connect(
    client: Any,
    base_url: Optional[str],
    api_key: Optional[str],
    timeout: float,
    max_batch: int,
    retries: int,
    backoff: float,
    max_backoff: float,
) -> None:
    """The settings both clients share: the server (``$MOJ_JUDGE_URL``, else
    ``http://127.0.0.1:8080``), the key (``$MOJ_API_KEY``), batch size and retry policy."""
    if max_batch < 1:
        raise ValueError("max_batch must be at least 1")
    base = base_url or os.environ.get("MOJ_JUDGE_URL") or "http://127.0.0.1:8080"
    client.base_url = base.rstrip("/")
    client.api_key = api_key if api_key is not None else os.environ.get("MOJ_API_KEY")
    client.timeout = timeout
    client.max_batch = max_batch
    client.retries = retries
    client.backoff = backoff
    client.max_backoff = max_backoff


class JudgeClient:
    """A client for one judge server.

    ``base_url`` defaults to ``$MOJ_JUDGE_URL`` (else ``http://127.0.0.1:8080``) and ``api_key``
    to ``$MOJ_API_KEY``. Batches larger than ``max_batch`` items are split and their results
    concatenated in order. Connection errors and 429/502/503/504 are retried up to ``retries``
    times with exponential backoff and jitter, honouring ``Retry-After``."""

    def __init__(
        self,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        timeout: float = 300.0,
        max_batch: int = 1024,
        retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        session: Optional[requests.Session] = None,
    ):
        connect(self, base_url, api_key, timeout, max_batch, retries, backoff, max_backoff)
        self.session = session or requests.Session()

    def _headers(self) -> Dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _delay(self, attempt: int, response: Optional[requests.Response]) -> float:
        retry_after = response.headers.get("Retry-After") if response is not None else None
        return retry_delay(attempt, retry_after, self.backoff, self.max_backoff)

    def _post(self, path: str, body: Dict[str, Any]) -> Dict[str, Any]:
        url = self.base_url + path
        last: Optional[str] = None
        for attempt in range(self.retries + 1):
            response = None
            try:
                response = self.session.post(
                    url, json=body, headers=self._headers(), timeout=self.timeout
                )
            except (requests.ConnectionError, requests.Timeout) as err:
                last = f"{type(err).__name__}: {err}"
            else:
                if response.status_code == 200:
                    return response.json()
                try:
                    error_body = response.json()
                except ValueError:
                    error_body = response.text
                if response.status_code not in TRANSIENT_STATUSES:
                    raise JudgeError(
                        f"POST {path}: HTTP {response.status_code}: {error_body}",
                        status=response.status_code,
                        body=error_body,
                    )
                last = f"HTTP {response.status_code}: {error_body}"
            if attempt < self.retries:
                time.sleep(self._delay(attempt, response))
        raise JudgeError(f"POST {path} failed after {self.retries + 1} attempts: {last}")

    def judge(
        self,
        items: Sequence[Dict[str, Any]],
        task: Optional[str] = None,
        judges: Optional[Iterable[str]] = None,
        cache: bool = True,
    ) -> List[Dict[str, Any]]:
        """Scores ``items`` (dicts with ``prompt`` — a string or OpenAI-style messages —,
        ``response``, optional ``metadata`` and ``id``) with a task's mixture or with explicit
        judges, and returns one result per item in order: ``{"id", "verdict", "judges": [...]}``.
        Raises :class:`JudgeError` on a 4xx or when the server stays unreachable."""
        if (task is None) == (judges is None):
            raise ValueError("give exactly one of task= and judges=")
        results: List[Dict[str, Any]] = []
        for start in range(0, len(items), self.max_batch):
            chunk = [dict(item) for item in items[start : start + self.max_batch]]
            for offset, item in enumerate(chunk):
                item.setdefault("id", start + offset)
            body: Dict[str, Any] = {"items": chunk}
            if task is not None:
                body["task"] = task
            else:
                body["judges"] = list(judges or [])
            if not cache:
                body["cache"] = False
            results.extend(self._post("/v1/judge", body)["results"])
        return results

    def rewards(
        self,
        items: Sequence[Dict[str, Any]],
        task: Optional[str] = None,
        judges: Optional[Iterable[str]] = None,
        pass_reward: float = 1.0,
        fail_reward: float = 0.0,
        cache: bool = True,
    ) -> List[Optional[float]]:
        """One reward per item (see :func:`item_reward`): ``None`` for an item the judges could
        not decide. A refused batch (4xx: the server's body names the field) and a server that
        stays unreachable raise :class:`JudgeError`: no item is given a reward it was not judged
        to deserve, and no batch is quietly dropped."""
        results = self.judge(items, task=task, judges=judges, cache=cache)
        return [item_reward(r, pass_reward, fail_reward) for r in results]

    def health(self) -> bool:
        """Whether ``GET /healthz`` answers 200."""
        try:
            return self.session.get(self.base_url + "/healthz", timeout=5).status_code == 200
        except requests.RequestException:
            return False


Prompt = Union[str, List[Dict[str, Any]]]
