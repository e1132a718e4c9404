"""Frozen, JSON-serialisable configs for the data, the model and training.

A checkpoint stores these three as JSON so that it can rebuild its model
exactly; each constructor validates its values and quotes the bad one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, TypeVar, cast

from rnncast.common import defaults as D
from rnncast.common.defaults import CELLS, Cell

__all__ = ["CELLS", "AnyData", "Cell", "DataConfig", "DatasetConfig", "ModelConfig", "TrainConfig", "data_config"]

_C = TypeVar("_C", bound="_Config")


def _finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} ({value}) must be finite")


class _Config:
    """Shared (de)serialisation for the frozen config dataclasses."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(cast(Any, self))

    @classmethod
    def from_dict(cls: type[_C], raw: dict[str, Any]) -> _C:
        known = {f.name for f in fields(cast(Any, cls))}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields: {unknown}")
        return cls(**raw)


@dataclass(frozen=True)
class DataConfig(_Config):
    """The sine signal and how it is cut into windows.

    Args:
        points: samples on t in [0, stop]; step = stop / (points - 1).
        train_fraction: share of windows (in time order) used for training.
    """

    kind: Literal["sine"] = "sine"
    amplitude: float = D.AMPLITUDE
    period: float = D.PERIOD
    phase: float = D.PHASE
    noise_std: float = D.NOISE_STD
    points: int = D.POINTS
    stop: float = D.STOP
    train_fraction: float = D.TRAIN_FRACTION

    def __post_init__(self) -> None:
        if self.kind != "sine":
            raise ValueError(f"data kind ({self.kind!r}) must be 'sine'")
        for name in ("amplitude", "period", "phase", "noise_std", "stop", "train_fraction"):
            _finite(name, getattr(self, name))
        if self.period <= 0:
            raise ValueError(f"period ({self.period}) must be > 0")
        if self.noise_std < 0:
            raise ValueError(f"noise_std ({self.noise_std}) must be >= 0")
        if self.points < 3:
            raise ValueError(f"points ({self.points}) must be >= 3")
        if self.stop <= 0:
            raise ValueError(f"stop ({self.stop}) must be > 0")
        if not 0 < self.train_fraction < 1:
            raise ValueError(f"train_fraction ({self.train_fraction}) must be in (0, 1)")

    @property
    def step(self) -> float:
        return self.stop / (self.points - 1)


@dataclass(frozen=True)
class DatasetConfig(_Config):
    """A stored dataset (a user's own series), identified by id and pinned by its digest.

    Args:
        length, step: the series' number of values and its sampling step.
        train_fraction: share of windows (in time order) used for training.
    """

    dataset_id: str
    sha256: str
    length: int
    step: float = 1.0
    train_fraction: float = D.TRAIN_FRACTION
    name: str | None = None
    kind: Literal["dataset"] = "dataset"

    def __post_init__(self) -> None:
        if self.kind != "dataset":
            raise ValueError(f"data kind ({self.kind!r}) must be 'dataset'")
        if self.length < 3:
            raise ValueError(f"length ({self.length}) must be >= 3")
        _finite("step", self.step)
        if self.step <= 0:
            raise ValueError(f"step ({self.step}) must be > 0")
        _finite("train_fraction", self.train_fraction)
        if not 0 < self.train_fraction < 1:
            raise ValueError(f"train_fraction ({self.train_fraction}) must be in (0, 1)")


AnyData = DataConfig | DatasetConfig


def data_config(raw: dict[str, Any]) -> AnyData:
    """The sine's or a dataset's config, by its `kind` (sine when absent)."""
    return DatasetConfig.from_dict(raw) if raw.get("kind") == "dataset" else DataConfig.from_dict(raw)


@dataclass(frozen=True)
class ModelConfig(_Config):
    """A recurrent layer (RNN, LSTM or GRU) followed by Linear(hidden, 1).

    Args:
        dropout: between stacked layers; None: `common.defaults.default_dropout`.
    """

    cell: str = "LSTM"
    hidden_size: int = D.HIDDEN_SIZE
    num_layers: int = D.NUM_LAYERS
    dropout: float | None = None

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell ({self.cell!r}) must be one of {list(CELLS)}")
        if not 1 <= self.hidden_size <= D.MAX_HIDDEN_SIZE:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be in 1..{D.MAX_HIDDEN_SIZE}")
        if not 1 <= self.num_layers <= D.MAX_NUM_LAYERS:
            raise ValueError(f"num_layers ({self.num_layers}) must be in 1..{D.MAX_NUM_LAYERS}")
        if self.dropout is None:
            object.__setattr__(self, "dropout", D.default_dropout(self.num_layers))
        elif not 0 <= self.dropout < 1:
            raise ValueError(f"dropout ({self.dropout}) must be in [0, 1)")


