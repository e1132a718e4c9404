"""A real public series, end to end: sunspots (statsmodels ships it as CSV) uploaded, trained on, forecast and
backtested through the CLI and the client against the real stack.

This is the walk-through of docs/guides/datasets.md: the page's commands are these, and each claim it makes is
asserted here. With RNNCAST_SCREENSHOT_DIR set (`make screenshots`), the two figures the page shows are saved there.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import statsmodels.datasets.sunspots as sunspots
from typer.testing import CliRunner

from rnncast.client.api import Client
from rnncast.client.cli import app

PNG = b"\x89PNG\r\n\x1a\n"
CSV = Path(sunspots.__file__).with_name("sunspots.csv")  # "YEAR","SUNACTIVITY", 1700-2008
SEQ = 22  # two solar cycles
SHOTS = os.environ.get("RNNCAST_SCREENSHOT_DIR")


def cli(stack, *args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--url", stack.api.url])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def yearly() -> np.ndarray:
    rows = [line.split(",") for line in CSV.read_text().splitlines()[1:] if line.strip()]
    return np.array([float(r[1]) for r in rows])


def test_sunspots_upload_train_forecast_and_backtest_through_the_cli(stack, yearly, tmp_path, capsys):
    uploaded = json.loads(cli(stack, "datasets", "upload", str(CSV), "--json"))
    assert uploaded["length"] == 309 and uploaded["source"]["column"] == "SUNACTIVITY"
    # Its YEAR column of whole years is a yearly time axis.
    assert (uploaded["frequency"], uploaded["start"], uploaded["end"]) == (
        "yearly", "1700-01-01T00:00:00", "2008-01-01T00:00:00")
    assert uploaded["name"] == "sunspots.csv"
    assert uploaded["stats"]["mean"] == pytest.approx(yearly.mean())
    listing = cli(stack, "datasets")
    assert uploaded["id"][:8] in listing
    shown = cli(stack, "dataset", uploaded["id"], "--plot", str(tmp_path / "series.png"))
    assert "309 values" in shown and "yearly from 1700-01-01T00:00:00" in shown
    assert (tmp_path / "series.png").read_bytes().startswith(PNG)

    job = json.loads(cli(stack, "train", "--cell", "LSTM", "--dataset", uploaded["id"], "--epochs", "30",
                         "--hidden-size", "12", "--sequence-length", str(SEQ), "--batch-size", "32", "--lr", "0.01",
                         "--watch", "--json"))
    assert job["status"] == "succeeded" and job["params"]["data"]["dataset_id"] == uploaded["id"]
    model_id = job["model_id"]

    # From the series' end: the years 2009 onwards, in sunspot numbers.
    ahead = json.loads(cli(stack, "forecast", model_id, "--horizon", "11", "--json"))
    assert ahead["x"] == [float(k) for k in range(309, 320)] and ahead["exact"] is None
    assert ahead["timestamps"] == [f"{year}-01-01T00:00:00" for year in range(2009, 2020)]
    assert all(-100 < y < 400 for y in ahead["y"])
    figures = Path(SHOTS) if SHOTS else tmp_path

    # From 1980 (position 280): the exact values are the series' own, and the MSE is computed over them.
    past = json.loads(cli(stack, "forecast", model_id, "--origin", "280", "--horizon", "29", "--json",
                          "--plot", str(figures / "sunspots-forecast.png")))
    assert past["x"] == [float(k) for k in range(280, 309)] and past["exact"] == pytest.approx(yearly[280:309].tolist())
    assert past["mse"] == pytest.approx(float(np.mean((np.array(past["y"]) - yearly[280:309]) ** 2)))
    assert (figures / "sunspots-forecast.png").read_bytes().startswith(PNG)

    bt_png = figures / "sunspots-backtest.png"
    out = cli(stack, "backtest", model_id, "--origins", "12", "--horizon", "6", "--plot", str(bt_png))
    assert "skill" in out and "seasonal naive (season 11)" in out
    assert bt_png.read_bytes().startswith(PNG)
    result = json.loads(cli(stack, "backtest", model_id, "--origins", "12", "--horizon", "6", "--json"))
    assert result["season"] == 11 and result["season_source"] == "autocorrelation"  # the solar cycle

    # Every number of the backtest, from the model's own forecasts of the windows before each origin.
    with Client(stack.api.url) as c:
        preds = np.array([c.forecast(model_id, context=yearly[k - SEQ : k].tolist(), horizon=6).y
                          for k in result["origin_positions"]])
    origins = result["origin_positions"]
    assert result["origins"] == len(origins) == 12
    assert origins[0] == int((309 - SEQ) * 0.8) + SEQ and origins[-1] == 309 - 6
    truth = np.array([yearly[k : k + 6] for k in origins])
    naive = np.array([[yearly[k - 1]] * 6 for k in origins])
    seasonal = np.array([[yearly[k - 1 + h - 11 * math.ceil(h / 11)] for h in range(1, 7)] for k in origins])
    # With drift: plus, per season ahead, the mean change over 11 years of the values before the origin.
    drift = np.array([[yearly[k - 1 + h - 11 * math.ceil(h / 11)] + math.ceil(h / 11) * np.mean(
        yearly[11:k] - yearly[: k - 11]) for h in range(1, 7)] for k in origins])
    first = origins[0]
    scale = np.mean(np.abs(yearly[11:first] - yearly[: first - 11]))  # MASE's: seasonal naive in the train part
    assert result["origin_timestamps"][0] == f"{1700 + first}-01-01T00:00:00"
    for name, forecasts in (("model", preds), ("naive", naive), ("seasonal_naive", seasonal),
                            ("seasonal_naive_drift", drift)):
        err = forecasts - truth
        assert result[name]["mse"] == pytest.approx(float(np.mean(err**2)), rel=1e-9)
        assert result[name]["mae"] == pytest.approx(float(np.mean(np.abs(err))), rel=1e-9)
        denom = np.abs(truth) + np.abs(forecasts)
        smape = np.where(denom > 0, 200 * np.abs(err) / np.where(denom > 0, denom, 1), 0)
        assert result[name]["smape"] == pytest.approx(float(np.mean(smape)), rel=1e-9)
        np.testing.assert_allclose(result[name]["per_step"]["mae"], np.abs(err).mean(axis=0), rtol=1e-9)
        assert result[name]["mase"] == pytest.approx(float(np.mean(np.abs(err))) / scale, rel=1e-9)
    best = min(result[name]["mse"] for name in ("naive", "seasonal_naive", "seasonal_naive_drift"))
    assert result["skill"] == pytest.approx(1 - result["model"]["mse"] / best)
    # The page names the better baseline (the table's last line does too) and says who wins today.
    assert result["best_baseline"] == "seasonal_naive" and result["seasonal_naive"]["mse"] < min(
        result["naive"]["mse"], result["seasonal_naive_drift"]["mse"])
    assert "the best baseline's, seasonal_naive)" in " ".join(out.split())
    # The page says the model beats both baselines on this run: if a change turns the skill negative, the page
    # must say that seasonal naive wins instead.
    assert result["skill"] > 0, result
    # The model's record keeps the verdict of its last backtest, and its forecasts carry no warning.
    with Client(stack.api.url) as c:
        assert c.model(model_id).backtest["skill"] == result["skill"]
        assert c.forecast(model_id, horizon=3).warning is None
    with capsys.disabled():
        sys.stdout.write(f"\n[sunspots] LSTM backtest: model MSE {result['model']['mse']:.1f}, "
                         f"naive {result['naive']['mse']:.1f}, "
                         f"seasonal naive {result['seasonal_naive']['mse']:.1f}, "
                         f"with drift {result['seasonal_naive_drift']['mse']:.1f}, skill {result['skill']:.3f}; "
                         f"MASE model {result['model']['mase']:.3f}, "
                         f"seasonal naive {result['seasonal_naive']['mase']:.3f}\n")
