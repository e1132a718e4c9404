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

from rnncast.common.options import AnyData, ModelOptions, RolloutFinetune, TrainOptions
from rnncast.common.series import Scaler
from rnncast.core.checkpoint import Checkpoint, CheckpointError
from rnncast.core.data import Split, prepare_split
from rnncast.core.epoch import Interrupt, Interrupted, rollout_epoch, train_epoch
from rnncast.core.evaluate import evaluate, rollout_targets
from rnncast.core.models import Forecaster
from rnncast.core.optim import Adam
from rnncast.core.schedule import EarlyStopping, Schedule
from rnncast.core.transform import Transform


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
    transform: Transform = field(default_factory=Transform)  # a dataset's differencing and scaling
    stopped_early_at: int | None = None  # the epoch early stopping ended the main training at
    best_epoch: int | None = None  # the epoch whose weights the model has (restore_best)

    @property
    def scaler(self) -> Scaler | None:
        """A dataset's scaling (losses are in the units of its values, differenced when they are)."""
        return self.transform.scaler

    @property
    def final_train_loss(self) -> float | None:
        return self.history["train_loss"][-1] if self.history["train_loss"] else None

    @property
    def final_test_loss(self) -> float | None:
        return self.history["test_loss"][-1] if self.history["test_loss"] else None


OnEpochEnd = Callable[[EpochReport], bool | None]
Probe = Callable[[Forecaster, int], float | None]
OnCheckpoint = Callable[[TrainState], None]


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
    inputs: int = 1,
) -> tuple[Forecaster, dict[str, list[Any]], int]:
    """The model, history and epoch to go on from: fresh from the seed, or as `resume` left them.

    Call inside the RNG fork: a resumed run restores the global RNG state too.
    """
    torch.manual_seed(train_config.seed)
    model = resume.build_model(device) if resume else Forecaster(model_config, inputs).to(device)
    if resume is None:
        return model, {"train_loss": [], "test_loss": [], "lr": []}, 0
    rng = resume.rng_state()
    if rng is not None:
        torch.set_rng_state(rng)
    history = {k: list(v[: resume.epoch]) for k, v in resume.history.items()}
    history.setdefault("lr", [train_config.lr] * len(history["train_loss"]))
    return model, history, resume.epoch


@dataclass(frozen=True)
class _Hooks:
    """The caller's callbacks (see `train`)."""

    on_epoch_end: OnEpochEnd | None
    on_checkpoint: OnCheckpoint | None
    interrupt: Interrupt | None
    probe: Probe | None


