"""Ensemble forecasts of a comparison: each cell's mean and band are its seeds' single forecasts summarised."""

from __future__ import annotations

import numpy as np
import pytest

from rnncast.common.artifacts import LocalStore
from rnncast.core.checkpoint import load_checkpoint
from tests.support import TINY, wait_until

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def study(stack) -> dict:
    body = {"cells": ["RNN", "GRU"], "seeds": [0, 1, 2], "train": TINY, "forecast": {"start": 60.0, "horizon": 15}}
    r = stack.api.http.post("/v1/comparisons", json=body)
    assert r.status_code == 202, r.text
    cid = r.json()["id"]
    view = wait_until(lambda: (v := stack.api.http.get(f"/v1/comparisons/{cid}").json())["status"] != "running"
                      and v, timeout=120)
    assert view["status"] == "succeeded", view
    return view


def test_the_mean_band_and_errors_equal_the_seeds_single_forecasts(stack, study):
    r = stack.api.http.post(f"/v1/comparisons/{study['id']}/forecast", json={"start": 50.0, "horizon": 12})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["horizon"] == 12 and len(out["x"]) == 12 and len(out["exact"]) == 12
    for cell in ("RNN", "GRU"):
        runs = [run for run in study["runs"] if run["cell"] == cell]
        singles = {run["seed"]: stack.api.http.post(f"/v1/models/{run['job_id']}/forecast",
                                                    json={"start": 50.0, "horizon": 12}).json() for run in runs}
        ys = np.array([singles[s]["y"] for s in sorted(singles)])
        band = out["cells"][cell]
        assert band["n"] == 3
        np.testing.assert_allclose(band["mean"], ys.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(band["std"], ys.std(axis=0, ddof=1), rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(band["lower"], ys.mean(axis=0) - 2 * ys.std(axis=0, ddof=1), rtol=1e-9)
        np.testing.assert_allclose(band["upper"], ys.mean(axis=0) + 2 * ys.std(axis=0, ddof=1), rtol=1e-9)
        np.testing.assert_array_equal(band["min"], ys.min(axis=0))
        np.testing.assert_array_equal(band["max"], ys.max(axis=0))
        for seed in band["seeds"]:
            assert seed["mse"] == pytest.approx(singles[seed["seed"]]["mse"], rel=1e-12)
        truth = np.array(out["exact"])
        assert band["mse_of_mean"] == pytest.approx(float(np.mean((ys.mean(axis=0) - truth) ** 2)))


def test_defaults_context_figure_and_refusals(stack, study):
    default = stack.api.http.post(f"/v1/comparisons/{study['id']}/forecast", json={"horizon": 15}).json()
    assert default["x"][0] == 60.0  # where the runs' own forecasts started
    mine = stack.api.http.post(f"/v1/comparisons/{study['id']}/forecast",
                               json={"context": [0.1 * k for k in range(10)], "horizon": 4}).json()
    assert mine["exact"] is None and all(s["mse"] is None for s in mine["cells"]["GRU"]["seeds"])
    png = stack.api.http.get(f"/v1/comparisons/{study['id']}/forecast.png", params={"start": 50, "horizon": 30})
    assert png.status_code == 200 and png.content.startswith(PNG)
    assert stack.api.http.post(f"/v1/comparisons/{'0' * 32}/forecast", json={"horizon": 3}).status_code == 404
    r = stack.api.http.post(f"/v1/comparisons/{study['id']}/forecast", json={"start": 1.0, "context": [1.0] * 10})
    assert r.status_code == 422
    r = stack.api.http.post(f"/v1/comparisons/{study['id']}/forecast", json={"context": [1.0] * 3})
    assert r.status_code == 422 and "sequence_length" in r.text


def test_a_comparison_without_a_finished_run_is_409(stack):
    body = {"cells": ["LSTM"], "seeds": [0], "train": {**TINY, "epochs": 100_000}}
    study = stack.api.http.post("/v1/comparisons", json=body).json()
    r = stack.api.http.post(f"/v1/comparisons/{study['id']}/forecast", json={"horizon": 3})
    assert r.status_code == 409 and "no run" in r.text
    stack.api.http.post(f"/v1/comparisons/{study['id']}/cancel")


def test_ensemble_intervals_pool_the_members_calibrations_around_each_cell_s_mean(stack, study):
    body = {"start": 50.0, "horizon": 12, "intervals": [0.8, 0.9]}
    r = stack.api.http.post(f"/v1/comparisons/{study['id']}/forecast", json=body)
    assert r.status_code == 200, r.text
    for cell, band in r.json()["cells"].items():
        assert [b["level"] for b in band["intervals"]] == [0.8, 0.9] and band["n"] == 3
        assert band["lower"] and band["upper"]  # the seed band stays beside them
        runs = [run["job_id"] for run in study["runs"] if run["cell"] == cell]
        rows = [load_checkpoint(LocalStore(stack.data_dir / "models" / j), "model").extra["calibration"]["residuals"]
                for j in runs]
        steps = min(len(r) for r in rows)
        pooled = [sorted(v for r in rows for v in r[h]) for h in range(steps)]  # 3 seeds x 14 origins
        n, mean = len(pooled[0]), np.array(band["mean"])
        assert n == 42
        for interval in band["intervals"]:
            k = int(np.ceil((n + 1) * interval["level"]))
            widths = np.array([row[k - 1] for row in pooled])
            np.testing.assert_allclose(np.array(interval["upper"])[:steps] - mean[:steps], widths, rtol=1e-9,
                                       atol=1e-12)
            np.testing.assert_allclose(mean[:steps] - np.array(interval["lower"])[:steps], widths, rtol=1e-9,
                                       atol=1e-12)
    plain = stack.api.http.post(f"/v1/comparisons/{study['id']}/forecast", json={"start": 50.0, "horizon": 12})
    assert "intervals" not in plain.json()["cells"]["GRU"]
    too_high = stack.api.http.post(f"/v1/comparisons/{study['id']}/forecast", json={**body, "intervals": [0.99]})
    assert too_high.status_code == 422 and "needs at least 99 calibration origins" in too_high.text
    bad = stack.api.http.post(f"/v1/comparisons/{study['id']}/forecast", json={**body, "intervals": [1.5]})
    assert bad.status_code == 422
    url = f"/v1/comparisons/{study['id']}/forecast.png"
    plain = stack.api.http.get(url, params={"start": 50, "horizon": 12})
    drawn = stack.api.http.get(url, params={"start": 50, "horizon": 12, "interval": [0.8]})
    assert drawn.status_code == 200 and drawn.content.startswith(PNG) and drawn.content != plain.content
    assert stack.api.http.get(url, params={"interval": [0.0]}).status_code == 422
