"""Fixtures several service test files share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rnncast.common.store.sync import JobStore
from tests.support import Api, RedisServer


@pytest.fixture
def site(tmp_path) -> Iterator[Any]:
    """A private Redis and APIs with the limits asked for (`site(max_datasets="2")`), no worker: jobs stay
    queued (and count towards the model quota) unless a test plays the worker through `site.store`."""
    redis = RedisServer(tmp_path / "redis").start()
    apis: list[Api] = []

    def api(**limits: str) -> Api:
        made = Api(redis.url, tmp_path / "data", tmp_path / f"api{len(apis)}.log",
                   extra={f"RNNCAST_{k.upper()}": v for k, v in limits.items()})
        apis.append(made)
        return made

    api.store = JobStore.from_url(redis.url)  # type: ignore[attr-defined]
    api.redis = redis  # type: ignore[attr-defined]
    yield api
    for made in apis:
        made.stop()
    redis.stop()
