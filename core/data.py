"""The sine signal (or a dataset's series), its sliding windows and the train/test split."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from rnncast.common.options import AnyData, DatasetData, SineData, TrainOptions
from rnncast.common.series import Scaler, split_point, train_scaler


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


def windows(values: torch.Tensor, sequence_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every window of `sequence_length` values and the value that follows it.

    A strided view over `values` (no copy): inputs (N, T, 1), targets (N, 1)
    with N = len(values) - sequence_length.
    """
    n = values.shape[0] - sequence_length
    if n < 1:
        raise ValueError(
            f"sequence_length ({sequence_length}) must be < the number of values ({values.shape[0]})"
        )
    inputs = values[:-1].unfold(0, sequence_length, 1)  # (N, T)
    targets = values[sequence_length:]  # (N,)
    return inputs.unsqueeze(-1), targets.unsqueeze(-1)


@dataclass(frozen=True)
class Split:
    """Train and test windows as tensors, built once."""

    train_x: torch.Tensor  # (N_train, T, 1)
    train_y: torch.Tensor  # (N_train, 1)
    test_x: torch.Tensor  # (N_test, T, 1)
    test_y: torch.Tensor  # (N_test, 1)

    def to(self, device: torch.device) -> Split:
        return Split(*(t.to(device) for t in (self.train_x, self.train_y, self.test_x, self.test_y)))


def make_split(data: SineData, sequence_length: int, seed: int = 0) -> Split:
    """Windows of the signal; the first `train_fraction` train, the rest test."""
    if sequence_length >= data.points:
        raise ValueError(f"sequence_length ({sequence_length}) must be < points ({data.points})")
    n_train = split_point(data.points, sequence_length, data.train_fraction) - sequence_length
    values = torch.from_numpy(series(data, seed)).to(torch.float32)
    inputs, targets = windows(values, sequence_length)
    return Split(inputs[:n_train], targets[:n_train], inputs[n_train:], targets[n_train:])


def series_split(
    values: np.ndarray, sequence_length: int, train_fraction: float, scaler: Scaler | None = None,
) -> tuple[Split, Scaler]:
    """A dataset's windows, standardised with the train part's mean and std, and that scaler.

    Cut and split as the sine's are (make_split), in time order. `scaler`: the
    train part's, when the caller has it already.
    """
    if scaler is None:
        scaler = train_scaler(values, sequence_length, train_fraction)
    scaled = torch.from_numpy(scaler.forward(values)).to(torch.float32)
    inputs, targets = windows(scaled, sequence_length)
    n_train = split_point(values.shape[0], sequence_length, train_fraction) - sequence_length
    return Split(inputs[:n_train], targets[:n_train], inputs[n_train:], targets[n_train:]), scaler


def prepare_split(
    data_config: AnyData, train_config: TrainOptions, series: np.ndarray | None = None, scaler: Scaler | None = None,
) -> tuple[Split, Scaler | None]:
    """The windows a run trains and tests on: the sine's, or `series` standardised (with its scaler, computed
    unless given)."""
    if not isinstance(data_config, DatasetData):  # the sine (a SineData)
        return make_split(data_config, train_config.sequence_length, train_config.seed), None
    if series is None or series.shape[0] != data_config.length:
        raise ValueError(f"dataset {data_config.dataset_id!r}: its {data_config.length} values are needed to train")
    return series_split(series, train_config.sequence_length, data_config.train_fraction, scaler)
