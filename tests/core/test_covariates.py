"""Calendar covariates (common.covariates, core.transform): the features of monthly, daily and hourly timestamps,
the axis continued past the series' end, the windows a covariate model trains on, its rollout, and checkpoints
with and without covariates."""

from __future__ import annotations

import json
import math
from datetime import datetime

import numpy as np
import pytest
import torch

from rnncast.common import covariates
from rnncast.common.artifacts import LocalStore
from rnncast.common.options import DatasetData, ModelOptions, RolloutFinetune, TrainOptions
from rnncast.common.series import SeriesError
from rnncast.common.timeaxis import TimeAxis
from rnncast.core.checkpoint import load_checkpoint, save_checkpoint
from rnncast.core.data import prepare_split
from rnncast.core.forecast import rollout, rollout_chunks
from rnncast.core.models import Forecaster
from rnncast.core.train import train
from rnncast.core.transform import Transform, fit_transform


def sincos(phase: float) -> list[float]:
    return [math.sin(2 * math.pi * phase), math.cos(2 * math.pi * phase)]


def test_monthly_timestamps_give_the_month_as_sine_and_cosine():
    axis = TimeAxis(datetime(2024, 1, 1), "monthly")
    got = covariates.features(axis, np.arange(13), ("month",), 1.0)
    assert got.shape == (13, 2)
    for p in range(13):
        np.testing.assert_allclose(got[p], sincos((p % 12) / 12), atol=1e-12)
    assert got[11] == pytest.approx(sincos(11 / 12)) and got[12] == pytest.approx(got[0])  # December, then January


def test_daily_timestamps_give_day_of_week_and_day_of_year():
    axis = TimeAxis(datetime(2024, 1, 1), "daily")  # a Monday, in a leap year
    names = covariates.resolve("calendar", "daily")
    assert names == ("day_of_week", "day_of_year")
    got = covariates.features(axis, np.array([0, 2, 6, 365, 366]), names, 1.0)
    np.testing.assert_allclose(got[0], sincos(0) + sincos(0), atol=1e-12)
    np.testing.assert_allclose(got[1], sincos(2 / 7) + sincos(2 / 366), atol=1e-12)  # Wednesday Jan 3
    np.testing.assert_allclose(got[2], sincos(6 / 7) + sincos(6 / 366), atol=1e-12)  # Sunday
    np.testing.assert_allclose(got[3], sincos(1 / 7) + sincos(365 / 366), atol=1e-12)  # Tue Dec 31, 2024
    np.testing.assert_allclose(got[4], sincos(2 / 7) + sincos(0), atol=1e-12)  # Wed Jan 1, 2025


def test_hourly_timestamps_give_the_hour_and_the_day_of_week_and_the_trend_is_over_the_train_part():
    axis = TimeAxis(datetime(2024, 3, 10, 22), "hourly")  # a Sunday, 22:00
    names = covariates.resolve("calendar+trend", "hourly")
    assert names == ("hour", "day_of_week", "trend") and covariates.width(names) == 5
    got = covariates.features(axis, np.array([0, 2, 50]), names, 40.0)
    np.testing.assert_allclose(got[0], sincos(22 / 24) + sincos(6 / 7) + [0.0], atol=1e-12)
    np.testing.assert_allclose(got[1], sincos(0) + sincos(0) + [2 / 40], atol=1e-12)  # Monday 00:00
    np.testing.assert_allclose(got[2], sincos(0) + sincos(2 / 7) + [50 / 40], atol=1e-12)  # Tuesday 00:00


def test_the_axis_continues_past_the_end_on_its_frequency_month_ends_included():
    ends = TimeAxis(datetime(2023, 11, 30), "monthly", month_end=True)
    assert ends.after(3, 4) == [datetime(2024, 2, 29), datetime(2024, 3, 31), datetime(2024, 4, 30),
                                datetime(2024, 5, 31)]
    assert TimeAxis(datetime(2024, 1, 31), "quarterly", True).after(1, 2) == [datetime(2024, 4, 30),
                                                                                 datetime(2024, 7, 31)]
    assert TimeAxis(datetime(2024, 2, 28, 23), "hourly").after(2, 2) == [datetime(2024, 2, 29, 1),
                                                                          datetime(2024, 2, 29, 2)]


