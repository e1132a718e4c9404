"""Differencing, scaling and the multi-step head through the real API and workers: a dataset job trains with
them, and its forecasts, figures and backtests all read the series through the same transform."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnncast.common.series import split_point
from tests.support import TINY

PNG = b"\x89PNG"
VALUES = 50 + 0.8 * np.arange(160) + 6 * np.sin(2 * math.pi * np.arange(160) / 12)  # a trend and a season
HEADS = {"difference": "first", "output_steps": 3, "scaling": "minmax"}


@pytest.fixture(scope="module")
def model(stack):
    dataset = stack.api.http.post("/v1/datasets", json={"name": "trend", "values": VALUES.tolist()}).json()
    body = {"cell": "GRU", **TINY, "epochs": 4, "data": {"dataset_id": dataset["id"]}, **HEADS}
    job = stack.api.http.post("/v1/jobs", json=body)
    assert job.status_code == 202, job.text
    params = job.json()["params"]
    assert {k: params[k] for k in HEADS} == HEADS and params["loss_on"] == "last" and params["season"] is None
    done = stack.api.wait_job(job.json()["id"])
    assert done["status"] == "succeeded", done
    return stack.api.http.get(f"/v1/models/{done['model_id']}").json()


def forecast(stack, model_id: str, **body):
    return stack.api.http.post(f"/v1/models/{model_id}/forecast", json=body)


def test_a_differenced_k_step_model_forecasts_from_the_series_end_and_from_a_context(stack, model):
    assert model["scaler"]["kind"] == "minmax"
    end = forecast(stack, model["id"], horizon=7)
    assert end.status_code == 200, end.text
    y = end.json()["y"]
    assert len(y) == 7 and end.json()["x"][0] == 160.0
    # The same values as a context give the same forecast: both are integrated from the last value.
    given = forecast(stack, model["id"], context=VALUES[-11:].tolist(), horizon=7).json()
    assert given["y"] == pytest.approx(y, rel=1e-12)
    short = forecast(stack, model["id"], context=VALUES[-10:].tolist(), horizon=7)
    assert short.status_code == 422 and "+ 1 to difference from" in short.text, short.text
    inside = forecast(stack, model["id"], origin=150, horizon=5).json()
    assert inside["exact"] == pytest.approx(VALUES[150:155].tolist())
    png = stack.api.http.get(f"/v1/models/{model['id']}/forecast.png", params={"horizon": 9})
    assert png.status_code == 200 and png.content.startswith(PNG)


def test_its_backtest_starts_at_its_own_split_and_is_its_forecasts(stack, model):
    r = stack.api.http.post(f"/v1/models/{model['id']}/backtest", json={"origins": 5, "horizon": 4})
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["test_start"] == split_point(160, 10, 0.8, 3, 1)
    preds = np.array([forecast(stack, model["id"], context=VALUES[k - 11 : k].tolist(), horizon=4).json()["y"]
                      for k in result["origin_positions"]])
    truth = np.array([VALUES[k : k + 4] for k in result["origin_positions"]])
    assert result["model"]["mse"] == pytest.approx(float(np.mean((preds - truth) ** 2)), rel=1e-9)


@pytest.mark.parametrize(("body", "says"), [
    ({"difference": "first"}, "apply to a dataset"),
    ({"scaling": "minmax"}, "apply to a dataset"),
    ({"difference": "weekly"}, "difference"),
    ({"output_steps": 0}, "output_steps"),
    ({"loss_on": "middle"}, "loss_on"),
    ({"season": 1}, "season"),
])
def test_bad_heads_are_422(stack, body, says):
    r = stack.api.http.post("/v1/jobs", json={"cell": "GRU", **TINY, **body})
    assert r.status_code == 422 and says in r.text, r.text


def test_a_sine_job_with_a_k_step_head_and_the_every_step_loss_trains_and_forecasts(stack):
    job = stack.api.http.post("/v1/jobs", json={"cell": "LSTM", **TINY, "output_steps": 4, "loss_on": "all"}).json()
    done = stack.api.wait_job(job["id"])
    assert done["status"] == "succeeded", done
    r = forecast(stack, done["model_id"], start=60.0, horizon=10)
    assert r.status_code == 200 and len(r.json()["y"]) == 10, r.text


def test_a_seasonal_difference_is_checked_against_the_dataset(stack):
    line = stack.api.http.post("/v1/datasets", json={"name": "line", "values": list(range(60))}).json()
    data = {"dataset_id": line["id"]}
    too_long = stack.api.http.post("/v1/jobs", json={"cell": "GRU", **TINY, "data": data, "difference": "seasonal",
                                                     "season": 50})
    assert too_long.status_code == 422 and "differenced at lag 50" in too_long.text, too_long.text
    job = stack.api.http.post("/v1/jobs", json={"cell": "GRU", **TINY, "data": data, "difference": "seasonal"})
    assert job.status_code == 202, job.text
    done = stack.api.wait_job(job.json()["id"])  # a season is found when the job starts, in its train part
    assert done["status"] == "failed" and "shows no season; give `season`" in done["error"], done


def test_a_comparison_of_differenced_k_step_models_tracks_its_forecast_and_ensembles(stack, model):
    from tests.support import wait_until

    dataset_id = model["params"]["data"]["dataset_id"]
    body = {"cells": ["RNN", "GRU"], "seeds": [0, 1], "forecast": {"horizon": 6, "every": 1},
            "train": {**TINY, "data": {"dataset_id": dataset_id}, **HEADS}}
    r = stack.api.http.post("/v1/comparisons", json=body)
    assert r.status_code == 202, r.text
    cid = r.json()["id"]
    view = wait_until(lambda: (v := stack.api.http.get(f"/v1/comparisons/{cid}").json())["status"] != "running"
                      and v, timeout=120)
    assert view["status"] == "succeeded", view
    out = stack.api.http.post(f"/v1/comparisons/{cid}/forecast", json={"horizon": 6})
    assert out.status_code == 200, out.text
    for cell in ("RNN", "GRU"):
        singles = np.array([stack.api.http.post(f"/v1/models/{run['job_id']}/forecast", json={"horizon": 6}).json()["y"]
                            for run in view["runs"] if run["cell"] == cell])
        np.testing.assert_allclose(out.json()["cells"][cell]["mean"], singles.mean(axis=0), rtol=1e-12)
        assert singles.min() > VALUES[-12:].min()  # integrated from the series' end, in its units
