"""Split-conformal prediction intervals from a model's rolling-origin residuals, one quantile per horizon step.

Calibration: the test part is cut in two. From every origin of the first half
(the calibration part) whose `steps` targets all lie inside it (steps: a third
of the part's length, at most CALIBRATION_STEPS, so that most of it gives
origins), the model forecasts as a backtest does; the absolute residuals
|truth - forecast| at each step are kept, sorted (at most CALIBRATION_ORIGINS
origins, spread evenly). An interval at level L for step h is the forecast +- the residuals' k-th smallest
at step h, k = ceil((n + 1) L): the finite-sample correction that makes the
coverage at least L when a new residual is exchangeable with the n
calibration ones. Steps past the calibrated ones widen the last step's
quantile by sqrt(h / steps) (a random walk's growth: a heuristic, not a
guarantee; answers say how many steps are calibrated).

Backtests measure coverage only on origins at or past the calibration part's
end, so no residual they score was used to calibrate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnncast.common.defaults import CALIBRATION_ORIGINS, CALIBRATION_STEPS, MIN_CALIBRATION_ORIGINS
from rnncast.core.backtest import BacktestSetup, actuals, backtest_origins, model_forecasts
from rnncast.core.forecast import StopCheck

RESIDUAL_DIGITS = 6  # significant digits kept per residual: the manifest stays small


class NoCalibration(ValueError):
    """A model has no calibration, or too little for the level asked."""


def conformal_rank(n: int, level: float) -> int:
    """The 1-based rank of the split-conformal quantile among n sorted scores: ceil((n + 1) level).

    Raises NoCalibration when it exceeds n (the level needs more calibration samples).
    """
    if not 0 < level < 1:
        raise ValueError(f"level ({level}) must be in (0, 1)")
    # a hair below: (n + 1) * level that is a whole number in exact arithmetic must not round up
    rank = math.ceil((n + 1) * level - 1e-9)
    if rank > n:
        raise NoCalibration(f"level {level:g} needs at least {conformal_rank_floor(level)} calibration origins; "
                            f"this model has {n} (its largest level is {n / (n + 1):.3g})")
    return max(rank, 1)


def conformal_rank_floor(level: float) -> int:
    """The fewest calibration samples that give `level`: ceil((n + 1) level) <= n."""
    n = math.ceil(level / (1 - level) - 1e-9)
    while math.ceil((n + 1) * level - 1e-9) > n:
        n += 1
    return n


@dataclass(frozen=True)
class Calibration:
    """A model's sorted absolute residuals per horizon step, and where its calibration part ends."""

    start: int  # the calibration part's first position (the test part's)
    end: int  # the first position past it: every calibration target lies before it
    residuals: tuple[tuple[float, ...], ...]  # (steps, n), each row ascending

    @property
    def steps(self) -> int:
        return len(self.residuals)

    @property
    def origins(self) -> int:
        return len(self.residuals[0])

    def check(self, levels: list[float]) -> None:
        """Raises NoCalibration for the first of `levels` these residuals are too few for."""
        for level in levels:
            conformal_rank(self.origins, level)

    def half_widths(self, level: float, horizon: int) -> np.ndarray:
        """The interval's half-width at each step 1..horizon: (horizon,)."""
        rank = conformal_rank(self.origins, level)
        widths = np.array([row[rank - 1] for row in self.residuals], dtype=np.float64)
        if horizon <= self.steps:
            return widths[:horizon]
        beyond = np.arange(self.steps + 1, horizon + 1, dtype=np.float64)
        return np.concatenate([widths, widths[-1] * np.sqrt(beyond / self.steps)])

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "residuals": [list(row) for row in self.residuals]}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Calibration:
        rows = tuple(tuple(sorted(float(v) for v in row)) for row in raw["residuals"])
        if not rows or not rows[0] or any(len(row) != len(rows[0]) for row in rows):
            raise ValueError("a calibration needs the same number (>= 1) of residuals at every step")
        return cls(int(raw["start"]), int(raw["end"]), rows)

    def summary(self) -> dict[str, Any]:
        """What a model's record says of it."""
        return {"origins": self.origins, "steps": self.steps, "start": self.start, "end": self.end,
                "max_level": round(self.origins / (self.origins + 1), 6)}


def pooled(calibrations: list[Calibration]) -> Calibration:
    """One calibration of several models' residuals (an ensemble's members): every sample at each of the
    steps all of them calibrated."""
    steps = min(c.steps for c in calibrations)
    rows = tuple(tuple(sorted(v for c in calibrations for v in c.residuals[h])) for h in range(steps))
    return Calibration(min(c.start for c in calibrations), max(c.end for c in calibrations), rows)


def calibration_part(setup: BacktestSetup) -> tuple[int, int]:
    """The calibration part: the first half of the test part, [start, end)."""
    start = setup.first
    return start, start + (setup.series.shape[0] - start) // 2


def calibrate(model: torch.nn.Module, setup: BacktestSetup, rows_per_batch: int,
              should_stop: StopCheck | None = None) -> Calibration | None:
    """The model's calibration, or None when its calibration part is too short (fewer than
    MIN_CALIBRATION_ORIGINS origins of one step)."""
    start, end = calibration_part(setup)
    steps = min(CALIBRATION_STEPS, (end - start) // 3)
    if steps < 1 or (end - start) - steps + 1 < MIN_CALIBRATION_ORIGINS:
        return None
    origins = backtest_origins(end, start, steps, CALIBRATION_ORIGINS)
    was_training = model.training
    try:
        preds = model_forecasts(model.eval(), setup, origins, steps, rows_per_batch, should_stop)
    finally:
        model.train(was_training)
    scores = np.abs(actuals(setup.series, origins, steps) - preds)  # (N, steps)
    if not np.all(np.isfinite(scores)):  # a diverged model: no interval would mean anything
        return None
    rows = tuple(tuple(float(f"{v:.{RESIDUAL_DIGITS}g}") for v in np.sort(scores[:, h])) for h in range(steps))
    return Calibration(start, end, rows)


def intervals(calibration: Calibration, levels: list[float], preds: np.ndarray) -> list[dict[str, Any]]:
    """Each level's bounds around a forecast (H,): [{"level", "lower", "upper"}]; raises NoCalibration for a
    level the calibration is too small for."""
    out = []
    for level in levels:
        width = calibration.half_widths(level, preds.shape[-1])
        out.append({"level": level, "lower": (preds - width).tolist(), "upper": (preds + width).tolist()})
    return out


def coverage(calibration: Calibration, levels: list[float], positions: np.ndarray, truth: np.ndarray,
             preds: np.ndarray) -> dict[str, Any]:
    """Empirical coverage per level of a backtest's (N, H) forecasts, over its origins at or past the
    calibration part's end: {"coverage": {"0.8": share}, "coverage_origins": n}; a share is null when no
    origin qualifies or the calibration is too small for the level."""
    held_out = positions >= calibration.end
    shares: dict[str, float | None] = {}
    for level in levels:
        if not held_out.any() or calibration.origins < conformal_rank_floor(level):
            shares[f"{level:g}"] = None
            continue
        width = calibration.half_widths(level, truth.shape[1])  # (H,)
        inside = np.abs(truth[held_out] - preds[held_out]) <= width
        shares[f"{level:g}"] = float(inside.mean())
    return {"coverage": shares, "coverage_origins": int(held_out.sum()), "calibration_end": calibration.end}