def test_a_timestamp_finds_its_position_on_the_axis_or_none():
    ends = TimeAxis(datetime(2023, 11, 30), "monthly", month_end=True)
    assert [ends.position(t) for t in (datetime(2024, 2, 29), datetime(2023, 10, 31), datetime(2024, 2, 28))] == [
        3, -1, None]
    hourly = TimeAxis(datetime(2024, 3, 10, 22), "hourly")
    assert hourly.position(datetime(2024, 3, 11, 1)) == 3 and hourly.position(datetime(2024, 3, 11, 1, 30)) is None
    assert TimeAxis(datetime(2001, 1, 1), "quarterly").position(datetime(2001, 7, 1)) == 2
    assert TimeAxis(datetime(2001, 1, 1), "quarterly").position(datetime(2001, 8, 1)) is None


@pytest.mark.parametrize(("choice", "frequency", "says"), [
    ("calendar", None, "this dataset has none: upload it with a date/time column"),
    ("month", None, "this dataset has none"),
    ("calendar", "yearly", "a yearly series has no calendar feature that varies"),
])
def test_covariates_need_a_time_axis_that_gives_them(choice, frequency, says):
    with pytest.raises(SeriesError, match=says):
        covariates.resolve(choice, frequency)
    assert covariates.resolve("none", None) == ()
    assert covariates.resolve("trend", "yearly") == ("trend",)


MONTHS = 96


def month_series() -> np.ndarray:
    t = np.arange(MONTHS)
    return 50 + 0.3 * t + 20 * np.sin(2 * math.pi * t / 12)


def dataset(frequency: str | None = "monthly") -> DatasetData:
    return DatasetData(dataset_id="m", sha256="0" * 64, length=MONTHS, frequency=frequency,
                       start="2010-01-01T00:00:00" if frequency else None)


def test_training_windows_carry_the_features_of_each_steps_next_timestamp():
    model, train_cfg = ModelOptions(cell="GRU", output_steps=3), TrainOptions(
        epochs=1, sequence_length=12, difference="first", covariates="calendar+trend")
    split, transform = prepare_split(dataset(), model, train_cfg, month_series())
    assert transform.covariates == ("month", "trend") and transform.inputs == 4 and transform.lag == 1
    assert split.train_x.shape[1:] == (12, 4) and split.test_x.shape[-1] == 4
    # window i reads differenced values at series positions 1 + i .. 12 + i; each with the next month's features
    for i in (0, 5, len(split.train_x) - 1):
        want = covariates.features(transform.axis, np.arange(2 + i, 14 + i), ("month", "trend"),
                                   transform.trend_scale)
        np.testing.assert_allclose(split.train_x[i, :, 1:].numpy(), want, rtol=1e-6, atol=1e-6)
    plain, _ = prepare_split(dataset(), model, TrainOptions(epochs=1, sequence_length=12, difference="first"),
                             month_series())
    torch.testing.assert_close(plain.train_x[..., 0], split.train_x[..., 0], rtol=0, atol=0)  # same values


def test_the_sine_and_an_axis_less_dataset_refuse_covariates():
    with pytest.raises(ValueError, match="the sine is learned as it is"):
        from rnncast.common.options import SineData
        fit_transform(SineData(), TrainOptions(covariates="month"), None, 1)
    with pytest.raises(SeriesError, match="this dataset has none"):
        fit_transform(dataset(None), TrainOptions(sequence_length=12, covariates="month"), month_series(), 1)
    with pytest.raises(ValueError, match="covariates and rollout_finetune"):
        fit_transform(dataset(), TrainOptions(sequence_length=12, covariates="month",
                                              rollout_finetune=RolloutFinetune()), month_series(), 1)


