"""The sine signal (or a dataset's series), its sliding windows and the train/test split."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from rnncast.common.options import AnyData, DatasetData, ModelOptions, SineData, TrainOptions
from rnncast.common.series import split_point
from rnncast.core.transform import Transform, fit_transform


def sample_times(data: SineData) -> np.ndarray:
    """The `points` sample times on [0, stop]."""
    return np.linspace(0.0, data.stop, data.points)


def exact(data: SineData, t: np.ndarray) -> np.ndarray:
    """The noise-free signal at times `t` (float64)."""
    return data.amplitude * np.sin(2 * math.pi * np.asarray(t, dtype=np.float64) / data.period + data.phase)


def series(data: SineData, seed: int = 0) -> np.ndarray:
    """The sampled signal, with N(0, noise_std) noise drawn from `seed`."""
    values = exact(data, sample_times(data))
    if data.noise_std > 0:
        values = values + np.random.default_rng(seed).normal(0.0, data.noise_std, values.shape)
    return values


def windows(values: torch.Tensor, sequence_length: int, output_steps: int = 1,
            features: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Every window of `sequence_length` values and the `output_steps` values that follow it.

    Strided views over `values` (no copy): inputs (N, T, 1), targets (N, K)
    with N = len(values) - sequence_length - output_steps + 1. With `features` (len(values), F), each
    input step also carries its position's features: inputs (N, T, 1 + F) (a copy).
    """
    if features is not None and features.shape[1]:
        inputs, targets = windows(values, sequence_length, output_steps)
        feats = features[: values.shape[0] - output_steps].unfold(0, sequence_length, 1).transpose(1, 2)
        return torch.cat([inputs, feats], dim=-1), targets
    n = values.shape[0] - sequence_length - output_steps + 1
    if n < 1:
        raise ValueError(
            f"sequence_length ({sequence_length}) + output_steps ({output_steps}) must be <= the number of "
            f"values ({values.shape[0]})"
        )
    inputs = values[: values.shape[0] - output_steps].unfold(0, sequence_length, 1)  # (N, T)
    if output_steps == 1:
        return inputs.unsqueeze(-1), values[sequence_length:].unsqueeze(-1)  # (N, T, 1), (N, 1)
    targets = values[sequence_length:].unfold(0, output_steps, 1)  # (N, K)
    return inputs.unsqueeze(-1), targets


@dataclass(frozen=True)
class Split:
    """Train and test windows as tensors, built once."""

    train_x: torch.Tensor  # (N_train, T, 1)
    train_y: torch.Tensor  # (N_train, K)
    test_x: torch.Tensor  # (N_test, T, 1)
    test_y: torch.Tensor  # (N_test, K)

    def to(self, device: torch.device) -> Split:
        return Split(*(t.to(device) for t in (self.train_x, self.train_y, self.test_x, self.test_y)))


def _cut(values: torch.Tensor, sequence_length: int, first: int, output_steps: int,
         features: torch.Tensor | None = None) -> Split:
    """The windows of `values` (model units), split where the test targets start (`first`, in `values`)."""
    inputs, targets = windows(values, sequence_length, output_steps, features)
    n_train = first - sequence_length - output_steps + 1  # the train windows' targets end before `first`
    test = n_train + output_steps - 1  # the first window whose targets are all test values
    return Split(inputs[:n_train], targets[:n_train], inputs[test:], targets[test:])


def make_split(data: SineData, sequence_length: int, seed: int = 0, output_steps: int = 1) -> Split:
    """Windows of the signal; the first `train_fraction` train, the rest test."""
    if sequence_length >= data.points:
        raise ValueError(f"sequence_length ({sequence_length}) must be < points ({data.points})")
    first = split_point(data.points, sequence_length, data.train_fraction, output_steps)
    values = torch.from_numpy(series(data, seed)).to(torch.float32)
    return _cut(values, sequence_length, first, output_steps)


def series_split(
    values: np.ndarray, sequence_length: int, train_fraction: float, transform: Transform, output_steps: int = 1,
) -> Split:
    """A dataset's windows, in the model's units (`transform`: differenced, then scaled with the train part's
    statistics), cut and split as the sine's are (make_split), in time order."""
    first = split_point(values.shape[0], sequence_length, train_fraction, output_steps, transform.lag)
    model_values = torch.from_numpy(transform.forward(values)).to(torch.float32)
    features = None
    if transform.width:  # model value m stands at series position m + lag
        positions = np.arange(transform.lag, values.shape[0])
        features = torch.from_numpy(transform.features(positions)).to(torch.float32)
    return _cut(model_values, sequence_length, first - transform.lag, output_steps, features)


def prepare_split(
    data_config: AnyData, model_config: ModelOptions, train_config: TrainOptions, series: np.ndarray | None = None,
    transform: Transform | None = None,
) -> tuple[Split, Transform]:
    """The windows a run trains and tests on, and the transform they went through: the sine's as it is, or
    `series` differenced and scaled (its transform fitted on the train part unless given)."""
    k = model_config.output_steps
    if transform is None:
        transform = fit_transform(data_config, train_config, series, k)
    if not isinstance(data_config, DatasetData):  # the sine (a SineData)
        return make_split(data_config, train_config.sequence_length, train_config.seed, k), transform
    if series is None or series.shape[0] != data_config.length:
        raise ValueError(f"dataset {data_config.dataset_id!r}: its {data_config.length} values are needed to train")
    return series_split(series, train_config.sequence_length, data_config.train_fraction, transform, k), transform
