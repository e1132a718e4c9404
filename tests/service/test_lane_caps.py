"""The forecast and figure lanes in Redis hold a bounded number of requests: beyond, 429 with Retry-After."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from rnncast.common.store import Keys
from tests.support import Api, RedisServer

CAP = 3


@pytest.fixture
def idle_api(tmp_path):
    """An API whose lanes nobody consumes (no predict worker), with small caps and a short timeout."""
    redis = RedisServer(tmp_path / "redis").start()
    api = Api(redis.url, tmp_path / "data", tmp_path / "api.log",
              extra={"RNNCAST_MAX_QUEUED_FORECASTS": str(CAP), "RNNCAST_MAX_QUEUED_FIGURES": str(CAP),
                     "RNNCAST_FORECAST_TIMEOUT": "3"})
    yield api, redis
    api.stop()
    redis.stop()


def flood(url: str, method: str, path: str, n: int, **kwargs) -> list[httpx.Response]:
    def one(_: int) -> httpx.Response:
        with httpx.Client(base_url=url, timeout=30) as http:
            return http.request(method, path, **kwargs)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_a_full_forecast_lane_answers_429_and_stays_bounded(idle_api):
    api, redis = idle_api
    model_id = uuid.uuid4().hex
    redis.client().set(Keys.model(model_id), json.dumps({"id": model_id}))  # a record: its requests are admitted
    answers = flood(api.url, "POST", f"/v1/models/{model_id}/forecast", 12,
                    json={"context": [0.0] * 100, "horizon": 5})
    codes = sorted(r.status_code for r in answers)
    assert codes == [429] * (12 - CAP) + [503] * CAP, codes  # the queued ones time out: no worker
    full = next(r for r in answers if r.status_code == 429)
    assert int(full.headers["Retry-After"]) >= 1 and "RNNCAST_MAX_QUEUED_FORECASTS" in full.json()["detail"]
    assert redis.client().llen(Keys.forecasts) <= CAP


def test_a_full_figure_lane_answers_429_and_stays_bounded(idle_api):
    api, redis = idle_api
    dataset = api.http.post("/v1/datasets", json={"name": "d", "values": [float(i % 7) for i in range(50)]}).json()
    answers = flood(api.url, "GET", f"/v1/datasets/{dataset['id']}/plot.png", 10)
    codes = sorted(r.status_code for r in answers)
    assert codes == [429] * (10 - CAP) + [503] * CAP, codes
    assert "RNNCAST_MAX_QUEUED_FIGURES" in next(r for r in answers if r.status_code == 429).json()["detail"]
    assert redis.client().llen(Keys.figures) <= CAP