def test_a_covariate_rollout_feeds_each_step_its_timestamps_features():
    """Each step's input is [the value, the features]; with k = 1 the chunked loop is the step loop; and the
    same window with other features gives another forecast."""
    transform = Transform(covariates=("month", "trend"), axis=TimeAxis(datetime(2010, 1, 1), "monthly"),
                          trend_scale=50.0)
    torch.manual_seed(0)
    model = Forecaster(ModelOptions(cell="GRU", hidden_size=8), inputs=transform.inputs).eval()
    assert transform.inputs == 4
    windows = torch.randn(2, 12, dtype=torch.float32)
    windows[1] = windows[0]
    feats = torch.as_tensor(transform.rollout_features(np.array([40, 45]), 12, 6), dtype=torch.float32)
    out = rollout(model, windows, 6, features=feats)
    assert not torch.allclose(out[0], out[1])  # equal windows, other months: other forecasts
    by_hand = windows.clone()
    with torch.inference_mode():
        for k in range(6):
            x = torch.cat([by_hand[:, k : k + 12, None], feats[:, k : k + 12]], dim=-1)
            by_hand = torch.cat([by_hand, model(x)], dim=1)
    torch.testing.assert_close(out, by_hand[:, 12:], rtol=1e-5, atol=1e-6)  # other row blocks: rounding
    torch.testing.assert_close(rollout_chunks(model, windows, 6, 1, None, feats), out, rtol=0, atol=0)


def test_a_covariate_checkpoint_keeps_its_input_size_and_an_old_one_loads_with_one(tmp_path):
    store = LocalStore(tmp_path)
    data, model_cfg = dataset(), ModelOptions(cell="LSTM", hidden_size=6)
    for choice, inputs in (("calendar+trend", 4), ("none", 1)):
        cfg = TrainOptions(epochs=2, batch_size=32, sequence_length=12, covariates=choice, difference="first")
        result = train(model_cfg, data, cfg, series=month_series())
        assert result.model.rnn.input_size == inputs
        save_checkpoint(store, choice.replace("+", "_"), model=result.model, data=data, train=cfg, epoch=2,
                        history={"train_loss": [], "test_loss": []}, series=month_series(),
                        transform=result.transform)
        ckpt = load_checkpoint(store, choice.replace("+", "_"))
        assert ckpt.transform == result.transform and ckpt.build_model().rnn.input_size == inputs
    # a manifest written before covariates existed: no covariates in its transform nor its train options
    manifest = json.loads((tmp_path / "none.json").read_text())
    assert manifest["transform"] == {"lag": 1}
    del manifest["train"]["covariates"]
    store.put("none.json", json.dumps(manifest).encode())
    old = load_checkpoint(store, "none")
    assert old.transform.covariates == () and old.build_model().rnn.input_size == 1


def test_a_multi_step_covariate_rollout_feeds_each_chunk_its_own_timestamps():
    """k = 3: each forward emits 3 values; they are fed back with the features of their own positions."""
    transform = Transform(covariates=("month",), axis=TimeAxis(datetime(2010, 1, 31), "monthly", True))
    torch.manual_seed(1)
    model = Forecaster(ModelOptions(cell="LSTM", hidden_size=6, output_steps=3), inputs=transform.inputs).eval()
    windows = torch.randn(1, 10, dtype=torch.float32)
    feats = torch.as_tensor(transform.rollout_features(np.array([30]), 10, 7), dtype=torch.float32)
    out = rollout(model, windows, 7, features=feats)
    buf = windows.clone()
    with torch.inference_mode():
        for k in range(0, 7, 3):
            x = torch.cat([buf[:, k : k + 10, None], feats[:, k : k + 10]], dim=-1)
            buf = torch.cat([buf, model(x)[:, : min(3, 7 - k)]], dim=1)
    torch.testing.assert_close(out, buf[:, 10:], rtol=1e-5, atol=1e-6)
    # the features of input position p are those of p + 1: the window's last input carries the first target's
    want = covariates.features(transform.axis, np.array([30, 31, 36]), ("month",), 1.0)
    np.testing.assert_allclose(feats[0, [9, 10, 15]].numpy(), want, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="reads 3 inputs per step and the rollout gives 1"):
        rollout(model, windows, 7)
