"""``AsyncJudgeClient``: the judge server from asyncio code, with micro-batching.

veRL's reward loop and OpenRLHF's agent executor score one sample per coroutine, hundreds at a
time. One HTTP request per sample would spend the server's time on request overhead and the
client's on connections; :meth:`AsyncJudgeClient.judge_one` instead queues each item for a short
window (``batch_window`` seconds, or until ``max_batch`` items wait) and sends the items queued
with the same task/judges as one ``POST /v1/judge``; every caller gets its own item's result. An
item the server refuses (4xx naming ``items[i]``) fails only its own caller: the rest of the
micro-batch is sent again without it.

The HTTP client is aiohttp, whose connection pool holds up at thousands of concurrent requests.
One session is kept per event loop (veRL and TRL run reward code on their own loops), created on
first use, so the client can be built anywhere and pickled (TRL's AsyncGRPOTrainer sends reward
functions to a spawned process)."""

from __future__ import annotations

import asyncio
import atexit
import re
import weakref
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from moj_client._items import judge_target
from moj_client._retry import TRANSIENT_STATUSES, retry_delay
from moj_client.client import JudgeError, connect

_ITEM_FIELD = re.compile(r"^items\[(\d+)\]")

BatchKey = Tuple[Optional[str], Optional[Tuple[str, ...]], bool]


class _LoopState:
    """What belongs to one event loop: the HTTP session and the items waiting to be sent."""

    def __init__(self) -> None:
        self.session: Any = None
        self.pending: Dict[BatchKey, List[Tuple[Dict[str, Any], asyncio.Future]]] = {}
        self.timers: Dict[BatchKey, asyncio.TimerHandle] = {}
        self.sending: set = set()


