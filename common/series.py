"""A user's own series: checks, stats, generators, the train/test split and the train scaler.

NumPy only (no torch), on the shared floor: the API checks uploads with it (a
CSV is read by common.csvseries), the store records their stats, core and the
workers split, scale and backtest with it. Every refusal is a `SeriesError` whose message names the
row or value at fault.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnncast.common.defaults import MIN_POINTS


class SeriesError(ValueError):
    """A series (upload, generator or request) that cannot be used; the message says why and where."""


@dataclass(frozen=True)
class Scaler:
    """Standardisation with the train part's mean and std: z = (y - mean) / std."""

    mean: float
    std: float

    def forward(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, dtype=np.float64) - self.mean) / self.std

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=np.float64) * self.std + self.mean

    def to_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "std": self.std}


def check_values(values: Sequence[float] | np.ndarray, max_points: int) -> np.ndarray:
    """The values as float64, or SeriesError for too few, too many or non-finite ones."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise SeriesError("values must be a flat list of numbers")
    if arr.shape[0] < MIN_POINTS:
        raise SeriesError(f"a series needs at least {MIN_POINTS} values, got {arr.shape[0]}")
    if arr.shape[0] > max_points:
        raise SeriesError(
            f"{arr.shape[0]} values exceed this server's limit RNNCAST_MAX_DATASET_POINTS ({max_points})"
        )
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise SeriesError(f"value {int(bad[0])} ({arr[bad[0]]}) is not a finite number")
    return arr


def moments(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation, computed on values scaled by their largest magnitude: finite for any
    finite values (near the float64 limit the plain formulas overflow)."""
    scale = float(np.max(np.abs(values))) or 1.0
    scaled = values / scale
    return float(scaled.mean()) * scale, float(scaled.std()) * scale


def stats(values: np.ndarray) -> dict[str, float]:
    mean, std = moments(values)
    return {"mean": mean, "std": std, "min": float(values.min()), "max": float(values.max())}


# --- generators ----------------------------------------------------------------------------------


def generate(spec: dict[str, Any]) -> np.ndarray:
    """A synthetic series from a validated generator spec (see service.schemas' generators)."""
    kind, points, step = spec["kind"], int(spec["points"]), float(spec.get("step", 1.0))
    rng = np.random.default_rng(spec.get("seed", 0))
    t = np.arange(points, dtype=np.float64) * step
    if kind == "sine":
        values = spec["amplitude"] * np.sin(2 * math.pi * t / spec["period"] + spec["phase"])
    elif kind == "sines":
        values = np.zeros(points)
        for c in spec["components"]:
            values += c["amplitude"] * np.sin(2 * math.pi * t / c["period"] + c["phase"])
    elif kind == "damped_sine":
        values = spec["amplitude"] * np.exp(-spec["decay"] * t) * np.sin(2 * math.pi * t / spec["period"]
                                                                          + spec["phase"])
    elif kind == "random_walk":
        values = spec["start"] + np.cumsum(rng.normal(spec["drift"], spec["step_std"], points))
    else:
        raise SeriesError(f"unknown generator kind {kind!r}")
    noise = float(spec.get("noise_std", 0.0))
    if noise > 0:
        values = values + rng.normal(0.0, noise, points)
    return np.asarray(values, dtype=np.float64)


# --- training split, scaling ---------------------------------------------------------------------


def split_point(length: int, sequence_length: int, train_fraction: float) -> int:
    """The position of the first test target: the values before it are the train part.

    Windows are cut as for the sine (core.data.windows); the first
    `train_fraction` of them train, so their targets end where the test's begin.
    """
    windows = length - sequence_length
    n_train = int(windows * train_fraction)
    if windows < 2 or n_train < 1 or n_train >= windows:
        raise SeriesError(
            f"a series of {length} values with sequence_length {sequence_length} and train_fraction "
            f"{train_fraction} leaves no train or no test window"
        )
    return n_train + sequence_length


def train_scaler(values: np.ndarray, sequence_length: int, train_fraction: float) -> Scaler:
    """Mean and std of the train part (a constant train part scales by 1)."""
    mean, std = moments(values[: split_point(values.shape[0], sequence_length, train_fraction)])
    return Scaler(mean, std if std > 0 and math.isfinite(std) else 1.0)
