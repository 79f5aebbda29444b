"""When to retry a request and how long to wait, shared by the sync and async clients."""

from __future__ import annotations

import email.utils
import random
import time
from typing import Optional

# Statuses worth retrying: the server is overloaded (429/503 carry Retry-After) or a proxy in
# front of it failed. Any other 4xx is the caller's mistake and fails fast.
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})


def retry_delay(attempt: int, retry_after: Optional[str], backoff: float, max_backoff: float) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): the server's ``Retry-After`` (seconds
    or an HTTP date) when given, else exponential backoff with jitter; at most ``max_backoff``."""
    if retry_after:
        seconds = _retry_after_seconds(retry_after.strip())
        if seconds is not None:
            return min(max(seconds, 0.0), max_backoff)
    ceiling = min(backoff * (2**attempt), max_backoff)
    return random.uniform(ceiling / 2, ceiling)


def _retry_after_seconds(value: str) -> Optional[float]:
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()
