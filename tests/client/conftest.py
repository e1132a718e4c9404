"""Fixtures the client tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import Api, RedisServer


@pytest.fixture
def idle_site(tmp_path) -> Iterator[tuple[Api, RedisServer]]:
    """An API on a private Redis with no worker at all (a test may start one): what it is given stays queued."""
    redis = RedisServer(tmp_path / "redis").start()
    api = None
    try:
        api = Api(redis.url, tmp_path / "data", tmp_path / "api.log")
        yield api, redis
    finally:
        if api is not None:
            api.stop()
        redis.stop()


@pytest.fixture
def idle(idle_site: tuple[Api, RedisServer]) -> Api:
    """The API of `idle_site`."""
    return idle_site[0]
