"""The API's lane admits one batch at a time (service.lane.ForecastLane), on a real Redis: the requests that
arrive while an admission is in flight go together in the next one, and an admission that fails in an
unexpected way fails its requests at once rather than leaving them to wait out their timeout."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis

from rnncast.common.store import Keys
from rnncast.common.store.aio import AsyncJobStore
from rnncast.service.lane import ForecastLane
from tests.support import RedisServer

MODEL = "1" * 32


@pytest.fixture
def store_url(tmp_path):
    server = RedisServer(tmp_path).start()  # its own: no worker pops this lane
    server.client().set(Keys.model(MODEL), '{"id": "' + MODEL + '"}')
    yield server.url
    server.stop()


def test_requests_arriving_during_an_admission_go_together_in_the_next(store_url):
    async def main() -> tuple[list[int], int]:
        store = AsyncJobStore.from_url(store_url)
        lane = ForecastLane(store, 100, ())
        sizes: list[int] = []
        release = asyncio.Event()
        admit = store.admit_forecasts

        async def slow_admit(requests, *args):  # the real admission, held until released
            sizes.append(len(requests))
            await release.wait()
            return await admit(requests, *args)

        store.admit_forecasts = slow_admit  # type: ignore[method-assign]
        try:
            asks = [asyncio.create_task(lane.ask({"model_id": MODEL}, 0.5))]
            await asyncio.sleep(0.05)  # the first admission is in flight
            for n in (1, 2):  # arriving in two turns of the loop while it is in flight
                asks += [asyncio.create_task(lane.ask({"model_id": MODEL}, 0.5)) for _ in range(n)]
                await asyncio.sleep(0.05)
            release.set()
            answers = await asyncio.gather(*asks)
            assert answers == [None] * 4  # queued, and no worker answered
            return sizes, await store.r.llen(Keys.forecasts)
        finally:
            await lane.close()
            await store.close()

    sizes, queued = asyncio.run(main())
    assert sizes == [1, 3] and queued == 4


def test_an_admission_that_fails_unexpectedly_fails_its_requests_at_once(store_url):
    async def main() -> tuple[list[BaseException | None], bool]:
        store = AsyncJobStore.from_url(store_url)
        lane = ForecastLane(store, 100, ())
        admit = store.admit_forecasts
        calls = 0

        async def broken_once(requests, *args):
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("a fault in the admission")
            return await admit(requests, *args)

        store.admit_forecasts = broken_once  # type: ignore[method-assign]
        try:
            first = await asyncio.gather(*(lane.ask({"model_id": MODEL}, 30) for _ in range(2)),
                                         return_exceptions=True)
            later = await lane.ask({"model_id": MODEL}, 0.3)  # a new admission: the lane admits on
            return [e if isinstance(e, BaseException) else None for e in first], later is None
        finally:
            await lane.close()
            await store.close()

    began = time.monotonic()
    errors, later_queued = asyncio.run(main())
    assert all(isinstance(e, RuntimeError) for e in errors) and later_queued
    assert time.monotonic() - began < 10  # not the 30 s timeout


def test_a_request_whose_wait_ended_is_not_queued_and_a_closed_lane_fails_its_waiters(store_url):
    async def main() -> tuple[list, int, list]:
        store = AsyncJobStore.from_url(store_url)
        lane = ForecastLane(store, 100, ())
        release = asyncio.Event()
        admit = store.admit_forecasts

        async def slow_admit(requests, *args):
            await release.wait()
            return await admit(requests, *args)

        store.admit_forecasts = slow_admit  # type: ignore[method-assign]
        try:
            first = asyncio.create_task(lane.ask({"model_id": MODEL}, 0.5))
            await asyncio.sleep(0.02)  # in flight
            late = await lane.ask({"model_id": MODEL}, 0.05)  # waits behind it, and gives up first
            release.set()
            answers = [late, await first]
            queued = await store.r.llen(Keys.forecasts)
            release.clear()
            waiting = [asyncio.create_task(lane.ask({"model_id": MODEL}, 30)) for _ in range(2)]
            await asyncio.sleep(0.02)
            await lane.close()  # the admission in flight is cancelled
            done = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), 5)
            return answers, queued, done
        finally:
            await store.close()

    answers, queued, done = asyncio.run(main())
    assert answers == [None, None] and queued == 1  # only the request still waiting went to the lane
    assert all(isinstance(e, redis.ConnectionError) for e in done), done
