"""How well a model does on a run's windows: the one-step test MSE and the free-running (rollout) loss."""

from __future__ import annotations

import torch

from rnncast.common.defaults import eval_rows
from rnncast.core.data import Split
from rnncast.core.models import Forecaster


def evaluate(model: Forecaster, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean squared error of `model` on (x, y) (over every target of a multi-step head), without autograd,
    in passes of bounded size."""
    was_training = model.training
    model.eval()
    total = torch.zeros((), device=x.device, dtype=torch.float64)
    rows = eval_rows(x.shape[1], model.config.hidden_size)
    with torch.inference_mode():
        for i in range(0, x.shape[0], rows):
            err = model(x[i : i + rows]) - y[i : i + rows]  # (B, K)
            total += err.double().pow(2).sum()
    model.train(was_training)
    return float(total.item() / max(1, y.numel()))


def rollout_targets(split: Split, horizon: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Training windows that have `horizon` training values after them, and those values: (N', T, 1), (N', H)."""
    n = split.train_x.shape[0] - horizon + 1
    if n < 1:
        raise ValueError(f"rollout horizon ({horizon}) is longer than the training windows allow")
    return split.train_x[:n], split.train_y[:, 0].unfold(0, horizon, 1)[:n]  # each window's next values


def free_running(model: Forecaster, windows: torch.Tensor, horizon: int) -> torch.Tensor:
    """The model fed its own predictions for `horizon` steps, differentiably: (B, T, 1) -> (B, H).

    Batched over the windows: one forward of the whole batch per chunk of `output_steps`, then slide by it.
    """
    preds, done, t = [], 0, windows.shape[1]
    while done < horizon:
        y = model(windows)  # (B, K)
        preds.append(y)
        done += y.shape[1]
        if done < horizon:
            windows = torch.cat([windows[:, y.shape[1]:], y[:, -t:].unsqueeze(-1)], dim=1)  # (B, T, 1)
    out = torch.cat(preds, dim=1)
    return out if out.shape[1] == horizon else out[:, :horizon]


def rollout_mse(model: Forecaster, windows: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The mean squared error of the rollouts from `windows` against `targets` (B, H), differentiably."""
    return torch.mean((free_running(model, windows, targets.shape[1]) - targets) ** 2)


def rollout_loss(model: Forecaster, split: Split, horizon: int) -> float:
    """The free-running loss over the training windows, without autograd (what fine-tuning lowers)."""
    windows, targets = rollout_targets(split, horizon)
    with torch.inference_mode():
        return float(torch.mean((free_running(model, windows, horizon) - targets).double() ** 2).item())
