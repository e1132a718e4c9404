"""Series (common.series) and backtests (core.backtest): parsing, generators, scaling, seasons, metrics, training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnncast.common.artifacts import LocalStore
from rnncast.common.csvseries import parse_csv
from rnncast.common.options import DatasetData, ModelOptions, TrainOptions, data_options
from rnncast.common.series import SeriesError, check_values, generate, split_point, train_scaler
from rnncast.core.backtest import (
    BacktestSetup,
    backtest,
    backtest_origins,
    errors,
    find_season,
    naive_forecasts,
    seasonal_naive_forecasts,
)
from rnncast.core.checkpoint import load_checkpoint, save_checkpoint
from rnncast.core.evaluate import evaluate
from rnncast.core.train import train
from rnncast.core.transform import Transform
from tests.support import worker_torch


@pytest.mark.parametrize(("text", "column", "values", "name", "times"), [
    ("v\n1\n2\n3\n", None, [1, 2, 3], "v", None),
    ("1\n2\n3\n", None, [1, 2, 3], "0", None),
    ("a,b\n1,10\n2,20\n3,30\n", "b", [10, 20, 30], "b", None),
    ("a,b\n1,10\n2,20\n3,30\n", "a", [1, 2, 3], "a", None),
    ("1,10\n2,20\n3,30\n", "0", [1, 2, 3], "0", None),
    ("\ufeffdate;x\n2020-01-01;1.5\n2020-02-01;2.5\n\n2020-03-01;-3e2\n", None, [1.5, 2.5, -300], "x", "date"),
    ("Jan-1-1995,66.19\nFeb-1-1995,65.15\nMar-1-1995,74.48\n", None, [66.19, 65.15, 74.48], "1", "0"),
    ('"t","y"\n"2024-01-01 10:00","1"\n"2024-01-01 11:00","2"\n"2024-01-01 12:00","3"\n', None, [1, 2, 3], "y",
     "t"),
    ("label,v\nx,1\ny,2\nz,3\n", None, [1, 2, 3], "v", None),  # a first column that is not times: not checked
])
def test_csv_columns_headers_and_time_columns(text, column, values, name, times):
    parsed = parse_csv(text, column, 100)
    np.testing.assert_array_equal(parsed.values, values)
    assert (parsed.column, parsed.rows, parsed.time_column) == (name, len(values), times)


@pytest.mark.parametrize(("text", "column", "says"), [
    ("", None, "no rows"),
    ("a,b\n", None, "header row but no data rows"),
    ("v\n1\n2\n", None, "at least 3"),
    ("v\n1\n2\n3\n4\n5\n6\n", None, "6 rows exceed"),
    ("a,b\n1,2\n3\n5,6\n", "b", "row 3 has no column 'b'"),
    ("a,b\n1,2\n3,inf\n5,6\n", "b", "row 3, column 'b': 'inf' is not a finite number"),
    ("a,b\n1,2\n3,\n5,6\n", "b", "row 3, column 'b': the value is missing"),
    ("a,b\n1,2\n3,4\n5,6\n", None, "several numeric columns ['a', 'b']"),
    ("d,v\n2020-01-01,1\n2020-01-01,2\n2020-01-03,3\n", None, "row 3: time '2020-01-01' is not after"),
    ("d,v\n2020-01-01,1\n01/02/2020,2\n2020-01-03,3\n", None, "row 3: time '01/02/2020' does not parse like"),
    ("a,b\nx,y\n", None, "row 2 holds no number"),
    ("a,b\n1,2\n", "zz", "column 'zz' is not in the CSV"),
])
def test_csv_refusals_name_the_row_or_value(text, column, says):
    with pytest.raises(SeriesError, match=None) as info:
        parse_csv(text, column, 5)
    assert says in str(info.value)


def test_values_are_checked_for_count_and_finiteness():
    assert check_values([1, 2, 3], 3).dtype == np.float64
    for values, says in [([1, 2], "at least 3"), ([1, 2, 3, 4], "4 values exceed"), ([1, math.nan, 2], "value 1")]:
        with pytest.raises(SeriesError, match=says):
            check_values(values, 3)


def test_generators_follow_their_formulas():
    t = np.arange(50) * 0.5
    sine = generate({"kind": "sine", "points": 50, "step": 0.5, "amplitude": 2, "period": 10, "phase": 1})
    np.testing.assert_allclose(sine, 2 * np.sin(2 * math.pi * t / 10 + 1))
    sines = generate({"kind": "sines", "points": 50, "step": 0.5,
                      "components": [{"amplitude": 1, "period": 5, "phase": 0}, {"amplitude": 3, "period": 7,
                                                                                  "phase": 2}]})
    np.testing.assert_allclose(sines, np.sin(2 * math.pi * t / 5) + 3 * np.sin(2 * math.pi * t / 7 + 2))
    damped = generate({"kind": "damped_sine", "points": 50, "step": 0.5, "amplitude": 1, "period": 10, "phase": 0,
                       "decay": 0.1})
    np.testing.assert_allclose(damped, np.exp(-0.1 * t) * np.sin(2 * math.pi * t / 10))
    walk = generate({"kind": "random_walk", "points": 50, "start": 5, "drift": 1, "step_std": 1e-12, "seed": 3})
    np.testing.assert_allclose(walk, 5 + np.arange(1, 51), rtol=1e-9)
    noisy = [generate({"kind": "sine", "points": 50, "amplitude": 1, "period": 10, "phase": 0, "noise_std": 0.1,
                       "seed": s}) for s in (1, 1, 2)]
    np.testing.assert_array_equal(noisy[0], noisy[1])
    assert not np.array_equal(noisy[0], noisy[2])


def test_the_scaler_is_the_train_parts_and_a_flat_one_scales_by_one():
    values = np.arange(100.0)
    first = split_point(100, 10, 0.8)
    assert first == int(90 * 0.8) + 10
    scaler = train_scaler(values, 10, 0.8)
    assert (scaler.mean, scaler.std) == pytest.approx((values[:first].mean(), values[:first].std()))
    np.testing.assert_allclose(scaler.inverse(scaler.forward(values)), values)
    assert train_scaler(np.ones(100), 10, 0.8).std == 1.0
    with pytest.raises(SeriesError, match="no train or no test window"):
        split_point(11, 10, 0.8)


def test_seasons_are_found_through_a_trend_and_not_in_noise():
    t = np.arange(400)
    assert find_season(np.sin(2 * math.pi * t / 12) + 0.05 * t, 1000) == 12
    assert find_season(np.random.default_rng(0).normal(size=400).cumsum(), 1000) == 1


def test_baselines_and_metrics_against_the_textbook_definitions():
    values = np.arange(30.0) ** 1.5
    origins = backtest_origins(30, 20, 4, 5)
    np.testing.assert_array_equal(origins, [20, 22, 23, 24, 26])  # 20..26 in 5 (halves to even)
    naive = naive_forecasts(values, origins, 4)
    np.testing.assert_array_equal(naive, np.repeat(values[origins - 1][:, None], 4, axis=1))
    for season in (1, 3, 7):
        got = seasonal_naive_forecasts(values, origins, 4, season)
        want = [[values[k - 1 + h - season * math.ceil(h / season)] for h in range(1, 5)] for k in origins]
        np.testing.assert_array_equal(got, want)
    truth = np.array([[1.0, 0.0], [2.0, -2.0]])
    preds = np.array([[2.0, 0.0], [2.0, 2.0]])
    out = errors(truth, preds)
    assert out["mse"] == pytest.approx((1 + 0 + 0 + 16) / 4) and out["mae"] == pytest.approx(5 / 4)
    # sMAPE: 200*1/3, 0 (both zero), 0, 200*4/4.
    assert out["smape"] == pytest.approx((200 / 3 + 200) / 4)
    assert out["per_step"]["mse"] == pytest.approx([0.5, 8.0])
    assert errors(truth, np.full((2, 2), np.nan))["mse"] is None
    with pytest.raises(SeriesError, match="no origin fits"):
        backtest_origins(30, 20, 11, 5)


def series_config(values: np.ndarray, **kw) -> DatasetData:
    return DatasetData(dataset_id="a" * 32, sha256="b" * 64, length=values.shape[0], **kw)


def test_training_on_a_series_reports_its_units_and_resumes_to_the_bit(tmp_path):
    values = 50 + 20 * np.sin(2 * math.pi * np.arange(150) / 15)
    data = series_config(values)
    assert data_options(data.to_dict()) == data
    model = ModelOptions(cell="GRU", hidden_size=6)
    cfg = TrainOptions(epochs=4, batch_size=32, lr=0.01, sequence_length=12, checkpoint_every=2)
    saved = {}

    def keep(state):
        if state.epoch == 2:
            save_checkpoint(LocalStore(tmp_path), "half", model=state.model, data=data, train=cfg, epoch=2,
                            history=state.history, optimizer=state.optimizer)
            saved["done"] = True

    scaler = train_scaler(values, cfg.sequence_length, data.train_fraction)
    with worker_torch():
        whole = train(model, data, cfg, series=values, on_checkpoint=keep)
        resumed = train(model, data, cfg, series=values, resume=load_checkpoint(LocalStore(tmp_path), "half"))
        given = train(model, data, cfg, series=values, transform=Transform(0, scaler))  # a caller's (the worker's)
    assert saved and whole.scaler == scaler and given.scaler is scaler
    assert resumed.history == whole.history == given.history
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # Losses are in the series' units: the standardised test MSE times the train part's variance.
    assert whole.split is not None
    normalized = evaluate(whole.model, whole.split.test_x, whole.split.test_y)
    assert whole.history["test_loss"][-1] == pytest.approx(normalized * whole.scaler.std**2, rel=1e-12)
    with pytest.raises(ValueError, match="values are needed"):
        train(model, data, cfg, series=values[:-1])


def test_a_dataset_models_checkpoint_keeps_its_series_and_scaler_and_backtests(tmp_path):
    values = np.cos(np.arange(120) / 3.0) * 7 + 1
    data = series_config(values, step=0.25)
    model = ModelOptions(cell="LSTM", hidden_size=5)
    cfg = TrainOptions(epochs=2, batch_size=32, lr=0.01, sequence_length=8)
    with worker_torch():
        result = train(model, data, cfg, series=values)
        save_checkpoint(LocalStore(tmp_path), "model", model=result.model, data=data, train=cfg, epoch=2,
                        history=result.history, series=values, scaler=result.scaler)
        ckpt = load_checkpoint(LocalStore(tmp_path), "model")
        assert ckpt.data == data and ckpt.scaler == result.scaler
        np.testing.assert_array_equal(ckpt.series, values)
        setup = BacktestSetup(values, split_point(120, 8, 0.8), 8, ckpt.transform)
        one = backtest(ckpt.build_model(), setup, origins=6, horizon=4, rows_per_batch=1)
        batched = backtest(ckpt.build_model(), setup, origins=6, horizon=4)
    assert one == batched  # batching changes no number
    assert one["origins"] == 6 and one["season"] > 1 and one["season_source"] == "autocorrelation"
