"""A rollout stops at its request's deadline: no lane thread is held past RNNCAST_FORECAST_TIMEOUT, whatever
work the limit admits, and the next request is served."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.support import TINY, Api, RedisServer, start_worker, wait_until

TIMEOUT_S = 3.0
LONG = 400_000  # steps of horizon: tens of seconds for the GRU below (the kernel's), admitted by the huge work limit
SLOW = {"hidden_size": 32, "sequence_length": 100, "data": {"points": 400, "stop": 100}}  # ~0.3M MACs a window


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("deadlines")
    redis = RedisServer(tmp / "redis").start()
    extra = {"RNNCAST_FORECAST_TIMEOUT": str(TIMEOUT_S), "RNNCAST_MAX_FORECAST_WORK": "1e18",
             "RNNCAST_MAX_HORIZON": str(LONG)}
    procs = [start_worker(redis.url, tmp / "data", tmp / "train.log", queues="train", extra=extra),
             start_worker(redis.url, tmp / "data", tmp / "predict.log", queues="predict", pool="threads",
                          concurrency=2, extra=extra)]
    api = Api(redis.url, tmp / "data", tmp / "api.log", extra=extra)
    wait_until(lambda: redis.client().zcard("rnncast:workers") >= 2, timeout=60)
    job = api.http.post("/v1/jobs", json={"cell": "GRU", **TINY, **SLOW}).json()
    assert api.wait_job(job["id"])["status"] == "succeeded"
    yield api, job["id"]
    api.stop()
    for proc in procs:
        proc.stop()
    redis.stop()


def _ask_long(api: Api, path: str, out: list[int], **kwargs) -> threading.Thread:
    def run() -> None:
        with httpx.Client(base_url=api.url, timeout=60) as http:
            out.append(http.request(kwargs.pop("method", "POST"), path, **kwargs).status_code)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_forecast_past_its_deadline_frees_the_lane_for_the_next(site):
    api, model = site
    out: list[int] = []
    thread = _ask_long(api, f"/v1/models/{model}/forecast", out, json={"start": 50, "horizon": LONG})
    time.sleep(TIMEOUT_S / 2)  # the long one computes; this one's deadline is later than its
    began = time.monotonic()
    r = api.http.post(f"/v1/models/{model}/forecast", json={"start": 50, "horizon": 5})
    assert r.status_code == 200, r.text
    assert time.monotonic() - began < TIMEOUT_S
    thread.join()
    assert out == [503]


def test_a_figure_past_its_deadline_frees_the_figure_lane(site):
    api, model = site
    out: list[int] = []
    thread = _ask_long(api, f"/v1/models/{model}/forecast.png?start=50&horizon={LONG}", out, method="GET")
    time.sleep(TIMEOUT_S / 2)
    r = api.http.get(f"/v1/models/{model}/forecast.png?start=50&horizon=5")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png", r.text
    thread.join()
    assert out == [503]
