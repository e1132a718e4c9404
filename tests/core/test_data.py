import math

import numpy as np
import pytest
import torch

from rnncast.common.options import ModelOptions, SineData, TrainOptions
from rnncast.core.data import exact, make_split, sample_times, series, windows


def test_defaults_match_the_tutorial_signal():
    data = SineData()
    t = sample_times(data)
    assert t.shape == (2000,) and t[0] == 0 and t[-1] == 1000
    assert data.step == pytest.approx(1000 / 1999)
    np.testing.assert_allclose(series(data), np.sin(2 * math.pi * t / 20))


def test_windows_are_consecutive_values_with_next_value_target():
    values = torch.arange(10, dtype=torch.float32)
    x, y = windows(values, 4)
    assert x.shape == (6, 4, 1) and y.shape == (6, 1)
    assert x[2, :, 0].tolist() == [2, 3, 4, 5] and y[2, 0].item() == 6


def test_split_keeps_time_order_and_fraction():
    split = make_split(SineData(), 80)
    assert split.train_x.shape == (1536, 80, 1) and split.test_x.shape == (384, 80, 1)
    full = torch.from_numpy(series(SineData())).float()
    # The first test window starts right after the last train window's start.
    assert torch.equal(split.test_x[0, :, 0], full[1536 : 1536 + 80])
    assert split.test_y[-1, 0].item() == pytest.approx(full[-1].item())


def test_noise_is_seeded():
    data = SineData(noise_std=0.1)
    assert np.array_equal(series(data, 1), series(data, 1))
    assert not np.array_equal(series(data, 1), series(data, 2))
    assert np.std(series(data, 1) - exact(data, sample_times(data))) == pytest.approx(0.1, rel=0.1)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: SineData(points=2), r"points \(2\)"),
        (lambda: SineData(period=0), r"period \(0\)"),
        (lambda: SineData(train_fraction=1.0), r"train_fraction \(1.0\)"),
        (lambda: SineData(amplitude=float("nan")), r"amplitude \(nan\)"),
        (lambda: ModelOptions(cell="TCN"), r"cell \('TCN'\)"),
        (lambda: TrainOptions(lr=0), r"lr \(0\)"),
        (lambda: make_split(SineData(points=50), 80), r"sequence_length \(80\) must be < points \(50\)"),
    ],
)
def test_constructors_quote_the_bad_value(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


def test_dropout_defaults_follow_layer_count():
    assert ModelOptions(num_layers=1).dropout == 0.0
    assert ModelOptions(num_layers=2).dropout == 0.05
    assert ModelOptions.from_dict(ModelOptions(num_layers=2).to_dict()) == ModelOptions(num_layers=2)
