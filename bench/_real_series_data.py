"""Public real series that installed packages ship, their fixed splits, the metrics, and the peers.

Series: statsmodels' CO2 (weekly, and its monthly means), sunspots (yearly), the Nile's flow
(yearly, with the 1898 break), statsforecast's air passengers (monthly, trend and growing season).
Each is cut as rnncast cuts it (common.series.split_point: the first test target after the train
windows) and forecast from the same rolling origins (core.backtest.backtest_origins), so every
method sees the same history before each origin and is scored on the same values after it.

Metrics are computed here, the same way for every method: MAPE and sMAPE in percent, MASE scaled by
the in-sample seasonal-naive MAE of the train part (Hyndman & Koehler 2006), interval coverage.
The peers (statsforecast, Darts) are in the `peers-forecast` extra, never runtime dependencies.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnncast.common.series import split_point
from rnncast.core.backtest import backtest_origins

TRAIN_FRACTION = 0.8


@dataclass(frozen=True)
class Series:
    name: str
    freq: str  # pandas frequency alias of the time axis
    dates: list[str]  # ISO dates, one per value
    values: np.ndarray
    season: int
    horizon: int
    sequence_length: int
    origins: int = 24

    @property
    def first(self) -> int:
        """The first test position (values before it are the train part)."""
        return split_point(len(self.values), self.sequence_length, TRAIN_FRACTION)

    @property
    def positions(self) -> np.ndarray:
        return backtest_origins(len(self.values), self.first, self.horizon, self.origins)

    def csv(self) -> str:
        return "date,value\n" + "".join(f"{d},{v!r}\n" for d, v in zip(self.dates, self.values.tolist(), strict=True))

    def truth(self) -> np.ndarray:
        return self.values[self.positions[:, None] + np.arange(self.horizon)]


def load_series() -> list[Series]:
    import pandas as pd
    import statsmodels.api as sm
    from statsforecast.utils import AirPassengersDF

    def iso(index: Any) -> list[str]:
        return [t.strftime("%Y-%m-%d") for t in index]

    co2 = sm.datasets.co2.load_pandas().data["co2"].interpolate()
    weekly = co2.asfreq("W-SAT").interpolate()
    monthly = co2.resample("MS").mean().interpolate()
    sun = sm.datasets.sunspots.load_pandas().data
    nile = sm.datasets.nile.load_pandas().data
    air = AirPassengersDF
    years = lambda col: [f"{int(y)}-01-01" for y in col]  # noqa: E731
    return [
        Series("co2_monthly", "MS", iso(monthly.index), monthly.to_numpy(float), 12, 12, 36),
        Series("air_passengers", "ME", iso(pd.DatetimeIndex(air["ds"])), air["y"].to_numpy(float), 12, 12, 24),
        Series("sunspots_yearly", "YS", years(sun["YEAR"]), sun["SUNACTIVITY"].to_numpy(float), 11, 11, 22),
        Series("nile_break", "YS", years(nile["year"]), nile["volume"].to_numpy(float), 1, 5, 10, origins=12),
        Series("co2_weekly", "W-SAT", iso(weekly.index), weekly.to_numpy(float), 52, 26, 104),
    ]


# --- metrics ---------------------------------------------------------------------------------------


def scale(s: Series) -> float:
    """The in-sample MAE of seasonal naive (naive for season 1) over the train part."""
    train = s.values[: s.first]
    m = s.season
    return float(np.mean(np.abs(train[m:] - train[:-m])))


def metrics(s: Series, preds: np.ndarray) -> dict[str, float]:
    """MAPE, sMAPE (percent) and MASE of (N, H) forecasts from every origin; `mase1`: from the first only."""
    truth = s.truth()
    err = np.abs(preds - truth)
    with np.errstate(divide="ignore", invalid="ignore"):
        mape = float(np.mean(err / np.abs(truth)) * 100) if np.all(truth != 0) else math.nan
        smape = float(np.mean(np.where(np.abs(truth) + np.abs(preds) > 0,
                                       200 * err / (np.abs(truth) + np.abs(preds)), 0.0)))
    q = scale(s)
    return {"mape": mape, "smape": smape, "mase": float(err[0].mean() / q), "bt_mase": float(err.mean() / q)}


def coverage(s: Series, bands: dict[float, tuple[np.ndarray, np.ndarray]]) -> dict[float, float]:
    truth = s.truth()
    return {level: float(np.mean((truth >= lo) & (truth <= hi))) for level, (lo, hi) in bands.items()}


# --- baselines -------------------------------------------------------------------------------------


def seasonal_naive(s: Series, drift: bool) -> np.ndarray:
    """Last season's value (plus, with drift, the mean seasonal change before the origin times the seasons
    ahead): (N, H)."""
    m, out = s.season, []
    for k in s.positions:
        history = s.values[:k]
        j = np.arange(s.horizon)
        ahead = j // m + 1
        base = history[k + j - m * ahead]
        change = float(np.mean(history[m:] - history[:-m])) if drift else 0.0
        out.append(base + ahead * change)
    return np.asarray(out)


# --- peers -----------------------------------------------------------------------------------------


@dataclass
class PeerRun:
    name: str
    preds: np.ndarray
    seconds: float
    bands: dict[float, tuple[np.ndarray, np.ndarray]]


def statsforecast_peer(s: Series, which: str, levels: tuple[float, ...]) -> PeerRun:
    """AutoETS / AutoARIMA fitted once on the train part, then applied (`forward`) to each origin's history."""
    from statsforecast.models import AutoARIMA, AutoETS

    model = (AutoETS if which == "AutoETS" else AutoARIMA)(season_length=s.season)
    began = time.perf_counter()
    model.fit(s.values[: s.first])
    preds, lows, highs = [], {lv: [] for lv in levels}, {lv: [] for lv in levels}  # type: ignore[var-annotated]
    pct = [round(lv * 100) for lv in levels]
    for k in s.positions:
        out = model.forward(y=s.values[:k], h=s.horizon, level=pct)
        preds.append(out["mean"])
        for lv, p in zip(levels, pct, strict=True):
            lows[lv].append(out[f"lo-{p}"])
            highs[lv].append(out[f"hi-{p}"])
    seconds = time.perf_counter() - began
    bands = {lv: (np.asarray(lows[lv]), np.asarray(highs[lv])) for lv in levels}
    return PeerRun(which, np.asarray(preds), seconds, bands)


