"""Rolling-origin evaluation of a model over a series' test part, against naive baselines.

Each origin's window is the `sequence_length` values before it (never a value
at or past the origin); the model's forecasts for all origins run as batched
rollouts. Baselines see the same origins: naive (the last value), seasonal naive (the
value one season earlier) and seasonal naive with drift (that value plus the
mean seasonal change so far, once per season ahead). Errors are also scaled
as MASE: by the in-sample MAE of seasonal naive over the train part.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnncast.common.defaults import MAX_SEASON
from rnncast.common.series import SeriesError
from rnncast.common.values import finite
from rnncast.core.forecast import StopCheck, rollout_numpy
from rnncast.core.transform import Transform

# --- seasonality, baselines, metrics -------------------------------------------------------------


def autocorrelation(values: np.ndarray, max_lag: int) -> np.ndarray:
    """Sample autocorrelation at lags 0..max_lag (FFT, O(n log n))."""
    x = np.asarray(values, dtype=np.float64) - float(np.mean(values))
    n = x.shape[0]
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(x, size)
    acov = np.fft.irfft(spectrum * np.conj(spectrum), size)[: max_lag + 1]
    return acov / acov[0] if acov[0] > 0 else np.zeros(max_lag + 1)


def find_season(train_part: np.ndarray, max_season: int) -> int:
    """The lag (>= 2) of the highest autocorrelation peak of the train part's differences, or 1 (none found).

    Differencing first removes a trend, whose slowly decaying autocorrelation
    would hide the season. A peak is a local maximum above 4 / sqrt(n) (and
    0.1): white noise's autocorrelations have a standard error of 1 / sqrt(n),
    so over hundreds of lags weaker peaks are noise, not a season.
    """
    diffs = np.diff(np.asarray(train_part, dtype=np.float64))
    max_lag = min(diffs.shape[0] // 2, max_season)
    if max_lag < 3:
        return 1
    acf = autocorrelation(diffs, max_lag + 1)
    lags = np.arange(2, max_lag + 1)
    floor = max(0.1, 4.0 / math.sqrt(diffs.shape[0]))
    peaks = lags[(acf[lags] > acf[lags - 1]) & (acf[lags] >= acf[lags + 1]) & (acf[lags] > floor)]
    return int(peaks[np.argmax(acf[peaks])]) if peaks.size else 1


def backtest_origins(length: int, first: int, horizon: int, count: int) -> np.ndarray:
    """Up to `count` distinct origins spread evenly over [first, length - horizon]."""
    last = length - horizon
    if last < first:
        raise SeriesError(
            f"horizon {horizon} is longer than the test part ({length - first} values): no origin fits"
        )
    return np.unique(np.round(np.linspace(first, last, count)).astype(np.int64))


def naive_forecasts(values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """The last value before each origin, repeated: (N, H)."""
    return np.repeat(values[origins - 1][:, None], horizon, axis=1)


def seasonal_naive_forecasts(values: np.ndarray, origins: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The value one season before each target, from the last season before the origin: (N, H).

    For step j (0-based) after origin k: values[k + j - season * (j // season + 1)].
    """
    j = np.arange(horizon)
    return values[origins[:, None] + j - season * (j // season + 1)]


def drift_forecasts(values: np.ndarray, origins: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Seasonal naive with drift: (N, H).

    For step h (1-based) after origin k, with s = ceil(h / season) seasons ahead:
    values[k - 1 + h - season * s] + s * d, where d is the mean seasonal change
    of the history before the origin, d = mean(values[t] - values[t - season]) over
    t in [season, k) (0 when k = season). With season 1 it is the naive forecast with drift.
    """
    k = origins.astype(np.int64)
    csum = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
    # sum over t in [season, k) of values[t] - values[t - season] = sum(values[k - season:k]) - sum(values[:season])
    drift = (csum[k] - csum[k - season] - csum[season]) / np.maximum(k - season, 1)  # (N,): 0 with no such t
    ahead = -(-np.arange(1, horizon + 1) // season)  # (H,) seasons ahead: ceil(h / season)
    return seasonal_naive_forecasts(values, origins, horizon, season) + drift[:, None] * ahead[None, :]


def seasonal_scale(train_part: np.ndarray, season: int) -> float | None:
    """MASE's denominator: the in-sample MAE of seasonal naive, mean |y[t] - y[t - season]| over the train part
    (None when it is 0 or there is no such pair)."""
    diffs = np.abs(train_part[season:] - train_part[:-season])
    scale = float(diffs.mean()) if diffs.size else 0.0
    return scale if scale > 0 and math.isfinite(scale) else None


def actuals(values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    return values[origins[:, None] + np.arange(horizon)]


def errors(truth: np.ndarray, preds: np.ndarray, scale: float | None = None) -> dict[str, Any]:
    """MSE, MAE and sMAPE (in %) overall and per horizon step, of (N, H) forecasts against the truth; MASE
    (MAE / `scale`, when given) and MAPE (in %, when no true value is 0) overall.

    sMAPE = 200 |y - f| / (|y| + |f|), 0 where both are 0. A diverged model's
    non-finite forecasts make its metrics null.
    """
    err = preds - truth
    denom = np.abs(truth) + np.abs(preds)
    with np.errstate(invalid="ignore", divide="ignore"):
        smape = np.where(denom > 0, 200.0 * np.abs(err) / np.where(denom > 0, denom, 1.0), 0.0)
    per_step = {"mse": (err**2).mean(axis=0), "mae": np.abs(err).mean(axis=0), "smape": smape.mean(axis=0)}
    mae = float(np.abs(err).mean())
    mape = float(100.0 * np.abs(err / truth).mean()) if np.all(truth != 0) else None
    return {
        "mse": finite(float((err**2).mean())), "mae": finite(mae), "smape": finite(float(smape.mean())),
        "mase": finite(mae / scale) if scale else None, "mape": finite(mape) if mape is not None else None,
        "per_step": {k: [finite(float(v)) for v in arr] for k, arr in per_step.items()},
    }


# --- a model's backtest --------------------------------------------------------------------------


@dataclass(frozen=True)
class BacktestSetup:
    """The series a model was trained on, where its test part starts, and how it reads windows."""

    series: np.ndarray  # in the series' units
    first: int  # position of the first test value
    sequence_length: int
    transform: Transform  # how the model reads the series' values (differenced, scaled)


def choose_season(setup: BacktestSetup, season: int | None) -> tuple[int, str]:
    """The season to use and where it came from ('given', 'autocorrelation' or 'none' = 1)."""
    if season is not None:
        if not 1 <= season <= setup.first:
            raise SeriesError(f"season ({season}) must be in 1..{setup.first} (the length of the train part)")
        return season, "given"
    found = find_season(setup.series[: setup.first], MAX_SEASON)
    return found, "autocorrelation" if found > 1 else "none"


def model_forecasts(model: torch.nn.Module, setup: BacktestSetup, origins: np.ndarray, horizon: int,
                    rows_per_batch: int, should_stop: StopCheck | None = None) -> np.ndarray:
    """The model's forecasts from every origin, in the series' units: (N, H), in batches of rows."""
    size = setup.transform.context(setup.sequence_length)
    observed = setup.series[origins[:, None] - size + np.arange(size)]  # (N, T + lag)
    windows = setup.transform.forward(observed)  # (N, T)
    features = setup.transform.rollout_features(origins, setup.sequence_length, horizon)  # None: no covariates
    step = max(1, rows_per_batch)
    parts = [rollout_numpy(model, windows[i : i + step], horizon, should_stop,
                           features[i : i + step] if features is not None else None)
             for i in range(0, windows.shape[0], step)]
    return setup.transform.inverse(np.concatenate(parts), observed)


def backtest(
    model: torch.nn.Module, setup: BacktestSetup, origins: int, horizon: int, season: int | None = None,
    rows_per_batch: int = 1024, should_stop: StopCheck | None = None, keep_forecasts: bool = False,
) -> dict[str, Any]:
    """MSE, MAE, sMAPE, MASE and MAPE for the model and the three baselines, and the model's skill.

    skill = 1 - model MSE / the best baseline's MSE (null when that is 0). The model's rollouts
    raise RolloutStopped when `should_stop()` says so. With `keep_forecasts`, the result also holds
    "forecasts": (origin positions, truth, the model's forecasts), arrays for the caller (not JSON).
    """
    positions = backtest_origins(setup.series.shape[0], setup.first, horizon, origins)
    chosen, source = choose_season(setup, season)
    preds = model_forecasts(model, setup, positions, horizon, rows_per_batch, should_stop)
    result = score(setup, positions, horizon, chosen, source, preds)
    if keep_forecasts:
        result["forecasts"] = (positions, actuals(setup.series, positions, horizon), preds)
    return result


def baseline_forecasts(values: np.ndarray, origins: np.ndarray, horizon: int, season: int) -> dict[str, np.ndarray]:
    """Each baseline's (N, H) forecasts, by name."""
    return {"naive": naive_forecasts(values, origins, horizon),
            "seasonal_naive": seasonal_naive_forecasts(values, origins, horizon, season),
            "seasonal_naive_drift": drift_forecasts(values, origins, horizon, season)}


BASELINES = ("naive", "seasonal_naive", "seasonal_naive_drift")


def score(setup: BacktestSetup, positions: np.ndarray, horizon: int, chosen: int, source: str,
          preds: np.ndarray) -> dict[str, Any]:
    """A backtest's result from the model's (N, H) forecasts at `positions`."""
    truth = actuals(setup.series, positions, horizon)
    scale = seasonal_scale(setup.series[: setup.first], chosen)
    scores = {"model": errors(truth, preds, scale)}
    scores |= {name: errors(truth, f, scale)
               for name, f in baseline_forecasts(setup.series, positions, horizon, chosen).items()}
    baselines = [(scores[b]["mse"], b) for b in BASELINES if scores[b]["mse"] is not None]
    best_mse, best = min(baselines) if baselines else (None, None)
    model_mse = scores["model"]["mse"]
    skill = 1.0 - model_mse / best_mse if model_mse is not None and best_mse else None
    return {
        "origins": int(positions.shape[0]), "horizon": horizon, "origin_positions": positions.tolist(),
        "test_start": setup.first, "season": chosen, "season_source": source, "mase_scale": scale, **scores,
        "best_baseline": best, "skill": skill,
    }
