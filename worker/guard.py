"""What a forecast says beside the model's numbers: timestamps from the dataset's time axis, a warning when the
model's last backtest lost to a baseline, and (asked for with `fallback: "baseline"`) that baseline's forecast.

Also the verdict a backtest leaves in the model's record (the API writes it), computed here for the backtest
every dataset model runs at the end of its training.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from rnncast.common.datasets import record_axis
from rnncast.common.defaults import BACKTEST_HORIZON, BACKTEST_ORIGINS
from rnncast.common.options import AnyData, DatasetData, TrainOptions
from rnncast.common.series import SeriesError
from rnncast.common.timeaxis import TimeAxis
from rnncast.common.verdict import verdict
from rnncast.core.backtest import BacktestSetup, backtest, baseline_forecasts
from rnncast.core.models import Forecaster
from rnncast.core.transform import Transform, first_test


def axis_of(data: AnyData | None) -> TimeAxis | None:
    """The time axis of a model's dataset, if its upload had one."""
    if not isinstance(data, DatasetData) or data.frequency is None:
        return None
    return record_axis({"frequency": data.frequency, "start": data.start, "month_end": data.month_end})


def context_position(data: AnyData | None, request: dict[str, Any]) -> int | None:
    """The axis position of a request's `context_start` (its context's first value), None when it gives none.

    Raises ValueError when the model's dataset has no time axis or the timestamp is off it."""
    raw = request.get("context_start")
    if raw is None:
        return None
    axis = axis_of(data)
    if axis is None:
        raise ValueError("context_start places a context on a dataset's time axis, and this model's data has none")
    when = datetime.fromisoformat(str(raw))
    if (when.tzinfo is None) != (axis.start.tzinfo is None):
        raise ValueError(f"context_start ({raw}) and the series' timestamps ({axis.start.isoformat()}) must both "
                         f"have a time zone or both have none")
    position = axis.position(when)
    if position is None:
        raise ValueError(f"context_start ({raw}) is not on the series' {axis.frequency} axis (it starts at "
                         f"{axis.start.isoformat()})")
    return position


def first_position(series: np.ndarray | None, data: AnyData | None, request: dict[str, Any]) -> int | None:
    """The series position a forecast's first step stands at: its origin (default the end), or the end when its
    context is the series' tail; None for a context that is not, or a sine model."""
    if not isinstance(data, DatasetData) or series is None:
        return None
    context = request.get("context")
    if context is None:
        origin = request.get("origin")
        return data.length if origin is None else int(origin)
    n = len(context)
    start = context_position(data, request)
    if start is not None:
        return start + n
    if n <= series.shape[0] and np.array_equal(series[series.shape[0] - n :], np.asarray(context, dtype=np.float64)):
        return data.length
    return None


def forecast_timestamps(series: np.ndarray | None, data: AnyData | None, request: dict[str, Any],
                        horizon: int) -> list[str] | None:
    axis = axis_of(data)
    first = first_position(series, data, request) if axis is not None else None
    return axis.iso(range(first, first + horizon)) if axis is not None and first is not None else None


def origin_times(loaded: Any, result: dict[str, Any]) -> dict[str, Any]:
    """A backtest's `origin_timestamps`, where the model's dataset has a time axis."""
    axis = axis_of(loaded.checkpoint.data)
    return {"origin_timestamps": axis.iso(result["origin_positions"])} if axis is not None else {}


def baseline_forecast(history: np.ndarray, horizon: int, name: str, season: int) -> tuple[np.ndarray, str]:
    """(forecast, the baseline used) going on from `history`: a seasonal one needs a season of history and
    falls back to naive without it."""
    if name != "naive" and history.shape[0] < season:
        name = "naive"
    return baseline_forecasts(history, np.array([history.shape[0]]), horizon, season)[name][0], name


def fallback_history(series: np.ndarray | None, request: dict[str, Any], window: np.ndarray) -> np.ndarray:
    """The values a baseline forecast goes on from: your context, the series before the origin, or (a sine
    model) the window."""
    if request.get("context") is not None:
        return np.asarray(request["context"], dtype=np.float64)
    if series is not None:
        origin = request.get("origin")
        return series[: series.shape[0] if origin is None else int(origin)]
    return window


def training_verdict(model: Forecaster, data: AnyData, train: TrainOptions, series: np.ndarray | None,
                     transform: Transform) -> dict[str, Any] | None:
    """The verdict of one backtest over a dataset model's test part (the API's defaults, the horizon cut to the
    test part); None for a sine model or a test part too short."""
    if not isinstance(data, DatasetData) or series is None:
        return None
    first = first_test(data, train, data.length, model.config.output_steps, transform)
    horizon = min(BACKTEST_HORIZON, data.length - first)
    try:
        result = backtest(model.eval(), BacktestSetup(series, first, train.sequence_length, transform),
                          BACKTEST_ORIGINS, horizon)
    except SeriesError:
        return None
    return verdict(result)
