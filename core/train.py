"""Training: Adam + MSE on in-order mini-batches, test MSE after every epoch.

Progress goes out through `on_epoch_end` (which may ask to stop) and
`on_checkpoint`; the caller decides what to do with them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from rnncast.core.checkpoint import Checkpoint, CheckpointError
from rnncast.core.config import AnyData, DatasetConfig, ModelConfig, TrainConfig
from rnncast.core.data import Split, make_split, series_split
from rnncast.core.models import Forecaster
from rnncast.core.optim import Adam
from rnncast.core.series import Scaler

EVAL_BATCH = 8192


@dataclass(frozen=True)
class EpochReport:
    """What one finished epoch produced."""

    epoch: int
    epochs: int
    train_loss: float
    test_loss: float
    seconds: float


@dataclass
class TrainState:
    """The live state handed to `on_checkpoint` (save it, do not keep it)."""

    model: Forecaster
    optimizer: Adam
    epoch: int
    history: dict[str, list[float]]


@dataclass
class TrainResult:
    """The trained model, its per-epoch history and how the run ended."""

    model: Forecaster
    optimizer: Adam
    history: dict[str, list[float]]
    epochs_completed: int
    stopped: bool
    interrupted: bool
    seconds: float
    device: str
    resumed_from_epoch: int | None = None
    split: Split | None = field(default=None, repr=False)
    scaler: Scaler | None = None  # a dataset's standardisation (losses are in its units)

    @property
    def final_train_loss(self) -> float | None:
        return self.history["train_loss"][-1] if self.history["train_loss"] else None

    @property
    def final_test_loss(self) -> float | None:
        return self.history["test_loss"][-1] if self.history["test_loss"] else None


OnEpochEnd = Callable[[EpochReport], bool | None]
OnCheckpoint = Callable[[TrainState], None]
Interrupt = Callable[[], bool]


class Interrupted(Exception):
    """`interrupt` said stop in the middle of an epoch."""


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean squared error of `model` on (x, y), without autograd."""
    was_training = model.training
    model.eval()
    total = torch.zeros((), device=x.device, dtype=torch.float64)
    with torch.inference_mode():
        for i in range(0, x.shape[0], EVAL_BATCH):
            err = model(x[i : i + EVAL_BATCH]) - y[i : i + EVAL_BATCH]  # (B, 1)
            total += err.double().pow(2).sum()
    model.train(was_training)
    return float(total.item() / x.shape[0])


