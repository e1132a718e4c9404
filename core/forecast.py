"""Autoregressive continuation: the window slides and each prediction is appended."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.config import DataConfig
from core.data import exact

Model = Callable[[torch.Tensor], torch.Tensor]


def rollout(model: Model, windows: torch.Tensor, horizon: int) -> torch.Tensor:
    """Continue B windows at once: (B, T) -> (B, horizon), one forward per step."""
    if windows.dim() != 2:
        raise ValueError(f"windows must be (B, T), got shape {tuple(windows.shape)}")
    if horizon < 1:
        raise ValueError(f"horizon ({horizon}) must be >= 1")
    b, t = windows.shape
    with torch.inference_mode():
        buf = torch.empty(b, t + horizon, dtype=windows.dtype, device=windows.device)  # (B, T+H)
        buf[:, :t] = windows
        for k in range(horizon):
            buf[:, t + k] = model(buf[:, k : k + t].unsqueeze(-1))[:, 0]  # (B,)
        return buf[:, t:].clone()


def context_times(data: DataConfig, sequence_length: int, start: float) -> np.ndarray:
    """The `sequence_length` sample times just before `start`, on the signal's own step."""
    k = np.arange(sequence_length, 0, -1)
    return start - k * data.step


def forecast_times(data: DataConfig, start: float, horizon: int) -> np.ndarray:
    """x[k] = start + k * step for k = 0..horizon-1."""
    return start + np.arange(horizon) * data.step


@dataclass(frozen=True)
class Forecast:
    """Predictions at `x`, with the exact signal and errors when it is known."""

    x: list[float]
    y: list[float]
    exact: list[float] | None = None
    mse: float | None = None
    max_abs_error: float | None = None
    context_x: list[float] | None = None
    context_y: list[float] | None = None


def _as_model_dtype(model: torch.nn.Module, values: np.ndarray) -> torch.Tensor:
    param = next(model.parameters())
    return torch.as_tensor(values, dtype=param.dtype, device=param.device)


def forecast_from_starts(
    model: torch.nn.Module, data: DataConfig, sequence_length: int, starts: Sequence[float], horizon: int
) -> list[Forecast]:
    """Forecasts from phases `start`, the context taken from the noise-free signal."""
    for start in starts:
        if not math.isfinite(start):
            raise ValueError(f"start ({start}) must be finite")
    ctx_x = np.stack([context_times(data, sequence_length, s) for s in starts])  # (B, T)
    ctx_y = exact(data, ctx_x)
    preds = rollout(model, _as_model_dtype(model, ctx_y), horizon).double().cpu().numpy()  # (B, H)
    out = []
    for i, start in enumerate(starts):
        x = forecast_times(data, start, horizon)
        truth = exact(data, x)
        err = preds[i] - truth
        out.append(
            Forecast(
                x=x.tolist(),
                y=preds[i].tolist(),
                exact=truth.tolist(),
                mse=float(np.mean(err**2)),
                max_abs_error=float(np.max(np.abs(err))),
                context_x=ctx_x[i].tolist(),
                context_y=ctx_y[i].tolist(),
            )
        )
    return out


def forecast_from_context(
    model: torch.nn.Module, contexts: Sequence[Sequence[float]], sequence_length: int, horizon: int
) -> list[Forecast]:
    """Forecasts from given values; the last `sequence_length` of each are the window.

    The x axis counts steps after the context: 0..horizon-1.
    """
    windows = []
    for values in contexts:
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim != 1 or arr.shape[0] < sequence_length:
            raise ValueError(f"context needs at least {sequence_length} values, got {arr.shape[0]}")
        if not np.isfinite(arr).all():
            raise ValueError("context values must be finite")
        windows.append(arr[-sequence_length:])
    preds = rollout(model, _as_model_dtype(model, np.stack(windows)), horizon).double().cpu().numpy()
    x = np.arange(horizon, dtype=np.float64).tolist()
    return [Forecast(x=x, y=p.tolist()) for p in preds]
