"""Training: Adam + MSE on in-order mini-batches, test MSE after every epoch.

Progress goes out through `on_epoch_end` (which may ask to stop) and
`on_checkpoint`; the caller decides what to do with them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from rnncast.common.defaults import ROLLOUT_PASS, eval_rows
from rnncast.common.options import AnyData, DatasetData, ModelOptions, TrainOptions
from rnncast.common.series import Scaler
from rnncast.core.checkpoint import Checkpoint, CheckpointError
from rnncast.core.data import Split, make_split, series_split
from rnncast.core.models import Forecaster
from rnncast.core.optim import Adam
from rnncast.core.schedule import EarlyStopping, Schedule


@dataclass(frozen=True)
class EpochReport:
    """What one finished epoch produced."""

    epoch: int
    epochs: int
    train_loss: float
    test_loss: float
    seconds: float
    lr: float = 0.0
    probe: float | None = None  # what the run's `probe` measured after this epoch, if anything


@dataclass
class TrainState:
    """The live state handed to `on_checkpoint` (save it, do not keep it)."""

    model: Forecaster
    optimizer: Adam
    epoch: int
    history: dict[str, list[Any]]
    progress: dict[str, Any] = field(default_factory=dict)  # schedule, early stopping, phase (JSON)
    best: dict[str, torch.Tensor] | None = None  # the best epoch's weights, when they are tracked


@dataclass
class TrainResult:
    """The trained model, its per-epoch history and how the run ended."""

    model: Forecaster
    optimizer: Adam
    history: dict[str, list[Any]]
    epochs_completed: int
    stopped: bool
    interrupted: bool
    seconds: float
    device: str
    resumed_from_epoch: int | None = None
    split: Split | None = field(default=None, repr=False)
    scaler: Scaler | None = None  # a dataset's standardisation (losses are in its units)
    stopped_early_at: int | None = None  # the epoch early stopping ended the main training at
    best_epoch: int | None = None  # the epoch whose weights the model has (restore_best)

    @property
    def final_train_loss(self) -> float | None:
        return self.history["train_loss"][-1] if self.history["train_loss"] else None

    @property
    def final_test_loss(self) -> float | None:
        return self.history["test_loss"][-1] if self.history["test_loss"] else None


OnEpochEnd = Callable[[EpochReport], bool | None]
Probe = Callable[[Forecaster, int], float | None]
OnCheckpoint = Callable[[TrainState], None]
Interrupt = Callable[[], bool]


class Interrupted(Exception):
    """`interrupt` said stop in the middle of an epoch."""


def evaluate(model: Forecaster, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean squared error of `model` on (x, y), without autograd, in passes of bounded size."""
    was_training = model.training
    model.eval()
    total = torch.zeros((), device=x.device, dtype=torch.float64)
    rows = eval_rows(x.shape[1], model.config.hidden_size)
    with torch.inference_mode():
        for i in range(0, x.shape[0], rows):
            err = model(x[i : i + rows]) - y[i : i + rows]  # (B, 1)
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


def _check_resume(resume: Checkpoint, model: ModelOptions, data: AnyData, train: TrainOptions) -> None:
    if resume.model != model or resume.data != data:
        raise CheckpointError("cannot resume: the checkpoint's model or data config differs")
    same = resume.train.to_dict() | {"epochs": train.epochs, "checkpoint_every": train.checkpoint_every}
    if same != train.to_dict():
        raise CheckpointError("cannot resume: the checkpoint's training config differs")
    if resume.epoch > train.total_epochs:
        raise CheckpointError(f"cannot resume: checkpoint epoch ({resume.epoch}) > epochs ({train.total_epochs})")