def _passes(xb: torch.Tensor, yb: torch.Tensor, micro_batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A batch as forward/backward passes of at most `micro_batch_size` rows (0: one pass), sizes as even as can be."""
    rows = xb.shape[0]
    if micro_batch_size == 0 or rows <= micro_batch_size:
        return [(xb, yb)]
    parts = -(-rows // micro_batch_size)
    return list(zip(xb.tensor_split(parts), yb.tensor_split(parts), strict=True))


def _check_resume(resume: Checkpoint, model: ModelConfig, data: AnyData, train: TrainConfig) -> None:
    if resume.model != model or resume.data != data:
        raise CheckpointError("cannot resume: the checkpoint's model or data config differs")
    same = resume.train.to_dict() | {"epochs": train.epochs, "checkpoint_every": train.checkpoint_every}
    if same != train.to_dict():
        raise CheckpointError("cannot resume: the checkpoint's training config differs")
    if resume.epoch > train.epochs:
        raise CheckpointError(f"cannot resume: checkpoint epoch ({resume.epoch}) > epochs ({train.epochs})")


def _start(
    model_config: ModelConfig, train_config: TrainConfig, device: torch.device, resume: Checkpoint | None,
) -> tuple[Forecaster, Adam, dict[str, list[float]], int]:
    """The model, optimizer, history and epoch to go on from: fresh from the seed, or as `resume` left them.

    Call inside the RNG fork: a resumed run restores the global RNG state too.
    """
    torch.manual_seed(train_config.seed)
    model = resume.build_model(device) if resume else Forecaster(model_config).to(device)
    optimizer = Adam(model.parameters(), lr=train_config.lr)
    if resume is None:
        return model, optimizer, {"train_loss": [], "test_loss": []}, 0
    resume.restore_optimizer(optimizer)
    rng = resume.rng_state()
    if rng is not None:
        torch.set_rng_state(rng)
    history = {k: list(v[: resume.epoch]) for k, v in resume.history.items()}
    return model, optimizer, history, resume.epoch


def train_epoch(
    model: Forecaster, optimizer: Adam, split: Split, config: TrainConfig, interrupt: Interrupt | None = None,
) -> float:
    """One pass over the training windows in order, one Adam step per batch; the mean train loss.

    Raises Interrupted when `interrupt()` (asked before every batch) says stop.
    """
    loss_fn = nn.MSELoss()
    n_train = split.train_x.shape[0]
    total = torch.zeros((), device=split.train_x.device, dtype=torch.float64)
    for i in range(0, n_train, config.batch_size):
        if interrupt is not None and interrupt():
            raise Interrupted
        xb = split.train_x[i : i + config.batch_size]  # (B, T, 1)
        yb = split.train_y[i : i + config.batch_size]  # (B, 1)
        optimizer.zero_grad(set_to_none=True)
        for xp, yp in _passes(xb, yb, config.micro_batch_size):
            loss = loss_fn(model(xp), yp)
            # Each pass weighs its share of the batch: the gradient is the batch mean's.
            (loss if xp.shape[0] == xb.shape[0] else loss * (xp.shape[0] / xb.shape[0])).backward()
            # Accumulate on the device: one host sync per epoch, not per batch.
            total += loss.detach().double() * xp.shape[0]
        optimizer.step()
    return float(total.item() / n_train)


def prepare_split(
    data_config: AnyData, train_config: TrainConfig, series: np.ndarray | None = None,
) -> tuple[Split, Scaler | None]:
    """The windows a run trains and tests on: the sine's, or `series` standardised (with its scaler)."""
    if not isinstance(data_config, DatasetConfig):  # the sine (a DataConfig)
        return make_split(data_config, train_config.sequence_length, train_config.seed), None
    if series is None or series.shape[0] != data_config.length:
        raise ValueError(f"dataset {data_config.dataset_id!r}: its {data_config.length} values are needed to train")
    return series_split(series, train_config.sequence_length, data_config.train_fraction)


def train(
    model_config: ModelConfig,
    data_config: AnyData,
    train_config: TrainConfig,
    *,
    series: np.ndarray | None = None,
    device: torch.device | str = "cpu",
    on_epoch_end: OnEpochEnd | None = None,
    on_checkpoint: OnCheckpoint | None = None,
    resume: Checkpoint | None = None,
    interrupt: Interrupt | None = None,
) -> TrainResult:
    """Train a forecaster; reproducible to the bit on CPU for a given seed.

    Args:
        on_epoch_end: called after every epoch; returning True stops training.
        on_checkpoint: called every `checkpoint_every` epochs and at the end
            (not after an interrupt: the model is then between two epochs).
        interrupt: asked before every batch; True stops training at once,
            mid-epoch (`TrainResult.interrupted`), for stops that cannot wait
            for the epoch's end (a cancel, a lost lease, a time limit).
        resume: a checkpoint saved with its optimizer; training goes on from
            its epoch and gives the same result as an uninterrupted run.
        series: a dataset's values (for a DatasetConfig). The model learns them
            standardised; reported losses are in the series' units.
    """
    device = torch.device(device)
    if resume is not None:
        _check_resume(resume, model_config, data_config, train_config)
    split, scaler = prepare_split(data_config, train_config, series)
    split = split.to(device)
    # Standardised MSE back in the series' units (a sine's losses are left as they are).
    unit = scaler.std**2 if scaler is not None else None
    epochs, every = train_config.epochs, train_config.checkpoint_every
    with torch.random.fork_rng(devices=[]):
        model, optimizer, history, start_epoch = _start(model_config, train_config, device, resume)
        model.train()
        began, stopped, interrupted, epoch = time.perf_counter(), False, False, start_epoch
        for epoch in range(start_epoch + 1, epochs + 1):
            t0 = time.perf_counter()
            try:
                train_loss = train_epoch(model, optimizer, split, train_config, interrupt)
            except Interrupted:
                stopped = interrupted = True
                epoch -= 1
                break
            test_loss = evaluate(model, split.test_x, split.test_y)
            if unit is not None:
                train_loss, test_loss = train_loss * unit, test_loss * unit
            history["train_loss"].append(train_loss)
            history["test_loss"].append(test_loss)
            report = EpochReport(epoch, epochs, history["train_loss"][-1], history["test_loss"][-1],
                                 time.perf_counter() - t0)
            if on_epoch_end is not None and on_epoch_end(report) and epoch < epochs:
                stopped = True
                break
            if on_checkpoint is not None and every and epoch % every == 0 and epoch < epochs:
                on_checkpoint(TrainState(model, optimizer, epoch, history))
        # A stopped run checkpoints too: its last epoch finished cleanly.
        if on_checkpoint is not None and not interrupted:
            on_checkpoint(TrainState(model, optimizer, epoch, history))
    model.eval()
    return TrainResult(
        model=model, optimizer=optimizer, history=history, epochs_completed=epoch, stopped=stopped,
        interrupted=interrupted,
        seconds=time.perf_counter() - began, device=str(device),
        resumed_from_epoch=start_epoch if resume is not None else None, split=split, scaler=scaler,
    )