class AsyncJudgeClient:
    """An asyncio client for one judge server (``$MOJ_JUDGE_URL`` / ``$MOJ_API_KEY`` by default).

    :meth:`judge` sends a list of items (split into ``max_batch`` chunks, sent concurrently);
    :meth:`judge_one` micro-batches single items. Connection errors and 429/502/503/504 are
    retried ``retries`` times with backoff, honouring ``Retry-After``; a 4xx raises
    :class:`moj_client.JudgeError` with the server's body, which names the field."""

    def __init__(
        self,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        timeout: float = 300.0,
        max_batch: int = 256,
        batch_window: float = 0.005,
        retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_connections: int = 64,
    ):
        connect(self, base_url, api_key, timeout, max_batch, retries, backoff, max_backoff)
        if batch_window < 0:
            raise ValueError("batch_window must not be negative")
        self.batch_window = batch_window
        self.max_connections = max_connections
        self.requests_sent = 0
        self._loops: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState]" = weakref.WeakKeyDictionary()
        _open_clients.add(self)

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        state["_loops"] = None  # sessions belong to this process's loops
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._loops = weakref.WeakKeyDictionary()
        _open_clients.add(self)

    async def __aenter__(self) -> "AsyncJudgeClient":
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Closes this loop's session (pending micro-batches are sent first)."""
        state = self._loops.pop(asyncio.get_running_loop(), None)
        if state is None:
            return
        for key in list(state.pending):
            self._flush(state, key)
        if state.sending:
            await asyncio.gather(*state.sending, return_exceptions=True)
        if state.session is not None:
            await state.session.close()

    # -- whole batches -------------------------------------------------------------------

    async def judge(
        self,
        items: Sequence[Dict[str, Any]],
        task: Optional[str] = None,
        judges: Optional[Iterable[str]] = None,
        cache: bool = True,
    ) -> List[Dict[str, Any]]:
        """One result per item, in order (see :meth:`moj_client.JudgeClient.judge`)."""
        key = _batch_key(task, judges, cache)
        chunks = [list(items[i : i + self.max_batch]) for i in range(0, len(items), self.max_batch)]
        answers = await asyncio.gather(*(self._post_items(key, chunk) for chunk in chunks))
        return [result for answer in answers for result in answer]

    # -- micro-batched single items -------------------------------------------------------

    async def judge_one(
        self,
        item: Dict[str, Any],
        task: Optional[str] = None,
        judges: Optional[Iterable[str]] = None,
        cache: bool = True,
    ) -> Dict[str, Any]:
        """The result for one item, sent together with the other items queued within
        ``batch_window`` seconds for the same task/judges."""
        key = _batch_key(task, judges, cache)
        loop = asyncio.get_running_loop()
        state = self._state(loop)
        future: asyncio.Future = loop.create_future()
        queue = state.pending.setdefault(key, [])
        queue.append((dict(item), future))
        if len(queue) >= self.max_batch:
            self._flush(state, key)
        elif len(queue) == 1:
            state.timers[key] = loop.call_later(self.batch_window, self._flush, state, key)
        return await future

    def _flush(self, state: _LoopState, key: BatchKey) -> None:
        timer = state.timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        batch = state.pending.pop(key, [])
        if batch:
            task = asyncio.ensure_future(self._send_micro_batch(key, batch))
            state.sending.add(task)
            task.add_done_callback(state.sending.discard)

    async def _send_micro_batch(self, key: BatchKey, batch: List[Tuple[Dict[str, Any], asyncio.Future]]) -> None:
        """Sends the batch; an item the server refuses by index fails alone and the rest go again."""
        while batch:
            try:
                results = await self._post_items(key, [item for item, _ in batch])
            except JudgeError as err:
                index = _refused_item(err, len(batch))
                if index is None:
                    for _, future in batch:
                        _settle(future, error=err)
                    return
                _settle(batch[index][1], error=_for_one_item(err))
                batch = batch[:index] + batch[index + 1 :]
                continue
            except BaseException as err:  # cancelled or a bug: nobody may wait forever
                for _, future in batch:
                    _settle(future, error=err)
                raise
            for (_, future), result in zip(batch, results):
                _settle(future, result=result)
            return

    # -- HTTP ------------------------------------------------------------------------------

    def _state(self, loop: asyncio.AbstractEventLoop) -> _LoopState:
        state = self._loops.get(loop)
        if state is None:
            state = _LoopState()
            self._loops[loop] = state
        return state

    async def _session(self) -> Any:
        import aiohttp

        state = self._state(asyncio.get_running_loop())
        if state.session is None or state.session.closed:
            headers = {"Content-Type": "application/json"}
            if self.api_key:
                headers["Authorization"] = f"Bearer {self.api_key}"
            state.session = aiohttp.ClientSession(
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                connector=aiohttp.TCPConnector(limit=self.max_connections),
            )
        return state.session

    async def _post_items(self, key: BatchKey, items: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
        task, judges, cache = key
        # Ids are the positions in this request; callers' own ids are put back on the results.
        body: Dict[str, Any] = {"items": [dict(item, id=i) for i, item in enumerate(items)]}
        if task is not None:
            body["task"] = task
        else:
            body["judges"] = list(judges or ())
        if not cache:
            body["cache"] = False
        answer = await self._post("/v1/judge", body)
        results = answer["results"]
        if len(results) != len(items):
            raise JudgeError(f"the server answered {len(results)} results for {len(items)} items")
        for item, result in zip(items, results):
            result["id"] = item.get("id", result.get("id"))
        return results

    async def _post(self, path: str, body: Dict[str, Any]) -> Dict[str, Any]:
        import aiohttp

        session = await self._session()
        last = None
        for attempt in range(self.retries + 1):
            retry_after = None
            try:
                self.requests_sent += 1
                async with session.post(self.base_url + path, json=body) as response:
                    if response.status == 200:
                        return await response.json()
                    try:
                        error_body: Any = await response.json(content_type=None)
                    except ValueError:
                        error_body = await response.text()
                    if response.status not in TRANSIENT_STATUSES:
                        raise JudgeError(
                            f"POST {path}: HTTP {response.status}: {error_body}",
                            status=response.status,
                            body=error_body,
                        )
                    last = f"HTTP {response.status}: {error_body}"
                    retry_after = response.headers.get("Retry-After")
            except (aiohttp.ClientError, asyncio.TimeoutError) as err:
                last = f"{type(err).__name__}: {err}"
            if attempt < self.retries:
                await asyncio.sleep(retry_delay(attempt, retry_after, self.backoff, self.max_backoff))
        raise JudgeError(f"POST {path} failed after {self.retries + 1} attempts: {last}")


_open_clients: "weakref.WeakSet[AsyncJudgeClient]" = weakref.WeakSet()


@atexit.register
def _close_sessions_at_exit() -> None:
    """Closes the sessions nobody closed (veRL and TRL never tell a reward function that
    training ended), each on its own loop, so the interpreter exits without aiohttp's
    "Unclosed client session" warnings."""
    for client in list(_open_clients):
        for loop, state in list(client._loops.items()):
            session = state.session
            if session is None or session.closed or loop.is_closed():
                continue
            try:
                if loop.is_running():
                    asyncio.run_coroutine_threadsafe(session.close(), loop).result(timeout=2)
                else:
                    loop.run_until_complete(session.close())
            except Exception:  # the interpreter is going away: nothing more to do
                pass


def _batch_key(task: Optional[str], judges: Optional[Iterable[str]], cache: bool) -> BatchKey:
    target = judge_target(task, judges)
    judge_names = target["judges"]
    return (task, tuple(judge_names) if judge_names is not None else None, bool(cache))


def _refused_item(err: JudgeError, size: int) -> Optional[int]:
    """The index of the item a 4xx names (``field: "items[3].metadata.answer"``), if any."""
    if err.status is None or not 400 <= err.status < 500 or size < 2:
        return None
    detail = err.body.get("error", {}) if isinstance(err.body, dict) else {}
    match = _ITEM_FIELD.match(str(detail.get("field") or ""))
    if match is None or int(match.group(1)) >= size:
        return None
    return int(match.group(1))


def _for_one_item(err: JudgeError) -> JudgeError:
    """The refusal as its one item sees it (its index in a micro-batch means nothing to it)."""
    body = err.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        detail = dict(body["error"])
        detail["field"] = _ITEM_FIELD.sub("item", str(detail.get("field") or ""), count=1)
        body = {"error": detail}
    return JudgeError(f"the server refused the item: HTTP {err.status}: {body}", status=err.status, body=body)


def _settle(future: asyncio.Future, result: Any = None, error: Optional[BaseException] = None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