class _Run:
    """One call of `train`: the model, optimizer and history, and where the run stands.

    Build it inside the RNG fork (it seeds the model, or restores a checkpoint's RNG state).
    """

    def __init__(self, model_config: ModelOptions, cfg: TrainOptions, split: Split, unit: float | None,
                 resume: Checkpoint | None, hooks: _Hooks) -> None:
        self.cfg, self.split, self.unit, self.hooks = cfg, split, unit, hooks
        progress: dict[str, Any] = dict(resume.extra.get("progress") or {}) if resume is not None else {}
        self.model, self.history, self.start_epoch = _start(model_config, cfg, split.train_x.device, resume,
                                                           split.train_x.shape[-1])
        self.schedule = Schedule(cfg, progress.get("schedule"))
        self.stopper = EarlyStopping.of(cfg, progress.get("early"))
        self.track_best = cfg.early_stopping is not None or cfg.keeps_best
        self.best = resume.best_weights() if resume is not None and self.track_best else None
        if self.track_best and self.best is None and self.stopper.best_epoch:
            raise CheckpointError("cannot resume: the checkpoint lacks the best epoch's weights")
        self.end_main: int | None = progress.get("end_main")  # the main training's last epoch, once it ended
        self.stopped_early_at: int | None = progress.get("stopped_early_at")
        # A run resumed in fine-tuning goes on with fine-tuning's optimizer (and rate).
        finetune = cfg.rollout_finetune if self.end_main is not None else None
        self.optimizer = Adam(self.model.parameters(), lr=finetune.lr if finetune is not None else cfg.lr)
        if resume is not None:
            resume.restore_optimizer(self.optimizer)
        self.model.train()
        self.epoch, self.stopped, self.interrupted = self.start_epoch, False, False
        self.began = time.perf_counter()

    def run(self) -> None:
        """Main training (unless a resumed run is past it), fine-tuning, and the last checkpoint."""
        in_finetune = self.end_main is not None
        finetune = self.cfg.rollout_finetune
        try:
            if not in_finetune:
                self.main_phase()
            if self.end_main is not None and not self.stopped and finetune is not None:
                if not in_finetune:  # entering it: its own optimizer, at its own rate
                    self.optimizer = Adam(self.model.parameters(), lr=finetune.lr)
                self.finetune_phase(finetune)
        except Interrupted:  # the run stays at its last finished epoch: between two epochs, no checkpoint
            self.stopped = self.interrupted = True
            return
        # A stopped run checkpoints too: its last epoch finished cleanly.
        if self.hooks.on_checkpoint is not None:
            self.hooks.on_checkpoint(self.snapshot())

    def main_phase(self) -> None:
        """Epochs at the scheduled rate until `epochs`, an early stop, or the caller's stop."""
        cfg = self.cfg
        for epoch in range(self.start_epoch + 1, cfg.epochs + 1):
            t0, lr = time.perf_counter(), self.schedule.lr(epoch)
            self.optimizer.lr = lr
            train_loss = train_epoch(self.model, self.optimizer, self.split, cfg, self.hooks.interrupt)
            self.epoch = epoch
            asked_stop = self.finish_epoch(epoch, cfg.total_epochs, train_loss, lr, t0)
            self._observe(epoch, self.history["test_loss"][-1])
            if asked_stop and not (self.end_main is not None and cfg.rollout_epochs == 0):
                self.stopped = True  # more epochs were to come
                return
            if self.end_main is not None:
                break
            self._checkpoint(epoch)
        if self.end_main is not None and cfg.keeps_best and self.best is not None:
            self.model.load_state_dict(self.best)

    def finetune_phase(self, finetune: RolloutFinetune) -> None:
        """Fine-tuning on the rollout loss, from the main training's end (or where a resumed run was)."""
        assert self.end_main is not None
        windows, targets = rollout_targets(self.split, finetune.horizon)
        last = self.end_main + finetune.epochs
        for epoch in range(max(self.start_epoch, self.end_main) + 1, last + 1):
            t0 = time.perf_counter()
            train_loss = rollout_epoch(self.model, self.optimizer, windows, targets, self.cfg, self.hooks.interrupt)
            self.epoch = epoch
            if self.finish_epoch(epoch, last, train_loss, finetune.lr, t0) and epoch < last:
                self.stopped = True
                return
            if epoch < last:
                self._checkpoint(epoch)

    def finish_epoch(self, at: int, total: int, train_loss: float, lr: float, t0: float) -> bool:
        """Record epoch `at` (test loss, probe, report); True when the caller asks to stop."""
        test_loss = evaluate(self.model, self.split.test_x, self.split.test_y)
        if self.unit is not None:
            train_loss, test_loss = train_loss * self.unit, test_loss * self.unit
        probe, on_epoch_end = self.hooks.probe, self.hooks.on_epoch_end
        measured = probe(self.model, at) if probe is not None else None
        self.history["train_loss"].append(train_loss)
        self.history["test_loss"].append(test_loss)
        self.history["lr"].append(lr)
        if probe is not None:
            self.history.setdefault("probe", [None] * (len(self.history["train_loss"]) - 1)).append(measured)
        report = EpochReport(at, total, train_loss, test_loss, time.perf_counter() - t0, lr, measured)
        return on_epoch_end is not None and bool(on_epoch_end(report))

    def _observe(self, epoch: int, test_loss: float) -> None:
        """After a main epoch: the schedule and early stopping see its test loss; the main training may end."""
        self.schedule.observe(test_loss)
        improved, stop_now = self.stopper.observe(epoch, test_loss)
        if self.track_best and improved:
            self.best = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        if stop_now:
            self.stopped_early_at = self.end_main = epoch
        elif epoch == self.cfg.epochs:
            self.end_main = epoch

    def _checkpoint(self, epoch: int) -> None:
        every = self.cfg.checkpoint_every
        if self.hooks.on_checkpoint is not None and every and epoch % every == 0:
            self.hooks.on_checkpoint(self.snapshot())

    def snapshot(self) -> TrainState:
        progress = {"schedule": self.schedule.state(), "early": self.stopper.state(), "end_main": self.end_main,
                    "stopped_early_at": self.stopped_early_at}
        return TrainState(self.model, self.optimizer, self.epoch, self.history, progress, self.best)


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
    transform: Transform | None = None,
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
            differenced and scaled (`difference`, `scaling`); reported losses are in
            the units of the (differenced) values.
        probe: called with the model after each epoch; a number it returns goes
            into the epoch's report and the history (`probe`).
        transform: the series' `fit_transform`, when the caller has it already (fitted here otherwise).
    """
    device = torch.device(device)
    if resume is not None:
        _check_resume(resume, model_config, data_config, train_config)
    split, transform = prepare_split(data_config, model_config, train_config, series, transform)
    # Scaled MSE back in the series' units (a sine's losses are left as they are).
    unit = transform.scaler.std**2 if transform.scaler is not None else None
    with torch.random.fork_rng(devices=[]):
        run = _Run(model_config, train_config, split.to(device), unit, resume,
                   _Hooks(on_epoch_end, on_checkpoint, interrupt, probe))
        run.run()
    run.model.eval()
    return TrainResult(
        model=run.model, optimizer=run.optimizer, history=run.history, epochs_completed=run.epoch,
        stopped=run.stopped, interrupted=run.interrupted, seconds=time.perf_counter() - run.began,
        device=str(device), resumed_from_epoch=run.start_epoch if resume is not None else None, split=run.split,
        transform=transform, stopped_early_at=run.stopped_early_at,
        best_epoch=run.stopper.best_epoch if train_config.keeps_best else None,
    )
