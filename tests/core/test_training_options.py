"""Training beyond the tutorial: schedules, gradient clipping, input noise, early stopping, rollout fine-tuning."""

from __future__ import annotations

import math

import pytest
import torch

from rnncast.common.artifacts import LocalStore
from rnncast.common.options import EarlyStopping, ModelOptions, RolloutFinetune, SineData, TrainOptions
from rnncast.core.checkpoint import load_checkpoint, save_checkpoint
from rnncast.core.evaluate import rollout_loss
from rnncast.core.schedule import Schedule
from rnncast.core.train import train
from tests.support import worker_torch

DATA = SineData(points=200, stop=100)
MODEL = ModelOptions(cell="GRU", hidden_size=6)
BASE = {"batch_size": 64, "sequence_length": 10, "lr": 0.01}


def cfg(**kw) -> TrainOptions:
    return TrainOptions(**{**BASE, "epochs": 6, **kw})


def test_schedules_give_their_formulas_per_epoch():
    assert [Schedule(cfg(lr=0.01)).lr(e) for e in (1, 3, 6)] == [0.01, 0.01, 0.01]
    cos = Schedule(cfg(lr_schedule="cosine", lr=0.01, min_lr=0.001, epochs=5))
    assert [cos.lr(e) for e in range(1, 6)] == pytest.approx(
        [0.001 + 0.009 * 0.5 * (1 + math.cos(math.pi * k / 4)) for k in range(5)])
    one = Schedule(cfg(lr_schedule="onecycle", lr=0.001, max_lr=0.01, min_lr=1e-5, warmup_fraction=0.4, epochs=10))
    got = [one.lr(e) for e in range(1, 11)]
    # Warm-up over 4 epochs, linear from lr to max_lr; then cosine from max_lr to min_lr at the last epoch.
    assert got[:4] == pytest.approx([0.001, 0.004, 0.007, 0.01])
    assert got[4:] == pytest.approx([1e-5 + (0.01 - 1e-5) * 0.5 * (1 + math.cos(math.pi * k / 6)) for k in range(1, 7)])
    assert got[-1] == pytest.approx(1e-5)
    plateau = Schedule(cfg(lr_schedule="plateau", lr=0.01, factor=2, patience=2, min_lr=0.003))
    seen = []
    for loss in (1.0, 0.5, 0.6, 0.7, 0.4, 0.5, 0.5, 0.5, 0.5):
        seen.append(plateau.lr(0))
        plateau.observe(loss)
    assert seen == [0.01, 0.01, 0.01, 0.01, 0.005, 0.005, 0.005, 0.003, 0.003]  # halved twice, floored


def test_a_run_records_the_rate_of_every_epoch():
    with worker_torch():
        result = train(MODEL, DATA, cfg(lr_schedule="cosine", min_lr=0.001))
    schedule = Schedule(cfg(lr_schedule="cosine", min_lr=0.001))
    assert result.history["lr"] == [schedule.lr(e) for e in range(1, 7)]


def test_tutorial_defaults_train_exactly_as_before():
    """No option set: the loop is the tutorial's (the rate constant, no noise, no clipping)."""
    with worker_torch():
        plain = train(MODEL, DATA, cfg())
        explicit = train(MODEL, DATA, cfg(lr_schedule="constant", grad_clip=None, input_noise_std=0.0))
    assert plain.history == explicit.history and plain.history["lr"] == [0.01] * 6


@pytest.mark.parametrize("options", [
    {"lr_schedule": "onecycle", "max_lr": 0.05, "min_lr": 1e-4, "grad_clip": 0.5, "input_noise_std": 0.01},
    {"lr_schedule": "plateau", "patience": 1, "factor": 3.0, "early_stopping": EarlyStopping(patience=50),
     "restore_best": True},
    {"lr_schedule": "cosine", "rollout_finetune": RolloutFinetune(epochs=3, horizon=4, lr=0.003), "restore_best": True},
])
def test_a_run_resumed_mid_schedule_equals_the_uninterrupted_one(tmp_path, options):
    config = cfg(checkpoint_every=1, **options)
    saved: dict[int, bool] = {}

    def keep(state):
        if state.epoch in (3, 7):  # mid main training; mid fine-tuning (when there is one)
            save_checkpoint(LocalStore(tmp_path), f"at{state.epoch}", model=state.model, data=DATA, train=config,
                            epoch=state.epoch, history=state.history, optimizer=state.optimizer,
                            extra={"progress": state.progress}, best=state.best)
            saved[state.epoch] = True

    with worker_torch():
        whole = train(MODEL, DATA, config, on_checkpoint=keep)
        for at in saved:
            resumed = train(MODEL, DATA, config, resume=load_checkpoint(LocalStore(tmp_path), f"at{at}"))
            assert resumed.history == whole.history, at
            for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
                assert torch.equal(a, b), at
    assert 3 in saved


