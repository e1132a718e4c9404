"""The API's side of the forecast lane (common.forecasts): queue a request, await its answer.

Each API process has its own inbox; one background task pops answers from it
(a batch per command) and hands each to the request waiting for it. Requests
that arrive in the same turn of the event loop, or while the last admission is
in flight (one at a time), are admitted in one script call
(`lane_ops.admit_forecasts`: each model's record, and an observe's session, read
and sent with its request, a missing model or session answered at once, the
lane's cap): under load one call carries dozens of requests, and the
per-command client cost (redis-py's, in Python) is paid once for all of them. A forecast costs the API two round
trips: that call, and its share of one inbox pop.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
import uuid
from typing import Any, NamedTuple

import redis

from rnncast.common.forecasts import Answer, decode_answer, encode_request
from rnncast.common.sessions import OBSERVE, SESSION
from rnncast.common.store.aio import AsyncJobStore
from rnncast.common.store.lane_ops import Admitted

log = logging.getLogger(__name__)
BLOCK_S = 1.0
ANSWERS_PER_POP = 512  # answers taken per round trip at most


class LaneFull(Exception):
    """The lane already holds as many requests as it may (429)."""


class SessionGone(Exception):
    """The observe's session is gone: expired, deleted, or never opened (404)."""


class NoModel(Exception):
    """The request's model has no record; `job` holds its job's fields asked for (each None if no such job)."""

    def __init__(self, job: dict[str, str | None]) -> None:
        super().__init__(job)
        self.job = job


class _Asked(NamedTuple):
    """A request waiting for its admission."""

    model_id: str  # '' for none (a session's: its record is read with the session)
    observes: str  # the session an observe advances, '' for another request
    request: str  # as queued (common.forecasts.encode_request)
    future: asyncio.Future[Answer | None]


class ForecastLane:
    """Queues forecast requests and routes their answers back (one per API process)."""

    def __init__(self, store: AsyncJobStore, cap: int, job_fields: tuple[str, ...]) -> None:
        """`job_fields`: what a NoModel carries of the model's job."""
        self.store, self.cap, self.job_fields = store, cap, job_fields
        self.inbox = uuid.uuid4().hex
        self._waiting: dict[str, asyncio.Future[Answer | None]] = {}
        self._router: asyncio.Task[None] | None = None
        self._outbox: list[_Asked] = []
        self._pusher: asyncio.Task[None] | None = None
        self._expire_set = -math.inf
        self._ids = random.Random()

    async def ask(self, message: dict[str, Any], timeout: float) -> Answer | None:
        """The worker's answer to `message`, or None when none came within `timeout` seconds.

        Raises redis.RedisError when the request could not be queued, LaneFull when the lane was full,
        NoModel when `message["model_id"]` has no record, SessionGone when an observe's session is gone.
        """
        if self._router is None or self._router.done():
            self._router = asyncio.create_task(self._route(), name="rnncast-forecast-inbox")
        loop = asyncio.get_running_loop()
        # The id only routes the answer back to this process's waiting request (its inbox is the process's own): a
        # generator of the lane's own, seeded from the OS when the lane is made, in the serving process's lifespan
        # (after any fork), and by no other code; not uuid4's read of the OS's random source (a system call per
        # request).
        request_id = f"{self._ids.getrandbits(128):032x}"
        future: asyncio.Future[Answer | None] = loop.create_future()
        self._waiting[request_id] = future
        request = encode_request(request_id, self.inbox, timeout, message)
        session = message.get(SESSION)
        observes = session["id"] if session is not None and session["op"] == OBSERVE else ""
        self._outbox.append(_Asked(str(message.get("model_id") or ""), observes, request, future))
        if self._pusher is None or self._pusher.done():
            # Runs after every request already scheduled in this turn has joined the outbox.
            self._pusher = asyncio.create_task(self._push(timeout), name="rnncast-forecast-admission")
        # A timer, not asyncio.wait_for (which wraps the wait in a task of its own).
        expiry = loop.call_later(timeout, _give_up, future)
        try:
            return await future
        finally:
            expiry.cancel()
            self._waiting.pop(request_id, None)

    async def _push(self, timeout: float) -> None:
        """Admit the outbox, batch after batch, until it is empty: one admission in flight at a time, so the
        requests that arrive while it is in flight go together in the next (one script call for all of them)."""
        batch: list[_Asked] = []
        try:
            while self._outbox:
                # A request whose wait is over (it timed out meanwhile) is not queued for a worker.
                batch, self._outbox = [e for e in self._outbox if not e.future.done()], []
                if batch:
                    await self._admit(batch, timeout)
                batch = []
        except BaseException as exc:  # cancelled (the lane closes) or a fault: nobody waits on in vain
            error = redis.ConnectionError(f"the forecast lane's admission stopped ({type(exc).__name__})")
            for asked in batch + self._outbox:
                if not asked.future.done():
                    asked.future.set_exception(error)
            self._outbox = []
            raise
        finally:
            self._pusher = None  # no await since the outbox was seen empty: the next ask starts another

    async def _admit(self, batch: list[_Asked], timeout: float) -> None:
        # The queue expires when every request in it is past its deadline; refreshing
        # that once a second is enough.
        expire = None
        if time.monotonic() - self._expire_set > 1.0:
            expire, self._expire_set = timeout + 2.0, time.monotonic()
        admitted: list[Admitted | dict[str, str | None] | Exception]
        try:
            admitted = [*await self.store.admit_forecasts([(a.model_id, a.observes, a.request) for a in batch],
                                                          self.cap, expire, self.job_fields)]
        except (redis.RedisError, OSError) as exc:  # each waiting request answers 503, as a failed push would
            error = exc if isinstance(exc, redis.RedisError) else redis.ConnectionError(str(exc))
            admitted = [error] * len(batch)
        except Exception as exc:  # each waiting request fails with it (a 500), rather than wait out its timeout
            admitted = [exc] * len(batch)
        for asked, outcome in zip(batch, admitted, strict=True):
            if outcome is Admitted.QUEUED or asked.future.done():
                continue  # queued: its answer comes through the inbox
            asked.future.set_exception(_refusal(outcome))

    async def close(self) -> None:
        for task in (self._router, self._pusher):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

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


def _refusal(outcome: Admitted | dict[str, str | None] | Exception) -> Exception:
    """What a request that was not queued raises."""
    if isinstance(outcome, Exception):
        return outcome
    if isinstance(outcome, dict):
        return NoModel(outcome)
    return SessionGone() if outcome is Admitted.SESSION_GONE else LaneFull()


def _give_up(future: asyncio.Future[Answer | None]) -> None:
    if not future.done():
        future.set_result(None)
