"""RNNCAST_OTEL: FastAPI's native OpenTelemetry reaches the process's providers only when switched on (off, no
request looks for them: that look cost ~5% of the API's CPU per forecast); the collector is set for a server."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rnncast.common import collector
from rnncast.common.settings import Settings
from rnncast.service.main import create_app

trace = pytest.importorskip("opentelemetry.trace", reason="a FastAPI without native OpenTelemetry: nothing to switch")


class Recording(trace.TracerProvider):
    """A configured provider (neither OpenTelemetry's deferred proxy nor its no-op) that counts the tracers
    asked of it."""

    def __init__(self) -> None:
        self.asked = 0

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        self.asked += 1
        return trace.NoOpTracer()


@pytest.mark.parametrize("on", [False, True])
def test_requests_reach_a_configured_tracer_provider_only_with_otel_on(monkeypatch, tmp_path, on):
    provider = Recording()
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)  # as set_tracer_provider sets it
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0", data_dir=tmp_path, otel=on))
    client = TestClient(app, base_url="http://localhost")
    assert client.get("/", follow_redirects=False).status_code == 307  # no Redis needed
    assert (provider.asked > 0) is on


def test_a_lifespan_freezes_start_up_and_collects_the_young_less_often_until_it_ends():
    before = gc.get_threshold()
    with collector.settled():
        assert gc.get_threshold() == (collector.YOUNG, *before[1:])
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