def test_early_stopping_ends_the_run_and_restores_the_best_epoch():
    # No epoch after the first can beat it by 10: the run stops after `patience` more.
    with worker_torch():
        stopped = train(MODEL, DATA, cfg(epochs=20, early_stopping=EarlyStopping(patience=2, min_delta=10.0),
                                         restore_best=True))
        first = train(MODEL, DATA, cfg(epochs=20), on_epoch_end=lambda report: report.epoch == 1)
    assert stopped.stopped_early_at == 3 and stopped.best_epoch == 1 and not stopped.stopped
    assert len(stopped.history["test_loss"]) == 3
    for a, b in zip(stopped.model.state_dict().values(), first.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # the best epoch's weights: epoch 1's


def test_early_stopping_keeps_the_last_weights_without_restore_best():
    with worker_torch():
        last = train(MODEL, DATA, cfg(epochs=20, early_stopping=EarlyStopping(patience=2, min_delta=10.0),
                                       restore_best=False))
        three = train(MODEL, DATA, cfg(epochs=20), on_epoch_end=lambda report: report.epoch == 3)
    assert last.stopped_early_at == 3 and last.best_epoch is None
    for a, b in zip(last.model.state_dict().values(), three.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_rollout_fine_tuning_lowers_the_free_running_loss():
    with worker_torch():
        base = train(MODEL, DATA, cfg(epochs=15))
        tuned = train(MODEL, DATA, cfg(epochs=15, rollout_finetune=RolloutFinetune(epochs=8, horizon=8, lr=0.003)))
    assert base.split is not None and tuned.split is not None
    before, after = rollout_loss(base.model, base.split, 8), rollout_loss(tuned.model, tuned.split, 8)
    assert after < 0.8 * before, (before, after)
    assert len(tuned.history["train_loss"]) == 23 and tuned.history["lr"][15:] == [0.003] * 8
    # The first 15 epochs are the plain run's, to the bit.
    assert tuned.history["test_loss"][:15] == base.history["test_loss"]


def test_bad_options_are_refused():
    for bad in ({"lr_schedule": "sawtooth"}, {"factor": 0.5}, {"grad_clip": 0.0}, {"warmup_fraction": 1.5},
                {"input_noise_std": -1.0}, {"early_stopping": {"patience": 0}}, {"rollout_finetune": {"horizon": 0}}):
        with pytest.raises(ValueError):
            TrainOptions.from_dict({**BASE, **bad})


def test_manifests_written_before_the_declaration_still_load():
    """Flat early-stopping and rollout names (and no micro_batch_size: whole batches) map onto today's fields."""
    old = {**BASE, "epochs": 6, "seed": 0, "checkpoint_every": 10, "lr_schedule": "constant", "max_lr": None,
           "min_lr": 0.0, "warmup_fraction": 0.3, "factor": 2.0, "patience": 10, "grad_clip": None,
           "early_stopping_patience": 5, "early_stopping_min_delta": 0.1, "restore_best": True,
           "rollout_epochs": 2, "rollout_horizon": 3, "rollout_lr": 0.002, "input_noise_std": 0.0}
    loaded = TrainOptions.from_dict(old)
    assert loaded.early_stopping == EarlyStopping(patience=5, min_delta=0.1)
    assert loaded.rollout_finetune == RolloutFinetune(epochs=2, horizon=3, lr=0.002)
    assert loaded.micro_batch_size == 0 and loaded.total_epochs == 8 and loaded.keeps_best
    off = TrainOptions.from_dict({**old, "early_stopping_patience": None, "rollout_epochs": 0})
    assert off.early_stopping is None and off.rollout_finetune is None
