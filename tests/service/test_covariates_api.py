"""Calendar covariates through the real API, workers and Redis: a monthly dataset with a strong month effect,
a model that reads the month at every step (with differencing and a multi-step head), its forecasts from
origins whose windows are equal but whose months differ, from the series' end and its tail, its backtest and
figure; and the refusals: the sine, a dataset with no time axis, a free context."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from rnncast.client.cli import app
from tests.support import TINY, month_start, upload_monthly

SMALL = {k: v for k, v in TINY.items() if k != "data"}
MONTHS, SEQ = 120, 12
FLAT = ((40, 53), (65, 78))  # two stretches of SEQ + 1 equal values (the window and the one to difference from)


def values() -> np.ndarray:
    t = np.arange(MONTHS)
    out = 100 + 0.5 * t + 30 * np.sin(2 * math.pi * t / 12) + np.random.default_rng(5).normal(0, 0.5, MONTHS)
    for a, b in FLAT:
        out[a:b] = 70.0
    return np.round(out, 3)


def month(k: int) -> str:
    return month_start(k)[:10]


@pytest.fixture(scope="module")
def dataset(stack) -> dict:
    return upload_monthly(stack.api.http, values(), "monthly-effect")


def trained(stack, dataset: dict, **options) -> dict:
    r = stack.api.http.post("/v1/jobs", json={"cell": "GRU", **SMALL, "epochs": 2, "sequence_length": SEQ,
                                              "difference": "first", "data": {"dataset_id": dataset["id"]},
                                              **options})
    assert r.status_code == 202, r.text
    done = stack.api.wait_job(r.json()["id"])
    assert done["status"] == "succeeded", done
    return stack.api.http.get(f"/v1/models/{done['model_id']}").json()


@pytest.fixture(scope="module")
def models(stack, dataset) -> tuple[dict, dict]:
    return (trained(stack, dataset, covariates="calendar", output_steps=3),
            trained(stack, dataset, output_steps=3))


def forecast(stack, model_id: str, **body) -> dict:
    r = stack.api.http.post(f"/v1/models/{model_id}/forecast", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_the_forecast_reads_the_month_of_each_step(stack, models):
    with_months, plain = models
    assert with_months["params"]["covariates"] == "calendar" and plain["params"]["covariates"] == "none"
    series = values()
    (a0, a), (b0, b) = FLAT
    assert np.array_equal(series[a0:a], series[b0:b]) and a % 12 != b % 12  # equal windows, other months
    one, other = (forecast(stack, with_months["id"], origin=o, horizon=7) for o in (a, b))
    assert one["timestamps"][0] == month(a) + "T00:00:00" and other["timestamps"][0] == month(b) + "T00:00:00"
    assert not np.allclose(one["y"], other["y"], rtol=0, atol=1e-9)
    # Without covariates the same two windows give the same forecast: the months made the difference.
    same = [forecast(stack, plain["id"], origin=o, horizon=7)["y"] for o in (a, b)]
    assert same[0] == pytest.approx(same[1], rel=1e-12)


def test_the_series_end_and_its_tail_are_on_the_axis_a_free_context_is_refused(stack, models):
    with_months = models[0]
    series = values()
    end = forecast(stack, with_months["id"], horizon=5)
    assert end["timestamps"] == [month(k) + "T00:00:00" for k in range(MONTHS, MONTHS + 5)]
    tail = forecast(stack, with_months["id"], context=series[-SEQ - 1 :].tolist(), horizon=5)
    assert tail["y"] == pytest.approx(end["y"], rel=1e-12)
    free = stack.api.http.post(f"/v1/models/{with_months['id']}/forecast",
                               json={"context": (series[20:33] + 1).tolist(), "horizon": 5})
    assert free.status_code == 422 and "reads covariates (month) from its dataset's timestamps" in free.text
    # A context placed on the axis by its first value's timestamp is the forecast from where it ends.
    a0, a = FLAT[0]
    placed = forecast(stack, with_months["id"], context=series[a0 - 3 : a].tolist(), context_start=month(a0 - 3),
                      horizon=5)
    at = forecast(stack, with_months["id"], origin=a, horizon=5)
    assert placed["y"] == pytest.approx(at["y"], rel=1e-12) and placed["timestamps"] == at["timestamps"]
    for body, says in (({"context": series[:20].tolist(), "context_start": "2010-01-15"}, "is not on the series' "
                        "monthly axis"), ({"context_start": "2010-01-01"}, "give the context too"),
                       ({"context": series[:20].tolist(), "context_start": "June"}, "must be an ISO 8601")):
        r = stack.api.http.post(f"/v1/models/{with_months['id']}/forecast", json={"horizon": 3, **body})
        assert r.status_code == 422 and says in r.text, r.text
    png = stack.api.http.get(f"/v1/models/{with_months['id']}/forecast.png", params={"origin": 60, "horizon": 12})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert stack.api.http.get(f"/v1/models/{with_months['id']}/forecast.png",
                              params={"horizon": 12}).status_code == 200


def test_a_covariate_model_backtests(stack, models):
    with_months = models[0]
    assert with_months["backtest"]["origins"] > 0  # the training verdict ran through the covariates
    r = stack.api.http.post(f"/v1/models/{with_months['id']}/backtest", json={"origins": 4, "horizon": 6})
    assert r.status_code == 200, r.text
    assert r.json()["origins"] == 4 and r.json()["model"]["mase"] > 0


def test_covariates_are_refused_where_there_is_no_time_axis(stack, dataset):
    http = stack.api.http
    sine = http.post("/v1/jobs", json={"cell": "GRU", **TINY, "covariates": "calendar"})
    assert sine.status_code == 422 and "covariates ('calendar')" in sine.text and "the sine" in sine.text
    bare = http.post("/v1/datasets", content="v\n" + "".join(f"{v}\n" for v in values()),
                     headers={"Content-Type": "text/csv"})
    assert bare.status_code == 201, bare.text
    refused = http.post("/v1/jobs", json={"cell": "GRU", **SMALL, "sequence_length": SEQ, "covariates": "month",
                                          "data": {"dataset_id": bare.json()["id"]}})
    assert refused.status_code == 422 and "upload it with a date/time column" in refused.text
    finetune = http.post("/v1/jobs", json={"cell": "GRU", **SMALL, "sequence_length": SEQ, "covariates": "trend",
                                           "rollout_finetune": {"epochs": 1},
                                           "data": {"dataset_id": dataset["id"]}})
    assert finetune.status_code == 422 and "rollout_finetune" in finetune.text
    bad = http.post("/v1/jobs", json={"cell": "GRU", **TINY, "covariates": "moon"})
    assert bad.status_code == 422 and "covariates" in bad.text


def test_the_cli_trains_with_covariates_as_the_docs_show(stack, dataset):
    """docs/guides/training.md: `rnncast train --cell GRU --dataset <DATASET> --difference first --covariates
    calendar --epochs 100` (here 2 epochs, a small model)."""
    result = CliRunner().invoke(app, ["train", "--cell", "GRU", "--dataset", dataset["id"], "--difference", "first",
                                      "--covariates", "calendar", "--epochs", "2", "--hidden-size", "4",
                                      "--sequence-length", str(SEQ), "--json", "--url", stack.api.url])
    assert result.exit_code == 0, result.output
    job = json.loads(result.output)
    assert (job["params"]["covariates"], job["params"]["difference"]) == ("calendar", "first")
    assert stack.api.wait_job(job["id"])["status"] == "succeeded"
