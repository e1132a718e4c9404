"""Fixtures the client tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import Api, RedisServer


@pytest.fixture
def idle(tmp_path) -> Iterator[Api]:
    """An API on a private Redis with no worker at all: what it is given stays queued."""
    redis = RedisServer(tmp_path / "redis").start()
    api = None
    try:
        api = Api(redis.url, tmp_path / "data", tmp_path / "api.log")
        yield api
    finally:
        if api is not None:
            api.stop()
        redis.stop()
