"""Rolling-origin evaluation of a model over a series' test part, against naive baselines.

Each origin's window is the `sequence_length` values before it (never a value
at or past the origin); the model's forecasts for all origins run as batched
rollouts. Baselines see the same origins: naive (the last value) and
seasonal naive (the value one season earlier).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnncast.core.forecast import rollout_numpy
from rnncast.core.series import (
    Scaler,
    SeriesError,
    actuals,
    backtest_origins,
    errors,
    find_season,
    naive_forecasts,
    seasonal_naive_forecasts,
)

MAX_SEASON = 10_000


@dataclass(frozen=True)
class BacktestSetup:
    """The series a model was trained on, where its test part starts, and how it reads windows."""

    series: np.ndarray  # in the series' units
    first: int  # position of the first test value
    sequence_length: int
    scaler: Scaler | None  # the model sees standardised windows when set


def choose_season(setup: BacktestSetup, season: int | None) -> tuple[int, str]:
    """The season to use and where it came from ('given', 'autocorrelation' or 'none' = 1)."""
    if season is not None:
        if not 1 <= season <= setup.first:
            raise SeriesError(f"season ({season}) must be in 1..{setup.first} (the length of the train part)")
        return season, "given"
    found = find_season(setup.series[: setup.first], MAX_SEASON)
    return found, "autocorrelation" if found > 1 else "none"


def model_forecasts(model: torch.nn.Module, setup: BacktestSetup, origins: np.ndarray, horizon: int,
                    rows_per_batch: int) -> np.ndarray:
    """The model's forecasts from every origin, in the series' units: (N, H), in batches of rows."""
    idx = origins[:, None] - setup.sequence_length + np.arange(setup.sequence_length)  # (N, T)
    windows = setup.series[idx]
    if setup.scaler is not None:
        windows = setup.scaler.forward(windows)
    parts = [rollout_numpy(model, windows[i : i + rows_per_batch], horizon)
             for i in range(0, windows.shape[0], max(1, rows_per_batch))]
    preds = np.concatenate(parts)
    return setup.scaler.inverse(preds) if setup.scaler is not None else preds


def backtest(
    model: torch.nn.Module, setup: BacktestSetup, origins: int, horizon: int, season: int | None = None,
    rows_per_batch: int = 1024,
) -> dict[str, Any]:
    """MSE, MAE and sMAPE per step and overall for the model and both baselines, and the model's skill.

    skill = 1 - model MSE / the better baseline's MSE (null when that is 0).
    """
    positions = backtest_origins(setup.series.shape[0], setup.first, horizon, origins)
    chosen, source = choose_season(setup, season)
    truth = actuals(setup.series, positions, horizon)
    preds = model_forecasts(model, setup, positions, horizon, rows_per_batch)
    scores = {
        "model": errors(truth, preds),
        "naive": errors(truth, naive_forecasts(setup.series, positions, horizon)),
        "seasonal_naive": errors(truth, seasonal_naive_forecasts(setup.series, positions, horizon, chosen)),
    }
    baselines = [(scores[b]["mse"], b) for b in ("naive", "seasonal_naive") if scores[b]["mse"] is not None]
    best_mse, best = min(baselines) if baselines else (None, None)
    model_mse = scores["model"]["mse"]
    skill = 1.0 - model_mse / best_mse if model_mse is not None and best_mse else None
    return {
        "origins": int(positions.shape[0]), "horizon": horizon, "origin_positions": positions.tolist(),
        "test_start": setup.first, "season": chosen, "season_source": source, **scores,
        "best_baseline": best, "skill": skill,
    }
