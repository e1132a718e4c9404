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
    """An affine scaling fitted on the train part: z = (y - mean) / std. `kind` says how the two were chosen:
    standard (the train part's mean and std), minmax (its min and max - min) or none (0 and 1)."""

    mean: float
    std: float
    kind: str = "standard"

    def forward(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, dtype=np.float64) - self.mean) / self.std

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=np.float64) * self.std + self.mean

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mean": self.mean, "std": self.std}
        return out if self.kind == "standard" else out | {"kind": self.kind}


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


def split_point(length: int, sequence_length: int, train_fraction: float, output_steps: int = 1, lag: int = 0) -> int:
    """The position of the first test target: the values before it are the train part.

    Windows are cut as for the sine (core.data.windows), over the series differenced at `lag` (0: as it
    is; it is `lag` values shorter), each followed by `output_steps` targets; the first `train_fraction`
    of them train, and the test windows begin where the train windows' targets end.
    """
    windows = length - lag - sequence_length - output_steps + 1
    n_train = int(windows * train_fraction)
    if windows < 2 or n_train < 1 or n_train + output_steps - 1 >= windows:
        steps = f", output_steps {output_steps}" if output_steps > 1 else ""
        diff = f" differenced at lag {lag}" if lag else ""
        raise SeriesError(
            f"a series of {length} values{diff} with sequence_length {sequence_length}{steps} and train_fraction "
            f"{train_fraction} leaves no train or no test window"
        )
    return n_train + sequence_length + output_steps - 1 + lag


def train_scaler(values: np.ndarray, sequence_length: int, train_fraction: float) -> Scaler:
    """Mean and std of the train part (a constant train part scales by 1)."""
    return fit_scaler(values[: split_point(values.shape[0], sequence_length, train_fraction)], "standard")


def fit_scaler(train_part: np.ndarray, scaling: str) -> Scaler:
    """The scaling `scaling` names, fitted on `train_part`: standard (mean and std), minmax (min and range)
    or none (0 and 1). A constant train part scales by 1."""
    if scaling == "none":
        return Scaler(0.0, 1.0, "none")
    if scaling == "minmax":
        low, high = float(train_part.min()), float(train_part.max())
        width = high - low
        return Scaler(low, width if width > 0 and math.isfinite(width) else 1.0, "minmax")
    if scaling != "standard":
        raise ValueError(f"scaling ({scaling!r}) must be one of ['standard', 'minmax', 'none']")
    mean, std = moments(train_part)
    return Scaler(mean, std if std > 0 and math.isfinite(std) else 1.0)
