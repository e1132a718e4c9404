"""A dataset's time axis and a model's verdict through the real API, workers and Redis: timestamps in the record,
forecasts and backtests; missing values filled on request; the drift baseline, MASE, and a model that loses to
a baseline saying so (and answering that baseline's forecast when asked)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from rnncast.client.cli import app
from tests.support import TINY, month_start, upload_monthly

SMALL = {k: v for k, v in TINY.items() if k != "data"}
MONTHS = 120
SEQ = 12


def monthly() -> np.ndarray:
    """A line, a yearly season and a little noise: seasonal naive with drift is nearly exact here."""
    t = np.arange(MONTHS)
    rng = np.random.default_rng(3)
    return np.round(100 + 0.8 * t + 10 * np.sin(2 * math.pi * t / 12) + rng.normal(0, 0.5, MONTHS), 3)


month = month_start


@pytest.fixture(scope="module")
def dataset(stack) -> dict:
    return upload_monthly(stack.api.http, monthly(), "sales")


@pytest.fixture(scope="module")
def model(stack, dataset) -> dict:
    job = stack.api.http.post("/v1/jobs", json={"cell": "GRU", **SMALL, "epochs": 2, "sequence_length": SEQ,
                                                "data": {"dataset_id": dataset["id"]}}).json()
    done = stack.api.wait_job(job["id"])
    assert done["status"] == "succeeded", done
    return stack.api.http.get(f"/v1/models/{done['model_id']}").json()


def forecast(stack, model_id: str, **body) -> dict:
    r = stack.api.http.post(f"/v1/models/{model_id}/forecast", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_monthly_csv_keeps_its_time_axis_in_the_record_and_the_store(stack, dataset):
    assert (dataset["frequency"], dataset["start"], dataset["end"]) == ("monthly", month(0), month(MONTHS - 1))
    assert dataset["month_end"] is False and dataset["source"]["time_column"] == "month"
    page = stack.api.http.get(f"/v1/datasets/{dataset['id']}/values", params={"offset": 118}).json()
    assert page["values"] == monthly()[118:].tolist() and page["timestamps"] == [month(118), month(119)]
    stored = np.load(stack.data_dir / "datasets" / dataset["id"] / "timestamps.npy", allow_pickle=False)
    assert stored.dtype == np.dtype("datetime64[s]") and stored.shape == (MONTHS,)
    assert [str(t) for t in stored[[0, 1, -1]]] == [month(0), month(1), month(MONTHS - 1)]


def test_missing_values_are_filled_when_the_upload_asks(stack):
    text = "d,v\n2024-01-31,1\n2024-02-29,\n2024-03-31,5\n2024-04-30,NA\n"
    refused = stack.api.http.post("/v1/datasets", content=text, headers={"Content-Type": "text/csv"})
    assert refused.status_code == 422 and "row 3, column 'v': the value is missing" in refused.text
    for missing, values in (("interpolate", [1, 3, 5, 5]), ("ffill", [1, 1, 5, 5])):
        r = stack.api.http.post("/v1/datasets", content=text, headers={"Content-Type": "text/csv"},
                                params={"missing": missing})
        assert r.status_code == 201, r.text
        record = r.json()
        assert record["source"]["missing"] == missing and record["source"]["filled"] == 2
        assert (record["frequency"], record["month_end"], record["end"]) == ("monthly", True, "2024-04-30T00:00:00")
        assert stack.api.http.get(f"/v1/datasets/{record['id']}/values").json()["values"] == values


def test_the_cli_uploads_with_a_column_and_a_missing_policy(stack, tmp_path):
    """The command docs/guides/datasets.md shows: `rnncast datasets upload FILE --column NAME --missing ...`."""
    path = tmp_path / "shop.csv"
    path.write_text("week,sales,stock\n2024-01-01,1,9\n2024-01-08,NA,8\n2024-01-15,5,7\n")
    result = CliRunner().invoke(app, ["datasets", "upload", str(path), "--column", "sales", "--missing",
                                      "interpolate", "--json", "--url", stack.api.url])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert (record["frequency"], record["source"]["filled"], record["stats"]["mean"]) == ("weekly", 1, 3.0)
    refused = CliRunner().invoke(app, ["datasets", "upload", str(path), "--url", stack.api.url])
    assert refused.exit_code != 0 and "several numeric columns ['sales', 'stock']" in refused.output


def test_forecasts_answer_timestamps_beside_positions(stack, dataset, model):
    values = monthly()
    ahead = forecast(stack, model["id"], horizon=3)
    assert ahead["x"] == [120.0, 121.0, 122.0] and ahead["timestamps"] == [month(120), month(121), month(122)]
    at = forecast(stack, model["id"], origin=100, horizon=2)
    assert at["timestamps"] == [month(100), month(101)]
    # A context that is the series' tail goes on from its end; any other context has no place on the axis.
    tail = forecast(stack, model["id"], context=values[-SEQ:].tolist(), horizon=3)
    assert tail["timestamps"] == ahead["timestamps"] and tail["y"] == pytest.approx(ahead["y"])
    assert "timestamps" not in forecast(stack, model["id"], context=values[50:62].tolist(), horizon=3)
    assert set(forecast(stack, model["id"], horizon=3, fields=["timestamps"])) >= {"model_id", "timestamps"}


def test_a_backtest_scores_drift_and_mase_and_answers_origin_timestamps(stack, model):
    values = monthly()
    r = stack.api.http.post(f"/v1/models/{model['id']}/backtest", json={"origins": 5, "horizon": 6})
    assert r.status_code == 200, r.text
    result = r.json()
    season, first, origins = result["season"], result["test_start"], result["origin_positions"]
    assert season == 12 and result["origin_timestamps"] == [month(k) for k in origins]
    scale = np.mean(np.abs(values[season:first] - values[: first - season]))
    assert result["mase_scale"] == pytest.approx(scale, rel=1e-12)
    truth = np.array([values[k : k + 6] for k in origins])
    drift = []
    for k in origins:
        d = np.mean(values[season:k] - values[: k - season])
        drift.append([values[k - 1 + h - season * math.ceil(h / season)] + math.ceil(h / season) * d
                      for h in range(1, 7)])
    err = np.array(drift) - truth
    got = result["seasonal_naive_drift"]
    assert got["mse"] == pytest.approx(float(np.mean(err**2)), rel=1e-9)
    assert got["mase"] == pytest.approx(float(np.mean(np.abs(err))) / scale, rel=1e-9)
    assert got["mape"] == pytest.approx(float(np.mean(np.abs(err) / truth)) * 100, rel=1e-9)
    for name in ("model", "naive", "seasonal_naive"):
        assert result[name]["mase"] == pytest.approx(result[name]["mae"] / scale, rel=1e-9)
    # On a line plus a season the drift wins over plain seasonal naive, and the skill is measured against it.
    assert got["mse"] < result["seasonal_naive"]["mse"] and result["best_baseline"] == "seasonal_naive_drift"
    assert result["skill"] == pytest.approx(1 - result["model"]["mse"] / got["mse"])
    # The model's record keeps this backtest's verdict.
    verdict = stack.api.http.get(f"/v1/models/{model['id']}").json()["backtest"]
    assert verdict["skill"] == result["skill"] and verdict["mase"] == result["model"]["mase"]
    assert (verdict["best_baseline"], verdict["origins"], verdict["horizon"]) == ("seasonal_naive_drift", 5, 6)


def test_a_model_that_loses_to_a_baseline_warns_and_answers_the_baseline_when_asked(stack, model):
    # Training on a dataset ran one backtest: this two-epoch model loses to the drift baseline.
    verdict = model["backtest"]
    assert verdict["skill"] < 0 and verdict["best_baseline"] == "seasonal_naive_drift" and verdict["season"] == 12
    mine = forecast(stack, model["id"], origin=100, horizon=14)
    assert "loses to the seasonal_naive_drift baseline by" in mine["warning"] and "source" not in mine
    fallback = forecast(stack, model["id"], origin=100, horizon=14, fallback="baseline")
    assert fallback["source"] == "seasonal_naive_drift" and "warning" in fallback
    values = monthly()
    d = np.mean(values[12:100] - values[:88])
    want = [values[99 + h - 12 * math.ceil(h / 12)] + math.ceil(h / 12) * d for h in range(1, 15)]
    assert fallback["y"] == pytest.approx(want, rel=1e-9)
    assert fallback["exact"] == pytest.approx(values[100:114].tolist())
    assert fallback["timestamps"] == mine["timestamps"] == [month(k) for k in range(100, 114)]
    # The model's own forecast is another one.
    assert not np.allclose(mine["y"], want, rtol=1e-3)
