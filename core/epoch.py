"""One epoch of optimisation: in-order mini-batches, one Adam step each, on the one-step or the rollout loss."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from rnncast.common.defaults import ROLLOUT_PASS
from rnncast.common.options import TrainOptions
from rnncast.core.data import Split
from rnncast.core.evaluate import rollout_mse
from rnncast.core.models import Forecaster
from rnncast.core.optim import Adam

Interrupt = Callable[[], bool]
Loss = Callable[[Forecaster, torch.Tensor, torch.Tensor], torch.Tensor]
Targets = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class Interrupted(Exception):
    """`interrupt` said stop in the middle of an epoch."""


def _passes(xb: torch.Tensor, yb: torch.Tensor, micro_batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A batch as forward/backward passes of at most `micro_batch_size` rows (0: one pass), sizes as even as can be."""
    rows = xb.shape[0]
    if micro_batch_size == 0 or rows <= micro_batch_size:
        return [(xb, yb)]
    parts = -(-rows // micro_batch_size)
    return list(zip(xb.tensor_split(parts), yb.tensor_split(parts), strict=True))


def _step(model: Forecaster, optimizer: Adam, xb: torch.Tensor, yb: torch.Tensor, config: TrainOptions,
          loss_of: Loss, pass_rows: int, total: torch.Tensor, interrupt: Interrupt | None) -> None:
    """One Adam step on a batch, as passes of at most `pass_rows` rows; adds the batch's summed loss to `total`.

    With `grad_clip`, the gradient's global norm is clipped before the step. `interrupt` is asked before every
    pass, so a stop waits for one pass at most, however large the batch (the step is then not taken).
    """
    optimizer.zero_grad(set_to_none=True)
    for xp, yp in _passes(xb, yb, pass_rows):
        if interrupt is not None and interrupt():
            raise Interrupted
        loss = loss_of(model, xp, yp)
        # Each pass weighs its share of the batch: the gradient is the batch mean's.
        (loss if xp.shape[0] == xb.shape[0] else loss * (xp.shape[0] / xb.shape[0])).backward()
        # Accumulate on the device: one host sync per epoch, not per batch.
        total += loss.detach().double() * xp.shape[0]
    if config.grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()


def _epoch(model: Forecaster, optimizer: Adam, xs: torch.Tensor, ys: torch.Tensor, config: TrainOptions,
           loss_of: Loss, pass_rows: int, interrupt: Interrupt | None, noise: float = 0.0,
           targets: Targets | None = None) -> float:
    """One pass over (xs, ys) in order, one step per batch of `batch_size`; the mean loss.

    `targets` makes a batch's targets from its (clean) windows and targets. With `noise`, each batch's inputs
    get fresh Gaussian noise (the loss is against the clean targets). Raises Interrupted when `interrupt()`
    (asked before every pass) says stop.
    """
    n = xs.shape[0]
    total = torch.zeros((), device=xs.device, dtype=torch.float64)
    for i in range(0, n, config.batch_size):
        xb, yb = xs[i : i + config.batch_size], ys[i : i + config.batch_size]  # (B, T, 1), (B, K or H)
        if targets is not None:
            yb = targets(xb, yb)
        if noise > 0:  # on the values, not on their covariates
            xb = torch.cat([xb[..., :1] + torch.randn_like(xb[..., :1]) * noise, xb[..., 1:]], dim=-1)
        _step(model, optimizer, xb, yb, config, loss_of, pass_rows, total, interrupt)
    return float(total.item() / n)


def _one_step_mse(model: Forecaster, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.mse_loss(model(x), y)


def every_step_targets(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """What each step of the windows predicts: the K values after it, (B, T, 1), (B, K) -> (B, T, K)."""
    after = torch.cat([x[:, 1:, 0], y], dim=1)  # (B, T - 1 + K): the values after each window's first
    return after.unfold(1, y.shape[1], 1)  # (B, T, K)


def _every_step_mse(model: Forecaster, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.mse_loss(model.every_step(x), y)


def train_epoch(
    model: Forecaster, optimizer: Adam, split: Split, config: TrainOptions, interrupt: Interrupt | None = None,
) -> float:
    """One pass over the training windows (inputs noised by `input_noise_std`); its mean loss: the MSE of each
    window's prediction after its last value, or (`loss_on` all) of the predictions after every step."""
    every = config.loss_on == "all"
    return _epoch(model, optimizer, split.train_x, split.train_y, config, _every_step_mse if every else _one_step_mse,
                  config.micro_batch(model.config.cell), interrupt, config.input_noise_std,
                  every_step_targets if every else None)


def rollout_epoch(
    model: Forecaster, optimizer: Adam, windows: torch.Tensor, targets: torch.Tensor, config: TrainOptions,
    interrupt: Interrupt | None = None,
) -> float:
    """One pass of fine-tuning on the free-running loss: the MSE of the rollouts from each training
    window against the series' next `horizon` values, backpropagated through the rollout."""
    return _epoch(model, optimizer, windows, targets, config, rollout_mse, ROLLOUT_PASS, interrupt)
