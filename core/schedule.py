"""Per-epoch learning-rate schedules and early stopping, with state a checkpoint can carry as JSON.

Both are pure: the rate of an epoch depends only on the config, the epoch and
(for `plateau`) the test losses seen, so a run resumed from a checkpoint with
this state follows the uninterrupted run to the bit.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from rnncast.common.options import TrainOptions

SCHEDULES = ("constant", "cosine", "onecycle", "plateau")


@dataclass
class PlateauState:
    lr: float
    best: float = math.inf
    bad: int = 0


class Schedule:
    """The learning rate of each epoch (1-based) of the main training."""

    def __init__(self, cfg: TrainOptions, state: dict[str, Any] | None = None) -> None:
        self.cfg = cfg
        self.plateau = PlateauState(**state) if state else PlateauState(cfg.lr)

    def lr(self, epoch: int) -> float:
        cfg, n = self.cfg, self.cfg.epochs
        if cfg.lr_schedule == "constant":
            return cfg.lr
        if cfg.lr_schedule == "plateau":
            return self.plateau.lr
        if cfg.lr_schedule == "cosine":
            return _cosine(cfg.lr, cfg.min_lr, (epoch - 1) / max(n - 1, 1))
        # onecycle: linear warm-up from lr to max_lr over the first warmup_fraction of the
        # epochs (reaching max_lr at its last), then cosine from max_lr down to min_lr.
        peak = cfg.max_lr if cfg.max_lr is not None else 10 * cfg.lr
        warm = max(1, round(cfg.warmup_fraction * n))
        if epoch <= warm:
            return cfg.lr + (peak - cfg.lr) * (epoch - 1) / max(warm - 1, 1) if warm > 1 else peak
        return _cosine(peak, cfg.min_lr, (epoch - warm) / max(n - warm, 1))

    def observe(self, test_loss: float) -> None:
        """After an epoch: `plateau` divides the rate by `factor` after `patience` epochs without a new best."""
        if self.cfg.lr_schedule != "plateau":
            return
        p = self.plateau
        if test_loss < p.best:
            p.best, p.bad = test_loss, 0
            return
        p.bad += 1
        if p.bad >= self.cfg.patience:
            p.lr, p.bad = max(p.lr / self.cfg.factor, self.cfg.min_lr), 0

    def state(self) -> dict[str, Any]:
        return asdict(self.plateau)


def _cosine(high: float, low: float, progress: float) -> float:
    """From `high` (progress 0) down to `low` (progress 1), both exactly."""
    weight = 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
    return high * weight + low * (1 - weight)


@dataclass
class EarlyStopping:
    """Stops the main training after `patience` epochs whose test loss did not beat the best by `min_delta`."""

    patience: int | None
    min_delta: float
    best: float = math.inf
    best_epoch: int = 0
    bad: int = 0

    @classmethod
    def of(cls, cfg: TrainOptions, state: dict[str, Any] | None = None) -> EarlyStopping:
        early = cfg.early_stopping
        stopper = cls(early.patience, early.min_delta) if early is not None else cls(None, 0.0)
        if state:
            stopper.best, stopper.best_epoch, stopper.bad = float(state["best"]), int(state["best_epoch"]), int(
                state["bad"])
        return stopper

    def observe(self, epoch: int, test_loss: float) -> tuple[bool, bool]:
        """(a new best?, stop now?)"""
        improved = test_loss < self.best - self.min_delta
        if improved or self.best_epoch == 0:
            self.best, self.best_epoch, self.bad = test_loss, epoch, 0
            return True, False
        self.bad += 1
        return False, self.patience is not None and self.bad >= self.patience

    def state(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad": self.bad}
