"""One work bound (RNNCAST_MAX_FORECAST_WORK) for every path that runs a rollout: forecasts, figures,
backtests, ensembles and the forecasts a comparison's runs make while they train."""

from __future__ import annotations

import pytest

from rnncast.common.rollout_work import forecast_work
from tests.support import TINY, Api, RedisServer, start_worker, wait_until

LIMIT = 2e9


def _longest(limit: float) -> int:
    """The longest horizon of one forecast of TINY's GRU (windows of 10, 4 hidden units, one layer) within `limit`."""
    lo, hi = 1, 1_000_000
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if forecast_work(1, TINY["sequence_length"], mid, TINY["hidden_size"], 1, "GRU") <= limit \
            else (lo, mid)
    return lo


FITS, TOO_LONG = _longest(LIMIT) - 10, _longest(LIMIT) + 10


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bounds")
    redis = RedisServer(tmp / "redis").start()
    extra = {"RNNCAST_MAX_FORECAST_WORK": str(LIMIT), "RNNCAST_MAX_HORIZON": "100000"}
    procs = [start_worker(redis.url, tmp / "data", tmp / "train.log", queues="train", extra=extra),
             start_worker(redis.url, tmp / "data", tmp / "predict.log", queues="predict", pool="threads",
                          concurrency=4, extra=extra)]
    api = Api(redis.url, tmp / "data", tmp / "api.log", extra=extra)
    wait_until(lambda: redis.client().zcard("rnncast:workers") >= 2, timeout=60)
    yield api
    api.stop()
    for proc in procs:
        proc.stop()
    redis.stop()


@pytest.fixture(scope="module")
def study(site):
    body = {"cells": ["GRU"], "seeds": [0, 1], "train": TINY, "forecast": {"start": 50, "horizon": 10}}
    made = site.http.post("/v1/comparisons", json=body).json()
    return wait_until(lambda: (v := site.http.get(f"/v1/comparisons/{made['id']}").json())["status"] != "running"
                      and v, timeout=120)


def refused(response) -> bool:
    return response.status_code == 422 and "RNNCAST_MAX_FORECAST_WORK" in response.text


def test_forecast_figure_is_bounded(site, study):
    model = study["runs"][0]["job_id"]
    assert site.http.get(f"/v1/models/{model}/forecast.png?start=50&horizon={FITS}").status_code == 200
    r = site.http.get(f"/v1/models/{model}/forecast.png?start=50&horizon={TOO_LONG}")
    assert refused(r) and "estimated work" in r.text, r.text


def test_backtest_is_bounded(site, study):
    model = study["runs"][0]["job_id"]
    r = site.http.post(f"/v1/models/{model}/backtest", json={"origins": 5, "horizon": TOO_LONG})
    assert refused(r), r.text


def test_an_ensemble_counts_all_its_models(site, study):
    half = TOO_LONG // 2 + 10  # one model's rollout fits, the two seeds' together do not
    model = study["runs"][0]["job_id"]
    assert site.http.post(f"/v1/models/{model}/forecast", json={"start": 50, "horizon": half}).status_code == 200
    r = site.http.post(f"/v1/comparisons/{study['id']}/forecast", json={"start": 50, "horizon": half})
    assert refused(r) and "2 models" in r.text, r.text
    assert site.http.post(f"/v1/comparisons/{study['id']}/forecast",
                          json={"start": 50, "horizon": 20}).status_code == 200


def test_a_comparison_whose_runs_would_forecast_past_the_bound_is_refused(site):
    before = site.http.get("/v1/comparisons").json()["count"]
    body = {"cells": ["GRU"], "seeds": [0], "train": TINY, "forecast": {"start": 50, "horizon": TOO_LONG}}
    r = site.http.post("/v1/comparisons", json=body)
    assert refused(r), r.text
    assert site.http.get("/v1/comparisons").json()["count"] == before
