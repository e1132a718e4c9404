"""Trend and the use of each window (core.transform, the multi-step head, the loss on every step): differencing
and scaling round-trips, chunked rollouts, every-step training, and checkpoints from before them."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from rnncast.common.artifacts import LocalStore
from rnncast.common.defaults import train_memory
from rnncast.common.options import DatasetData, ModelOptions, SineData, TrainOptions
from rnncast.common.rollout_work import forecast_work, rows_within
from rnncast.common.series import Scaler, SeriesError, split_point
from rnncast.core.backtest import BacktestSetup, backtest
from rnncast.core.checkpoint import load_checkpoint, save_checkpoint
from rnncast.core.data import make_split, prepare_split
from rnncast.core.epoch import every_step_targets
from rnncast.core.forecast import ROW_BLOCK, rollout, rollout_chunks, rollout_numpy
from rnncast.core.models import Forecaster
from rnncast.core.train import train
from rnncast.core.transform import Transform, fit_transform
from rnncast.core.wavefront import padded_buffer
from tests.support import worker_torch


def dataset(values: np.ndarray, **kw) -> DatasetData:
    return DatasetData(dataset_id="a" * 32, sha256="b" * 64, length=values.shape[0], **kw)


SEASONAL = 100 + 0.5 * np.arange(96) + 10 * np.sin(2 * math.pi * np.arange(96) / 12)


@pytest.mark.parametrize("lag", [1, 12])
@pytest.mark.parametrize("scaler", [None, Scaler(0.3, 2.5), Scaler(-1.0, 4.0, "minmax")])
def test_a_differenced_window_and_its_continuation_round_trip(lag, scaler):
    transform = Transform(lag, scaler)
    n, horizon = 60, 20
    window = transform.forward(SEASONAL[n - 24 - lag : n])
    assert window.shape == (24,) and transform.context(24) == 24 + lag
    future = transform.forward(SEASONAL[n - lag : n + horizon])  # the true continuation in the model's units
    np.testing.assert_allclose(transform.inverse(future, SEASONAL[:n]), SEASONAL[n : n + horizon], rtol=1e-12)
    batch = np.stack([SEASONAL[: n], SEASONAL[1 : n + 1]])  # rows integrate from their own last values
    both = transform.inverse(np.stack([future, transform.forward(SEASONAL[n + 1 - lag : n + 1 + horizon])]), batch)
    np.testing.assert_allclose(both[1], SEASONAL[n + 1 : n + 1 + horizon], rtol=1e-12)


def test_the_transform_is_fitted_on_the_train_part_only():
    values = np.concatenate([np.linspace(0, 10, 85), np.full(15, 1000.0)])  # the test part is far larger
    cfg = TrainOptions(sequence_length=10, scaling="minmax")
    transform = fit_transform(dataset(values), cfg, values, 1)
    first = split_point(100, 10, 0.8)
    assert transform.lag == 0 and transform.scaler == Scaler(0.0, float(values[first - 1]), "minmax")
    changed = values.copy()
    changed[first:] = -5.0
    assert fit_transform(dataset(changed), cfg, changed, 1) == transform
    scaled = transform.forward(values[:first])
    assert scaled.min() == 0.0 and scaled.max() == 1.0
    assert fit_transform(dataset(values), TrainOptions(sequence_length=10, scaling="none"), values, 1).scaler == \
        Scaler(0.0, 1.0, "none")
    first_diff = fit_transform(dataset(values), TrainOptions(sequence_length=10, difference="first"), values, 1)
    assert first_diff.lag == 1 and first_diff.scaler is not None
    assert first_diff.scaler.mean == pytest.approx(10 / 84)  # the train part's steps, not the jump to 1000
    seasonal = fit_transform(dataset(SEASONAL), TrainOptions(sequence_length=12, difference="seasonal"), SEASONAL, 1)
    assert seasonal.lag == 12  # the season the train part shows
    line = np.arange(100.0)
    with pytest.raises(SeriesError, match="no season"):
        fit_transform(dataset(line), TrainOptions(sequence_length=10, difference="seasonal"), line, 1)
    with pytest.raises(ValueError, match="apply to a dataset"):
        fit_transform(SineData(), TrainOptions(difference="first"), None, 1)
    assert fit_transform(SineData(), TrainOptions(), None, 1) == Transform()  # the sine is learned as it is


def test_windows_with_k_targets_split_where_the_test_targets_start():
    data = SineData(points=200)
    split = make_split(data, 20, output_steps=3)
    first = split_point(200, 20, 0.8, 3)
    values = torch.from_numpy(np.sin(2 * math.pi * np.linspace(0, 1000, 200) / 20)).float()
    assert split.train_y.shape[1] == split.test_y.shape[1] == 3
    n = split.train_x.shape[0]
    assert first == n + 20 + 2  # the last train window's last target is the value before the test part
    torch.testing.assert_close(split.train_y[-1], values[first - 3 : first])
    torch.testing.assert_close(split.test_y[0], values[first : first + 3])
    torch.testing.assert_close(split.test_x[0, :, 0], values[first - 20 : first])
    assert split.test_x.shape[0] == 200 - 20 - 3 + 1 - n - 2
    # k = 1 is today's split, to the bit
    one, today = make_split(data, 20, output_steps=1), make_split(data, 20)
    for a, b in zip((one.train_x, one.train_y, one.test_x, one.test_y),
                    (today.train_x, today.train_y, today.test_x, today.test_y), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
def test_a_k_step_head_rolls_out_in_chunks(cell):
    torch.manual_seed(0)
    model = Forecaster(ModelOptions(cell=cell, hidden_size=8, output_steps=3)).eval()
    windows = torch.randn(4, 12)  # a whole block of rows: the loop pads none
    out = rollout(model, windows, 7, kernel=False)  # torch's loop; the kernel's (core.kernel) to float32 rounding
    assert out.shape == (4, 7) and model(windows.unsqueeze(-1)).shape == (4, 3)
    with torch.inference_mode():  # by hand: three values, slide by three, ...
        first = model(windows.unsqueeze(-1))
        second = model(torch.cat([windows[:, 3:], first], dim=1).unsqueeze(-1))
        third = model(torch.cat([windows[:, 6:], first, second], dim=1).unsqueeze(-1))
    torch.testing.assert_close(out, torch.cat([first, second, third[:, :1]], dim=1), rtol=0, atol=0)
    torch.testing.assert_close(rollout(model, windows, 7), out, rtol=1e-5, atol=1e-6)
    assert rollout_numpy(model, windows.double().numpy(), 7).shape == (4, 7)
    alone = torch.cat([rollout(model, windows[i : i + 1], 7, kernel=False) for i in range(4)])
    torch.testing.assert_close(alone, out)  # batched or alone, but for float rounding


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
def test_chunks_of_one_are_the_step_rollout(cell):
    torch.manual_seed(1)
    model = Forecaster(ModelOptions(cell=cell, hidden_size=8)).eval()
    windows = torch.randn(6, 10)

    def step_loop(w: torch.Tensor, horizon: int) -> torch.Tensor:  # the loop before chunks, as it was written
        b, t = w.shape
        with torch.inference_mode():
            buf = padded_buffer(w, -(-b // ROW_BLOCK) * ROW_BLOCK, horizon)
            for k in range(horizon):
                buf[:, t + k] = model(buf[:, k : k + t].unsqueeze(-1))[:, 0]
            return buf[:b, t:].clone()

    chunked = rollout_chunks(model, windows, 9, 1)
    assert torch.equal(chunked, step_loop(windows, 9))
    torch.testing.assert_close(rollout(model, windows, 9), chunked)  # the wavefront, as the loop would


def test_a_k_step_heads_forecast_costs_a_pass_per_chunk():
    shape = (24, 48, 20, 1, "GRU")
    assert forecast_work(3, *shape, 1) == forecast_work(3, *shape)  # one step: today's cost
    assert forecast_work(3, *shape, 12) < forecast_work(3, *shape)  # 4 passes over the window, not 48
    assert rows_within(1e11, *shape, 12) > rows_within(1e11, *shape)


def test_the_every_step_loss_counts_in_a_jobs_memory_estimate():
    params = {"cell": "GRU", "hidden_size": 20, "num_layers": 1, "sequence_length": 1000, "batch_size": 500,
              "micro_batch_size": 0, "epochs": 1, "data": {"points": 2000, "train_fraction": 0.8}}
    last = train_memory(params)
    assert train_memory({**params, "loss_on": "last", "output_steps": 1}) == last  # the defaults: as before
    every = train_memory({**params, "loss_on": "all", "output_steps": 500})
    assert every > last + 500 * 1000 * 500 * 4  # (rows, steps, output_steps) floats at least


def test_every_step_targets_are_the_values_after_each_step():
    values = torch.arange(30, dtype=torch.float32)
    x = torch.stack([values[i : i + 6] for i in range(4)]).unsqueeze(-1)  # (4, 6, 1)
    y = torch.stack([values[i + 6 : i + 8] for i in range(4)])  # (4, 2)
    targets = every_step_targets(x, y)
    assert targets.shape == (4, 6, 2)
    for b in range(4):
        for j in range(6):
            assert targets[b, j].tolist() == [b + j + 1, b + j + 2]


def test_the_loss_on_every_step_trains_and_falls():
    data = SineData(points=300, stop=150.0)
    cfg = TrainOptions(epochs=15, batch_size=64, lr=0.01, sequence_length=20, loss_on="all")
    with worker_torch():
        result = train(ModelOptions(cell="GRU", hidden_size=12, output_steps=2), data, cfg)
        last = train(ModelOptions(cell="GRU", hidden_size=12, output_steps=2), data, TrainOptions(
            epochs=15, batch_size=64, lr=0.01, sequence_length=20))
    losses = result.history["train_loss"]
    assert losses[-1] < 0.2 * losses[0]
    assert result.history["test_loss"][-1] < 0.2 * result.history["test_loss"][0]
    assert losses != last.history["train_loss"]  # a different loss than the last step's


def test_first_differencing_continues_a_trend_the_plain_model_cannot():
    values = 5.0 + 2.0 * np.arange(200, dtype=np.float64)  # a pure linear trend
    data = dataset(values)
    horizon = 40
    truth = 5.0 + 2.0 * np.arange(200, 200 + horizon)
    model = ModelOptions(cell="GRU", hidden_size=8)
    errs = {}
    with worker_torch():
        for difference in ("first", "none"):
            cfg = TrainOptions(epochs=30, batch_size=32, lr=0.01, sequence_length=10, difference=difference)
            result = train(model, data, cfg, series=values)
            observed = values[-result.transform.context(10) :]
            window = result.transform.forward(observed)
            preds = result.transform.inverse(rollout_numpy(result.model, window[None, :], horizon)[0], observed)
            errs[difference] = float(np.max(np.abs(preds - truth)))
            if difference == "first":
                assert preds[-1] > values.max() + 0.9 * 2 * horizon  # well past anything it saw
    assert errs["first"] < 0.1 * errs["none"], errs


def test_a_differenced_k_step_model_backtests_through_its_checkpoint(tmp_path):
    data = dataset(SEASONAL)
    model = ModelOptions(cell="LSTM", hidden_size=6, output_steps=3)
    cfg = TrainOptions(epochs=3, batch_size=16, lr=0.01, sequence_length=12, difference="seasonal", scaling="minmax")
    with worker_torch():
        result = train(model, data, cfg, series=SEASONAL)
        assert result.transform.lag == 12 and result.scaler is not None and result.scaler.kind == "minmax"
        save_checkpoint(LocalStore(tmp_path), "model", model=result.model, data=data, train=cfg, epoch=3,
                        history=result.history, series=SEASONAL, transform=result.transform)
        ckpt = load_checkpoint(LocalStore(tmp_path), "model")
        assert ckpt.transform == result.transform and ckpt.model.output_steps == 3
        first = split_point(96, 12, 0.8, 3, 12)
        split, _ = prepare_split(data, model, cfg, SEASONAL, ckpt.transform)
        assert split.train_y.shape[1] == 3
        out = backtest(ckpt.build_model(), BacktestSetup(SEASONAL, first, 12, ckpt.transform), origins=4, horizon=5)
    assert out["origins"] == 4 and out["model"]["mse"] is not None
    assert out["test_start"] == first


def test_a_checkpoint_from_before_the_heads_loads_as_it_was(tmp_path):
    values = np.cos(np.arange(120) / 3.0) * 7 + 1
    data = dataset(values)
    model = ModelOptions(cell="GRU", hidden_size=5)
    cfg = TrainOptions(epochs=1, batch_size=32, sequence_length=8)
    store = LocalStore(tmp_path)
    with worker_torch():
        result = train(model, data, cfg, series=values)
        save_checkpoint(store, "model", model=result.model, data=data, train=cfg, epoch=1, history=result.history,
                        series=values, scaler=result.scaler)
    manifest = json.loads(store.get("model.json"))
    for key in ("output_steps",):
        manifest["model"].pop(key)
    for key in ("loss_on", "difference", "season", "scaling"):
        manifest["train"].pop(key)
    assert "transform" not in manifest and set(manifest["scaler"]) == {"mean", "std"}
    store.put("model.json", json.dumps(manifest).encode())
    ckpt = load_checkpoint(store, "model")
    assert ckpt.transform == Transform(0, result.scaler) and ckpt.model.output_steps == 1
    assert ckpt.train.loss_on == "last" and ckpt.train.difference == "none"
    window = ckpt.transform.forward(values[-8:])
    np.testing.assert_array_equal(window, result.scaler.forward(values[-8:]))  # as a model read it before
