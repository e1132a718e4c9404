"""Store operations run side by side (common.store.plan.together): each step's commands go as one pipeline, each
operation gets its own replies and its result, on a real Redis; what cannot share a pipeline is refused."""

from __future__ import annotations

import pytest

from rnncast.common.store.plan import Op, batch, cmd, one, together
from rnncast.common.store.sync import JobStore
from tests.redis_counts import per_unit


def two_steps(key: str) -> Op[str]:
    yield batch(cmd("set", key, "1"), cmd("incr", key))
    return str((yield from one(cmd("get", key))))


def one_step(key: str) -> Op[int]:
    return int((yield from one(cmd("rpush", key, "a", "b"))))


def nothing() -> Op[str]:
    return "done"
    yield  # a generator that sends no command


def test_ops_run_side_by_side_each_with_its_own_replies(redis_server):
    store = JobStore.from_url(redis_server.url)
    store.r.delete("t:a", "t:b")
    assert store.run(together(two_steps("t:a"), one_step("t:b"), nothing())) == ["2", 2, "done"]
    assert store.r.lrange("t:b", 0, -1) == ["a", "b"]


def test_the_ops_steps_cost_one_round_trip_each(redis_server):
    store = JobStore.from_url(redis_server.url)
    counts = per_unit(store.r, lambda: store.run(together(two_steps("t:c"), one_step("t:d"))), 20)
    assert counts.commands <= 4.5 and counts.round_trips <= 2.5, counts  # the longest op's two steps


def test_a_blocking_or_atomic_step_is_refused(redis_server):
    store = JobStore.from_url(redis_server.url)

    def blocking() -> Op[None]:
        yield batch(cmd("blpop", "t:e", 1), block_s=1)

    with pytest.raises(ValueError, match="plain batches"):
        store.run(together(one_step("t:f"), blocking()))
