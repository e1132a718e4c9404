"""The API's way to the artifact store: a few threads of its own, a short timeout, and a refusal at once
when they are all busy, so that a slow or frozen store never holds the threads (nor the time) of
requests that do not need it."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Concatenate, ParamSpec, TypeVar

from rnncast.common.artifacts.base import ArtifactStore, StoreUnavailable

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")


class BoundedStore:
    """Runs `fn(store, ...)` on `threads` threads of its own, each call waited on for `timeout_s` at most.

    A call that finds every thread busy is refused (StoreUnavailable: 503) instead
    of queued; a call past its timeout is answered StoreUnavailable while its
    thread finishes (the store's own timeouts end it), and holds its slot until it does.
    """

    def __init__(self, store: ArtifactStore, threads: int, timeout_s: float) -> None:
        self.store, self.timeout_s = store, timeout_s
        self._slots = threading.BoundedSemaphore(threads)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="artifacts")

    async def call(self, fn: Callable[Concatenate[ArtifactStore, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(store, *args, **kwargs)` on a store thread; StoreUnavailable when all are busy or it is too slow."""
        if not self._slots.acquire(blocking=False):
            raise StoreUnavailable("every artifact store call slot is busy (RNNCAST_API_STORE_THREADS)")
        try:
            future = self._pool.submit(fn, self.store, *args, **kwargs)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s)
        except TimeoutError:
            name = getattr(fn, "__name__", "a call")
            raise StoreUnavailable(f"the artifact store did not answer {name} within {self.timeout_s:g} s "
                                   "(RNNCAST_API_STORE_TIMEOUT_S)") from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

