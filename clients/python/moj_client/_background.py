"""One event loop on a daemon thread, for synchronous callers that arrive on many threads at
once (OpenRLHF runs each sample's reward function with ``asyncio.to_thread``): their items meet
in one :class:`moj_client.aio.AsyncJudgeClient` there and are micro-batched."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Coroutine, Optional

_lock = threading.Lock()
_loop: Optional[asyncio.AbstractEventLoop] = None


def loop() -> asyncio.AbstractEventLoop:
    """The shared background loop, started on first use."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            fresh = asyncio.new_event_loop()
            thread = threading.Thread(target=fresh.run_forever, name="moj-client-loop", daemon=True)
            thread.start()
            _loop = fresh
        return _loop


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Runs ``coroutine`` on the background loop and waits for its result on this thread."""
    return asyncio.run_coroutine_threadsafe(coroutine, loop()).result()