def darts_peer(s: Series, which: str, seed: int, epochs: int, hidden: int) -> PeerRun:
    """Darts' RNNModel (LSTM, recursive, calendar covariates) or BlockRNNModel (GRU, `horizon` steps out at once),
    trained on the train part (scaled on it), predicting from each origin's history without refitting."""
    import pandas as pd
    from darts import TimeSeries
    from darts.dataprocessing.transformers import Scaler
    from darts.models import BlockRNNModel, RNNModel

    index = pd.DatetimeIndex(pd.to_datetime(s.dates))
    full = TimeSeries.from_times_and_values(index, s.values.astype(np.float32), freq=s.freq)
    scaler = Scaler()
    scaler.fit(full[: s.first])
    scaled = scaler.transform(full)
    calendar = ["month"] if s.freq in ("MS", "ME") else ["week"] if s.freq.startswith("W") else []
    encoders: dict[str, Any] = {"datetime_attribute": {"future" if which == "RNNModel" else "past": ["year"]},
                                "transformer": Scaler()}
    if calendar:
        encoders["cyclic"] = {"future" if which == "RNNModel" else "past": calendar}
    common: dict[str, Any] = {"input_chunk_length": s.sequence_length, "hidden_dim": hidden, "n_epochs": epochs,
                              "random_state": seed, "add_encoders": encoders,
                              "pl_trainer_kwargs": {"accelerator": "cpu", "enable_progress_bar": False,
                                                    "enable_model_summary": False, "logger": False}}
    if which == "RNNModel":
        model: Any = RNNModel(model="LSTM", training_length=s.sequence_length + s.horizon, **common)
    else:
        model = BlockRNNModel(model="GRU", output_chunk_length=s.horizon, **common)
    began = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(scaled[: s.first], verbose=False)
        out = model.predict(n=s.horizon, series=[scaled[: int(k)] for k in s.positions], verbose=False)
    seconds = time.perf_counter() - began
    preds = np.stack([scaler.inverse_transform(o).values()[:, 0] for o in out])
    return PeerRun(f"darts_{which}", preds, seconds, {})


Method = Callable[[Series], PeerRun]
