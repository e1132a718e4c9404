"""How a dataset's values become the model's and its forecasts come back: differencing, then scaling.

One `Transform` per model, fitted on the train part when training starts and kept in its checkpoint
(`lag` and the scaler): training, the forecast probe, forecasts, figures, ensembles and backtests all go
through it. The model sees `scaler.forward(y[t] - y[t - lag])` (lag 0: no differencing); a forecast in
model units is scaled back, then integrated from the last `lag` observed values of its window, so a
first-differenced model continues a trend past the values it was trained on. The sine's (and a model
saved before transforms existed) is the identity, or its scaler alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnncast.common import covariates
from rnncast.common.defaults import MAX_SEASON
from rnncast.common.options import AnyData, DatasetData, TrainOptions
from rnncast.common.series import Scaler, SeriesError, fit_scaler, split_point
from rnncast.common.timeaxis import TimeAxis


@dataclass(frozen=True)
class Transform:
    """Differencing at `lag` (0: none), then `scaler` (None: none)."""

    lag: int = 0
    scaler: Scaler | None = None
    covariates: tuple[str, ...] = ()  # the features' names (common.covariates), () for none
    axis: TimeAxis | None = None  # the series' time axis, which the features come from
    trend_scale: float = 1.0  # the train part's length: the trend is 1 where it ends

    @property
    def width(self) -> int:
        """Covariate features per step (0: none)."""
        return covariates.width(self.covariates)

    @property
    def inputs(self) -> int:
        """The model's input size: the value and its features."""
        return 1 + self.width

    def features(self, positions: np.ndarray) -> np.ndarray:
        """The features the inputs at series `positions` carry: those of the timestamps one step later,
        positions.shape + (width,)."""
        positions = np.asarray(positions, dtype=np.int64)
        if not self.width:
            return np.zeros((*positions.shape, 0))
        assert self.axis is not None
        lo, hi = int(positions.min()), int(positions.max())
        table = covariates.features(self.axis, np.arange(lo + 1, hi + 2), self.covariates, self.trend_scale)
        return table[positions - lo]

    def rollout_features(self, origins: np.ndarray, sequence_length: int, horizon: int) -> np.ndarray | None:
        """The features of the forecasts from series positions `origins` (N,): for the window's inputs and
        each predicted step's, (N, T + H, width); None without covariates."""
        if not self.width:
            return None
        steps = np.arange(-sequence_length, horizon)
        return self.features(np.asarray(origins, dtype=np.int64)[:, None] + steps)

    def context(self, sequence_length: int) -> int:
        """Observed values one model window needs: `sequence_length`, plus `lag` to difference from."""
        return sequence_length + self.lag

    def forward(self, values: np.ndarray) -> np.ndarray:
        """Values along the last axis, in the model's units (`lag` fewer of them)."""
        if self.lag:
            values = np.asarray(values, dtype=np.float64)
            values = values[..., self.lag :] - values[..., : -self.lag]
        return self.scaler.forward(values) if self.scaler is not None else values

    def inverse(self, preds: np.ndarray, observed: np.ndarray) -> np.ndarray:
        """Predictions (..., H) in the model's units back in the series', integrated from the last `lag`
        of `observed` (..., >= lag), the values just before the first prediction."""
        steps = self.scaler.inverse(preds) if self.scaler is not None else preds
        if not self.lag:
            return steps
        observed = np.asarray(observed, dtype=np.float64)
        horizon = steps.shape[-1]
        out = np.concatenate([observed[..., -self.lag :], np.zeros_like(steps)], axis=-1)  # (..., lag + H)
        for j in range(horizon):  # y[t] = y[t - lag] + the predicted difference
            out[..., self.lag + j] = out[..., j] + steps[..., j]
        return out[..., self.lag :]

    def manifest(self) -> dict[str, object]:
        """What a checkpoint keeps beside the scaler (nothing for no differencing and no covariates)."""
        out: dict[str, object] = {"lag": self.lag} if self.lag else {}
        if self.covariates:
            out |= {"covariates": list(self.covariates), "trend_scale": self.trend_scale}
        return out


def lag_of(train: TrainOptions, values: np.ndarray, train_fraction: float, output_steps: int) -> int:
    """The differencing lag `train.difference` asks for: 0, 1, or the season (given, or the autocorrelation
    peak of the undifferenced train part)."""
    if train.difference == "none":
        return 0
    if train.difference == "first":
        return 1
    if train.season is not None:
        return train.season
    from rnncast.core.backtest import find_season  # here: core.backtest imports core.data, which imports this

    first = split_point(values.shape[0], train.sequence_length, train_fraction, output_steps)
    season = find_season(values[:first], MAX_SEASON)
    if season < 2:
        raise SeriesError("difference 'seasonal': the train part shows no season; give `season`")
    return season


def fit_transform(data: AnyData, train: TrainOptions, values: np.ndarray | None, output_steps: int) -> Transform:
    """A run's transform: the identity for the sine, else differencing and scaling fitted on the train part."""
    if not isinstance(data, DatasetData):
        if train.difference != "none" or train.scaling not in (None, "none") or train.covariates != "none":
            raise ValueError("difference, scaling and covariates apply to a dataset's values; the sine is learned "
                             "as it is")
        return Transform()
    if values is None:
        raise ValueError(f"dataset {data.dataset_id!r}: its {data.length} values are needed to train")
    lag = lag_of(train, values, data.train_fraction, output_steps)
    first = split_point(values.shape[0], train.sequence_length, data.train_fraction, output_steps, lag)
    train_part = Transform(lag).forward(values[:first])
    scaler = fit_scaler(train_part, train.scaling or "standard")
    names = covariates.resolve(train.covariates, data.frequency)
    if names and train.rollout_finetune is not None:
        raise ValueError("covariates and rollout_finetune do not go together yet: leave one out")
    return Transform(lag, scaler, names, axis_of(data), float(first)) if names else Transform(lag, scaler)


def axis_of(data: AnyData | None) -> TimeAxis | None:
    """The time axis of a dataset's options, if its upload had one."""
    if not isinstance(data, DatasetData) or data.frequency is None:
        return None
    return TimeAxis.from_dict({"frequency": data.frequency, "start": data.start, "month_end": data.month_end})


def first_test(data: AnyData, train: TrainOptions, length: int, output_steps: int, transform: Transform) -> int:
    """The position of a run's first test target (where a forecast or a backtest of its test part starts)."""
    return split_point(length, train.sequence_length, data.train_fraction, output_steps, transform.lag)
