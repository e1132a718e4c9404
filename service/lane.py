"""The API's side of the forecast lane (common.forecasts): queue a request, await its answer.

Each API process has its own inbox; one background task pops answers from it
(a batch per round trip) and hands each to the request waiting for it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from typing import Any

import redis

from rnncast.common.forecasts import Answer, decode_answer, encode_request
from rnncast.common.store.aio import AsyncJobStore

log = logging.getLogger(__name__)
BLOCK_S = 1.0
ANSWERS_PER_POP = 512  # answers taken per round trip at most


class ForecastLane:
    """Queues forecast requests and routes their answers back (one per API process)."""

    def __init__(self, store: AsyncJobStore) -> None:
        self.store = store
        self.inbox = uuid.uuid4().hex
        self._waiting: dict[str, asyncio.Future[Answer]] = {}
        self._router: asyncio.Task[None] | None = None
        self._expire_set = -math.inf

    async def ask(self, message: dict[str, Any], timeout: float) -> Answer | None:
        """The worker's answer to `message`, or None when none came within `timeout` seconds."""
        if self._router is None or self._router.done():
            self._router = asyncio.create_task(self._route(), name="rnncast-forecast-inbox")
        request_id = uuid.uuid4().hex
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            # The queue expires when every request in it is past its deadline; refreshing
            # that once a second is enough and keeps the hot path to one command.
            expire = None
            if time.monotonic() - self._expire_set > 1.0:
                expire, self._expire_set = timeout + 2.0, time.monotonic()
            await self.store.push_forecast(encode_request(request_id, self.inbox, timeout, message), expire)
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None
        finally:
            self._waiting.pop(request_id, None)

    async def close(self) -> None:
        if self._router is not None:
            self._router.cancel()
            await asyncio.gather(self._router, return_exceptions=True)

    async def _route(self) -> None:
        while True:
            try:
                raws = await self.store.pop_answers(self.inbox, ANSWERS_PER_POP, BLOCK_S)
            except (redis.RedisError, TimeoutError) as exc:  # waiting requests time out into 503s
                log.warning("forecast inbox: %s", exc)
                await asyncio.sleep(0.5)
                continue
            for raw in raws:
                try:
                    answer = decode_answer(raw)
                except ValueError as exc:
                    log.error("%s", exc)
                    continue
                future = self._waiting.get(answer.request_id)
                if future is not None and not future.done():
                    future.set_result(answer)