def _start(
    model_config: ModelOptions, train_config: TrainOptions, device: torch.device, resume: Checkpoint | None,
) -> tuple[Forecaster, dict[str, list[Any]], int]:
    """The model, history and epoch to go on from: fresh from the seed, or as `resume` left them.

    Call inside the RNG fork: a resumed run restores the global RNG state too.
    """
    torch.manual_seed(train_config.seed)
    model = resume.build_model(device) if resume else Forecaster(model_config).to(device)
    if resume is None:
        return model, {"train_loss": [], "test_loss": [], "lr": []}, 0
    rng = resume.rng_state()
    if rng is not None:
        torch.set_rng_state(rng)
    history = {k: list(v[: resume.epoch]) for k, v in resume.history.items()}
    history.setdefault("lr", [train_config.lr] * len(history["train_loss"]))
    return model, history, resume.epoch


def _clip(model: nn.Module, config: TrainOptions) -> None:
    if config.grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)


def train_epoch(
    model: Forecaster, optimizer: Adam, split: Split, config: TrainOptions, interrupt: Interrupt | None = None,
) -> float:
    """One pass over the training windows in order, one Adam step per batch; the mean train loss.

    With `input_noise_std`, each batch's inputs get fresh Gaussian noise (the
    loss is against the clean targets); with `grad_clip`, the gradient's
    global norm is clipped before each step. Raises Interrupted when
    `interrupt()` (asked before every batch) says stop.
    """
    loss_fn = nn.MSELoss()
    n_train = split.train_x.shape[0]
    total = torch.zeros((), device=split.train_x.device, dtype=torch.float64)
    for i in range(0, n_train, config.batch_size):
        if interrupt is not None and interrupt():
            raise Interrupted
        xb = split.train_x[i : i + config.batch_size]  # (B, T, 1)
        yb = split.train_y[i : i + config.batch_size]  # (B, 1)
        if config.input_noise_std > 0:
            xb = xb + torch.randn_like(xb) * config.input_noise_std
        optimizer.zero_grad(set_to_none=True)
        for xp, yp in _passes(xb, yb, config.micro_batch(model.config.cell)):
            loss = loss_fn(model(xp), yp)
            # Each pass weighs its share of the batch: the gradient is the batch mean's.
            (loss if xp.shape[0] == xb.shape[0] else loss * (xp.shape[0] / xb.shape[0])).backward()
            # Accumulate on the device: one host sync per epoch, not per batch.
            total += loss.detach().double() * xp.shape[0]
        _clip(model, config)
        optimizer.step()
    return float(total.item() / n_train)




