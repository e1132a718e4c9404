"""Conformal prediction intervals through the real API, workers and Redis: calibrated when training ends, in
forecasts, figures and backtests' coverage; refused clearly where they cannot be given."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rnncast.common.artifacts import LocalStore
from rnncast.core.checkpoint import load_checkpoint
from tests.service.test_models import PNG, forecast, train_model

NOISY = {"data": {"points": 1000, "stop": 500, "noise_std": 0.1}}


@pytest.fixture(scope="module")
def noisy(stack):
    return train_model(stack, name="intervals", **NOISY)


def residuals(stack, model_id) -> list[list[float]]:
    ckpt = load_checkpoint(LocalStore(stack.data_dir / "models" / model_id), "model")
    return ckpt.extra["calibration"]["residuals"]


def test_training_calibrates_the_model_on_the_first_half_of_its_test_part(stack, noisy):
    # 1000 points, sequence_length 10: the test part starts at 802; its first half [802, 901) calibrates,
    # 24 steps (at most a third of it) from each of the 76 origins whose targets all lie inside it.
    assert noisy["calibration"] == {"origins": 76, "steps": 24, "start": 802, "end": 901,
                                    "max_level": pytest.approx(76 / 77, abs=1e-6)}
    rows = residuals(stack, noisy["id"])
    assert len(rows) == 24 and all(len(r) == 76 and r == sorted(r) and r[0] >= 0 for r in rows)


def test_forecast_intervals_are_the_forecast_plus_minus_the_corrected_quantile_per_step(stack, noisy):
    r = forecast(stack, noisy["id"], start=60.0, horizon=30, intervals=[0.8, 0.95])
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["calibrated_steps"] == 24 and [b["level"] for b in out["intervals"]] == [0.8, 0.95]
    rows, y = residuals(stack, noisy["id"]), np.array(out["y"])
    for band in out["intervals"]:
        lower, upper = np.array(band["lower"]), np.array(band["upper"])
        assert lower.shape == upper.shape == (30,)
        k = math.ceil(77 * band["level"])  # ceil((n + 1) level), n = 76
        widths = np.array([row[k - 1] for row in rows])
        np.testing.assert_allclose(upper[:24] - y[:24], widths, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(y[:24] - lower[:24], widths, rtol=1e-9, atol=1e-12)
        # Past the calibrated steps, the last step's half-width grows as sqrt(h / 24).
        np.testing.assert_allclose(upper[24:] - y[24:], widths[-1] * np.sqrt(np.arange(25, 31) / 24), rtol=1e-9)
    narrow, wide = out["intervals"]
    assert np.all(np.array(wide["upper"]) >= np.array(narrow["upper"]))
    # Without `intervals`, the answer is as before; with `fields`, the intervals still come.
    plain = forecast(stack, noisy["id"], start=60.0, horizon=30).json()
    assert "intervals" not in plain and plain["y"] == out["y"]
    lean = forecast(stack, noisy["id"], start=60.0, horizon=30, intervals=[0.8], fields=["y"]).json()
    assert set(lean) == {"model_id", "horizon", "y", "intervals", "calibrated_steps"}


@pytest.mark.parametrize(("levels", "needle"), [
    ([1.5], "less than 1"), ([0], "greater than 0"), ([0.5, 0.6, 0.7, 0.8, 0.9], "at most 4"), ([], "at least 1"),
    (["high"], "valid number"),
])
def test_bad_interval_levels_are_422(stack, noisy, levels, needle):
    r = forecast(stack, noisy["id"], start=60.0, horizon=5, intervals=levels)
    assert r.status_code == 422 and needle in r.text, r.text
    r = stack.api.http.post(f"/v1/models/{noisy['id']}/backtest", json={"intervals": levels})
    assert r.status_code == 422 and needle in r.text, r.text


def test_a_level_beyond_the_calibration_s_size_is_422_saying_what_it_needs(stack, noisy):
    r = forecast(stack, noisy["id"], start=60.0, horizon=5, intervals=[0.8, 0.99])
    assert r.status_code == 422
    assert "level 0.99 needs at least 99 calibration origins; this model has 76" in r.json()["detail"]


def test_the_figure_shades_the_intervals_and_refuses_bad_levels(stack, noisy):
    url = f"/v1/models/{noisy['id']}/forecast.png"
    plain = stack.api.http.get(url, params={"start": 60, "horizon": 30})
    shaded = stack.api.http.get(url, params={"start": 60, "horizon": 30, "interval": [0.8, 0.95]})
    assert shaded.status_code == 200 and shaded.content.startswith(PNG) and shaded.content != plain.content
    bad = stack.api.http.get(url, params={"start": 60, "interval": [2.0]})
    assert bad.status_code == 422 and "less than 1" in bad.text
    many = stack.api.http.get(url, params={"start": 60, "interval": [0.1, 0.2, 0.3, 0.4, 0.5]})
    assert many.status_code == 422 and "at most 4" in many.text


def test_backtests_report_coverage_per_level_on_origins_past_the_calibration_part(stack, noisy):
    r = stack.api.http.post(f"/v1/models/{noisy['id']}/backtest", json={"origins": 200, "horizon": 6})
    assert r.status_code == 200, r.text
    out = r.json()
    held_out = [p for p in out["origin_positions"] if p >= 901]
    assert out["calibration_end"] == 901 and out["coverage_origins"] == len(held_out) > 80
    assert set(out["coverage"]) == {"0.8", "0.95"}
    assert 0.6 <= out["coverage"]["0.8"] <= out["coverage"]["0.95"] <= 1
    mine = stack.api.http.post(f"/v1/models/{noisy['id']}/backtest",
                               json={"origins": 200, "horizon": 6, "intervals": [0.5]}).json()
    assert set(mine["coverage"]) == {"0.5"} and mine["coverage"]["0.5"] <= out["coverage"]["0.8"]


def test_a_model_without_calibration_answers_409_and_backtests_without_coverage(stack):
    # A test part of 19 values: its first half gives too few origins to calibrate on.
    short = train_model(stack, data={"points": 200, "stop": 100, "train_fraction": 0.9})
    assert short["calibration"] is None
    r = forecast(stack, short["id"], start=60.0, horizon=5, intervals=[0.8])
    assert r.status_code == 409 and "has no calibration" in r.json()["detail"]
    assert forecast(stack, short["id"], start=60.0, horizon=5).status_code == 200
    out = stack.api.http.post(f"/v1/models/{short['id']}/backtest", json={"origins": 5, "horizon": 2}).json()
    assert out["coverage"] is None and out["coverage_origins"] == 0


def test_a_default_level_the_calibration_is_too_small_for_is_null_in_backtests(stack):
    model = train_model(stack)  # 200 points: 14 calibration origins, enough for 0.9, too few for 0.95
    assert model["calibration"]["origins"] == 14
    out = stack.api.http.post(f"/v1/models/{model['id']}/backtest", json={"origins": 30, "horizon": 2}).json()
    assert out["coverage"]["0.8"] is not None and out["coverage"]["0.95"] is None


def test_a_checkpoint_from_before_intervals_answers_409(stack):
    model = train_model(stack)
    folder = LocalStore(stack.data_dir / "models" / model["id"])
    raw = json.loads(folder.get("model.json"))
    assert raw["extra"].pop("calibration")  # the manifest as the code before intervals wrote it
    folder.put("model.json", json.dumps(raw).encode())
    r = forecast(stack, model["id"], start=60.0, horizon=5, intervals=[0.8])
    assert r.status_code == 409 and "trained before intervals existed" in r.json()["detail"]