@dataclass(frozen=True)
class TrainConfig(_Config):
    """Optimisation settings; `seed` makes a CPU run reproducible to the bit.

    Args:
        micro_batch_size: rows per forward/backward pass. A larger batch runs as
            passes of at most this many rows whose gradients add up to the
            batch's (one optimizer step per batch, the same update but for
            float rounding): activation memory is bounded by the pass, not the
            batch. 0: the whole batch in one pass.
    """

    epochs: int = D.EPOCHS
    batch_size: int = D.BATCH_SIZE
    lr: float = D.LR
    sequence_length: int = D.SEQUENCE_LENGTH
    seed: int = D.SEED
    checkpoint_every: int = D.CHECKPOINT_EVERY
    micro_batch_size: int = 0
    # Beyond the tutorial (the defaults keep its behaviour; see core.schedule).
    lr_schedule: str = "constant"  # constant | cosine | onecycle | plateau
    max_lr: float | None = None  # onecycle's peak (None: 10 x lr)
    min_lr: float = 0.0  # cosine's and onecycle's end, plateau's floor
    warmup_fraction: float = 0.3  # onecycle: share of the epochs spent warming up
    factor: float = 2.0  # plateau: divide the rate by this
    patience: int = 10  # plateau: after this many epochs without a new best test loss
    grad_clip: float | None = None  # max global gradient norm
    early_stopping_patience: int | None = None  # stop after this many epochs without improvement
    early_stopping_min_delta: float = 0.0
    restore_best: bool = False  # end with the best epoch's weights (early stopping tracks them)
    rollout_epochs: int = 0  # fine-tuning epochs on the free-running loss, after the main training
    rollout_horizon: int = 10
    rollout_lr: float = 1e-4
    input_noise_std: float = 0.0  # Gaussian noise on training inputs

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs ({self.epochs}) must be >= 1")
        if self.batch_size < 1:
            raise ValueError(f"batch_size ({self.batch_size}) must be >= 1")
        _finite("lr", self.lr)
        if not 0 < self.lr <= 1:
            raise ValueError(f"lr ({self.lr}) must be in (0, 1]")
        if self.sequence_length < 1:
            raise ValueError(f"sequence_length ({self.sequence_length}) must be >= 1")
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"seed ({self.seed}) must be in [0, 2**63)")
        if self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every ({self.checkpoint_every}) must be >= 0")
        if self.micro_batch_size < 0:
            raise ValueError(f"micro_batch_size ({self.micro_batch_size}) must be >= 0")
        if self.lr_schedule not in ("constant", "cosine", "onecycle", "plateau"):
            raise ValueError(f"lr_schedule ({self.lr_schedule!r}) must be constant, cosine, onecycle or plateau")
        for name in ("min_lr", "warmup_fraction", "factor", "early_stopping_min_delta", "rollout_lr",
                     "input_noise_std"):
            _finite(name, getattr(self, name))
        if self.max_lr is not None and not 0 < self.max_lr <= 1:
            raise ValueError(f"max_lr ({self.max_lr}) must be in (0, 1]")
        if not 0 <= self.min_lr <= 1:
            raise ValueError(f"min_lr ({self.min_lr}) must be in [0, 1]")
        if not 0 <= self.warmup_fraction <= 1:
            raise ValueError(f"warmup_fraction ({self.warmup_fraction}) must be in [0, 1]")
        if self.factor < 1:
            raise ValueError(f"factor ({self.factor}) must be >= 1")
        if self.patience < 1:
            raise ValueError(f"patience ({self.patience}) must be >= 1")
        if self.grad_clip is not None and not (math.isfinite(self.grad_clip) and self.grad_clip > 0):
            raise ValueError(f"grad_clip ({self.grad_clip}) must be > 0")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise ValueError(f"early_stopping_patience ({self.early_stopping_patience}) must be >= 1")
        if self.early_stopping_min_delta < 0:
            raise ValueError(f"early_stopping_min_delta ({self.early_stopping_min_delta}) must be >= 0")
        if self.rollout_epochs < 0 or self.rollout_horizon < 1:
            raise ValueError("rollout_epochs must be >= 0 and rollout_horizon >= 1")
        if not 0 < self.rollout_lr <= 1:
            raise ValueError(f"rollout_lr ({self.rollout_lr}) must be in (0, 1]")
        if self.input_noise_std < 0:
            raise ValueError(f"input_noise_std ({self.input_noise_std}) must be >= 0")

    @property
    def total_epochs(self) -> int:
        """Main epochs plus rollout fine-tuning epochs (an early stop ends the main part sooner)."""
        return self.epochs + self.rollout_epochs