def rollout_targets(split: Split, horizon: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Training windows that have `horizon` training values after them, and those values: (N', T, 1), (N', H)."""
    n = split.train_x.shape[0] - horizon + 1
    if n < 1:
        raise ValueError(f"rollout horizon ({horizon}) is longer than the training windows allow")
    return split.train_x[:n], split.train_y[:, 0].unfold(0, horizon, 1)[:n]


def free_running(model: Forecaster, windows: torch.Tensor, horizon: int) -> torch.Tensor:
    """The model fed its own predictions for `horizon` steps, differentiably: (B, T, 1) -> (B, H).

    Batched over the windows: one forward of the whole batch per step, then slide.
    """
    preds = []
    for _ in range(horizon):
        y = model(windows)  # (B, 1)
        preds.append(y)
        windows = torch.cat([windows[:, 1:], y.unsqueeze(-1)], dim=1)
    return torch.cat(preds, dim=1)


def rollout_epoch(
    model: Forecaster, optimizer: Adam, windows: torch.Tensor, targets: torch.Tensor, config: TrainOptions,
    interrupt: Interrupt | None = None,
) -> float:
    """One pass of fine-tuning on the free-running loss: the MSE of `rollout_horizon`-step rollouts
    from each training window against the series, backpropagated through the rollout."""
    n, horizon = windows.shape[0], targets.shape[1]
    total = torch.zeros((), device=windows.device, dtype=torch.float64)
    for i in range(0, n, config.batch_size):
        if interrupt is not None and interrupt():
            raise Interrupted
        xb, yb = windows[i : i + config.batch_size], targets[i : i + config.batch_size]
        optimizer.zero_grad(set_to_none=True)
        for xp, yp in _passes(xb, yb, ROLLOUT_PASS):
            loss = torch.mean((free_running(model, xp, horizon) - yp) ** 2)
            (loss * (xp.shape[0] / xb.shape[0])).backward()
            total += loss.detach().double() * xp.shape[0]
        _clip(model, config)
        optimizer.step()
    return float(total.item() / n)


def rollout_loss(model: Forecaster, split: Split, horizon: int) -> float:
    """The free-running loss over the training windows, without autograd (what fine-tuning lowers)."""
    windows, targets = rollout_targets(split, horizon)
    with torch.inference_mode():
        return float(torch.mean((free_running(model, windows, horizon) - targets).double() ** 2).item())


def prepare_split(
    data_config: AnyData, train_config: TrainOptions, series: np.ndarray | None = None,
) -> tuple[Split, Scaler | None]:
    """The windows a run trains and tests on: the sine's, or `series` standardised (with its scaler)."""
    if not isinstance(data_config, DatasetData):  # the sine (a SineData)
        return make_split(data_config, train_config.sequence_length, train_config.seed), None
    if series is None or series.shape[0] != data_config.length:
        raise ValueError(f"dataset {data_config.dataset_id!r}: its {data_config.length} values are needed to train")
    return series_split(series, train_config.sequence_length, data_config.train_fraction)


def train(
    model_config: ModelOptions,
    data_config: AnyData,
    train_config: TrainOptions,
    *,
    series: np.ndarray | None = None,
    device: torch.device | str = "cpu",
    on_epoch_end: OnEpochEnd | None = None,
    on_checkpoint: OnCheckpoint | None = None,
    resume: Checkpoint | None = None,
    interrupt: Interrupt | None = None,
    probe: Probe | None = None,
) -> TrainResult:
    """Train a forecaster; reproducible to the bit on CPU for a given seed.

    The main training runs `epochs` epochs (fewer if early stopping ends it) at
    the scheduled learning rate, then `rollout_epochs` of fine-tuning on the
    free-running loss. The history records each epoch's losses and rate.

    Args:
        on_epoch_end: called after every epoch; returning True stops training.
        on_checkpoint: called every `checkpoint_every` epochs and at the end
            (not after an interrupt: the model is then between two epochs).
        interrupt: asked before every batch; True stops training at once,
            mid-epoch (`TrainResult.interrupted`), for stops that cannot wait
            for the epoch's end (a cancel, a lost lease, a time limit).
        resume: a checkpoint saved with its optimizer (and `progress`); training
            goes on from its epoch and gives the same result as an uninterrupted run.
        series: a dataset's values (for a DatasetData). The model learns them
            standardised; reported losses are in the series' units.
        probe: called with the model after each epoch; a number it returns goes
            into the epoch's report and the history (`probe`).
    """
    device = torch.device(device)
    cfg = train_config
    if resume is not None:
        _check_resume(resume, model_config, data_config, cfg)
    split, scaler = prepare_split(data_config, cfg, series)
    split = split.to(device)
    # Standardised MSE back in the series' units (a sine's losses are left as they are).
    unit = scaler.std**2 if scaler is not None else None
    every = cfg.checkpoint_every
    progress: dict[str, Any] = dict(resume.extra.get("progress") or {}) if resume is not None else {}
    with torch.random.fork_rng(devices=[]):
        model, history, start_epoch = _start(model_config, cfg, device, resume)
        schedule = Schedule(cfg, progress.get("schedule"))
        stopper = EarlyStopping.of(cfg, progress.get("early"))
        track_best = cfg.early_stopping is not None or cfg.keeps_best
        best = resume.best_weights() if resume is not None and track_best else None
        if track_best and best is None and stopper.best_epoch:
            raise CheckpointError("cannot resume: the checkpoint lacks the best epoch's weights")
        end_main: int | None = progress.get("end_main")
        finetune = cfg.rollout_finetune
        in_finetune = end_main is not None and finetune is not None
        optimizer = Adam(model.parameters(), lr=finetune.lr if in_finetune and finetune else cfg.lr)
        if resume is not None:
            resume.restore_optimizer(optimizer)
        model.train()
        began, stopped, interrupted, epoch = time.perf_counter(), False, False, start_epoch
        stopped_early_at: int | None = progress.get("stopped_early_at")

        def snapshot(at: int) -> TrainState:
            state = {"schedule": schedule.state(), "early": stopper.state(), "end_main": end_main,
                     "stopped_early_at": stopped_early_at}
            return TrainState(model, optimizer, at, history, state, best)

        def finish_epoch(at: int, total: int, train_loss: float, lr: float, t0: float) -> bool:
            """Record epoch `at`; True when the caller must stop."""
            test_loss = evaluate(model, split.test_x, split.test_y)
            if unit is not None:
                train_loss, test_loss = train_loss * unit, test_loss * unit
            measured = probe(model, at) if probe is not None else None
            history["train_loss"].append(train_loss)
            history["test_loss"].append(test_loss)
            history["lr"].append(lr)
            if probe is not None:
                history.setdefault("probe", [None] * (len(history["train_loss"]) - 1)).append(measured)
            report = EpochReport(at, total, train_loss, test_loss, time.perf_counter() - t0, lr, measured)
            return on_epoch_end is not None and bool(on_epoch_end(report))

        if end_main is None:  # the main training
            for epoch in range(start_epoch + 1, cfg.epochs + 1):
                t0 = time.perf_counter()
                lr = schedule.lr(epoch)
                optimizer.lr = lr
                try:
                    train_loss = train_epoch(model, optimizer, split, cfg, interrupt)
                except Interrupted:
                    stopped = interrupted = True
                    epoch -= 1
                    break
                asked_stop = finish_epoch(epoch, cfg.total_epochs, train_loss, lr, t0)
                test_loss = history["test_loss"][-1]
                schedule.observe(test_loss)
                improved, stop_now = stopper.observe(epoch, test_loss)
                if track_best and improved:
                    best = {k: v.detach().clone() for k, v in model.state_dict().items()}
                if stop_now:
                    stopped_early_at = end_main = epoch
                elif epoch == cfg.epochs:
                    end_main = epoch
                if asked_stop and not (end_main is not None and cfg.rollout_epochs == 0):
                    stopped = True  # more epochs were to come
                    break
                if end_main is not None:
                    break
                if on_checkpoint is not None and every and epoch % every == 0:
                    on_checkpoint(snapshot(epoch))
            if end_main is not None and not stopped and cfg.keeps_best and best is not None:
                model.load_state_dict(best)
        if end_main is not None and not stopped and finetune is not None:  # fine-tuning on the rollout loss
            if not in_finetune:  # entering it: its own optimizer, at its own rate
                optimizer = Adam(model.parameters(), lr=finetune.lr)
            windows, targets = rollout_targets(split, finetune.horizon)
            last = end_main + finetune.epochs
            for epoch in range(max(start_epoch, end_main) + 1, last + 1):
                t0 = time.perf_counter()
                try:
                    train_loss = rollout_epoch(model, optimizer, windows, targets, cfg, interrupt)
                except Interrupted:
                    stopped = interrupted = True
                    epoch -= 1
                    break
                if finish_epoch(epoch, last, train_loss, finetune.lr, t0) and epoch < last:
                    stopped = True
                    break
                if on_checkpoint is not None and every and epoch % every == 0 and epoch < last:
                    on_checkpoint(snapshot(epoch))
        # A stopped run checkpoints too: its last epoch finished cleanly.
        if on_checkpoint is not None and not interrupted:
            on_checkpoint(snapshot(epoch))
    model.eval()
    return TrainResult(
        model=model, optimizer=optimizer, history=history, epochs_completed=epoch, stopped=stopped,
        interrupted=interrupted,
        seconds=time.perf_counter() - began, device=str(device),
        resumed_from_epoch=start_epoch if resume is not None else None, split=split, scaler=scaler,
        stopped_early_at=stopped_early_at, best_epoch=stopper.best_epoch if cfg.keeps_best else None,
    )
