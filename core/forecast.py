"""Autoregressive continuation: the window slides and each prediction is appended.

A core Forecaster in float32 on the CPU runs through the compiled kernel
(core.kernel) where numba is installed, else as one wavefront of torch ops
(core.wavefront, the pure path: `kernel=False` asks for it); either way a
window's forecast is the same to the bit whether it runs alone or batched
with others (tests/core check this), so a server may batch concurrent
requests freely. Other callables run the sliding loop, batches padded to a
multiple of ROW_BLOCK rows. Every rollout takes a `should_stop` (asked every
few hundred steps, core.wavefront.StopPoll) and raises RolloutStopped when it
says so: a server's deadline reaches into the work.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from rnncast.common.options import SineData
from rnncast.core import kernel as fused
from rnncast.core import wavefront
from rnncast.core.data import exact
from rnncast.core.wavefront import RolloutStopped, StopCheck, StopPoll

__all__ = ["RolloutStopped", "StopCheck"]

Model = Callable[[torch.Tensor], torch.Tensor]
ROW_BLOCK = 4


def output_steps(model: Model) -> int:
    """Values `model` emits per forward pass: a core Forecaster's `output_steps`, else 1."""
    config = getattr(model, "config", None)
    return int(getattr(config, "output_steps", 1))


def rollout(
    model: Model, windows: torch.Tensor, horizon: int, should_stop: StopCheck | None = None, kernel: bool = True,
    features: torch.Tensor | None = None,
) -> torch.Tensor:
    """Continue B windows at once: (B, T) -> (B, horizon).

    `features` (B, T + horizon, F): a covariate model's features for each input step, the window's and
    the predicted ones' (core.transform.rollout_features); such a model runs the sliding loop.

    Any other core Forecaster runs through the compiled kernel (core.kernel) where it can and `kernel` is True
    (any head: a multi-step head's windows slide by its `output_steps`); else one with a one-step head
    runs as one wavefront (core.wavefront); any other callable runs the sliding loop: one forward per
    chunk of `output_steps` values (one for a callable that is not a Forecaster), the window sliding by a
    chunk. When `should_stop()` says so (asked every few hundred steps), RolloutStopped is raised.
    """
    if windows.dim() != 2:
        raise ValueError(f"windows must be (B, T), got shape {tuple(windows.shape)}")
    if horizon < 1:
        raise ValueError(f"horizon ({horizon}) must be >= 1")
    width = features.shape[-1] if features is not None else 0
    if getattr(model, "inputs", 1) != 1 + width:
        raise ValueError(f"the model reads {getattr(model, 'inputs', 1)} inputs per step and the rollout gives "
                         f"{1 + width} (the value and {width} covariate features)")
    if features is not None and width:
        return rollout_chunks(model, windows, horizon, output_steps(model), should_stop, features)
    if kernel and isinstance(model, torch.nn.Module) and fused.supports(model) and windows.device.type == "cpu":
        out = fused.forecast(model, windows.detach().numpy(), horizon, should_stop)
        return torch.from_numpy(out).to(windows.dtype)
    if isinstance(model, torch.nn.Module) and wavefront.supports(model):
        return wavefront.forecast(model, windows, horizon, should_stop)
    return rollout_chunks(model, windows, horizon, output_steps(model), should_stop)


def rollout_chunks(model: Model, windows: torch.Tensor, horizon: int, chunk: int = 1,
                   should_stop: StopCheck | None = None, features: torch.Tensor | None = None) -> torch.Tensor:
    """The sliding loop: each forward over the last T values emits the next `chunk` (its first
    `chunk` outputs are kept), then the window slides by `chunk`: (B, T) -> (B, horizon). With `features`
    (B, T + horizon, F), each step's input is its value and its features."""
    b, t = windows.shape
    poll = StopPoll(should_stop) if should_stop is not None else None
    with torch.inference_mode():
        rows = -(-b // ROW_BLOCK) * ROW_BLOCK
        buf = wavefront.padded_buffer(windows, rows, horizon)  # (B', T+H)
        feats = None
        if features is not None and features.shape[-1]:
            feats = torch.zeros((rows, t + horizon, features.shape[-1]), dtype=buf.dtype, device=buf.device)
            feats[:b] = features.to(buf.dtype)
        for k in range(0, horizon, chunk):
            if poll is not None:
                poll.step()
            n = min(chunk, horizon - k)
            x = buf[:, k : k + t].unsqueeze(-1)  # (B', T, 1)
            if feats is not None:
                x = torch.cat([x, feats[:, k : k + t]], dim=-1)  # (B', T, 1 + F)
            buf[:, t + k : t + k + n] = model(x)[:, :n]  # (B', n)
        return buf[:b, t:].clone()


def rollout_numpy(
    model: torch.nn.Module, windows: np.ndarray, horizon: int, should_stop: StopCheck | None = None,
    features: np.ndarray | None = None,
) -> np.ndarray:
    """`rollout` on float64 arrays: (B, T) -> (B, horizon), in the model's dtype and device (`features`:
    (B, T + horizon, F), a covariate model's)."""
    if features is None and fused.supports(model):
        return fused.forecast(model, windows, horizon, should_stop).astype(np.float64)
    param = next(model.parameters())
    tensor = torch.as_tensor(windows, dtype=param.dtype, device=param.device)
    feats = torch.as_tensor(features, dtype=param.dtype, device=param.device) if features is not None else None
    return rollout(model, tensor, horizon, should_stop, features=feats).double().cpu().numpy()


def context_times(data: SineData, sequence_length: int, start: float) -> np.ndarray:
    """The `sequence_length` sample times just before `start`, on the signal's own step."""
    k = np.arange(sequence_length, 0, -1)
    return start - k * data.step


def forecast_times(data: SineData, start: float, horizon: int) -> np.ndarray:
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


def start_window(data: SineData, sequence_length: int, start: float) -> np.ndarray:
    """The noise-free signal at the `sequence_length` times before `start`: (T,)."""
    if not math.isfinite(start):
        raise ValueError(f"start ({start}) must be finite")
    return exact(data, context_times(data, sequence_length, start))


def context_window(values: Sequence[float], sequence_length: int) -> np.ndarray:
    """The last `sequence_length` of the given values: (T,)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] < sequence_length:
        raise ValueError(f"context needs at least {sequence_length} values, got {arr.size}")
    if not np.isfinite(arr).all():
        raise ValueError("context values must be finite")
    return arr[-sequence_length:]


def start_forecast(
    data: SineData, sequence_length: int, start: float, preds: np.ndarray, with_context: bool = True,
) -> Forecast:
    """A `start` forecast from its predictions, with the exact signal and errors (and its context, for a figure)."""
    x = forecast_times(data, start, preds.shape[0])
    truth = exact(data, x)
    err = preds - truth
    fc = Forecast(x=x.tolist(), y=preds.tolist(), exact=truth.tolist(), mse=float(np.mean(err**2)),
                  max_abs_error=float(np.max(np.abs(err))))
    if not with_context:
        return fc
    ctx_x = context_times(data, sequence_length, start)
    return Forecast(fc.x, fc.y, fc.exact, fc.mse, fc.max_abs_error, ctx_x.tolist(), exact(data, ctx_x).tolist())


def context_forecast(preds: np.ndarray) -> Forecast:
    """A `context` forecast: x counts steps after the context, 0..horizon-1."""
    return Forecast(x=np.arange(preds.shape[0], dtype=np.float64).tolist(), y=preds.tolist())


def forecast_from_starts(
    model: torch.nn.Module, data: SineData, sequence_length: int, starts: Sequence[float], horizon: int,
    should_stop: StopCheck | None = None,
) -> list[Forecast]:
    """Forecasts from phases `start`, the context taken from the noise-free signal."""
    windows = np.stack([start_window(data, sequence_length, s) for s in starts])  # (B, T)
    preds = rollout_numpy(model, windows, horizon, should_stop)  # (B, H)
    return [start_forecast(data, sequence_length, s, p) for s, p in zip(starts, preds, strict=True)]


def forecast_from_context(
    model: torch.nn.Module, contexts: Sequence[Sequence[float]], sequence_length: int, horizon: int
) -> list[Forecast]:
    """Forecasts from given values; the last `sequence_length` of each are the window."""
    windows = np.stack([context_window(values, sequence_length) for values in contexts])
    return [context_forecast(p) for p in rollout_numpy(model, windows, horizon)]


def origin_window(series: np.ndarray, sequence_length: int, origin: int) -> np.ndarray:
    """The `sequence_length` values of a series just before position `origin`: (T,)."""
    if not sequence_length <= origin <= series.shape[0]:
        raise ValueError(
            f"origin ({origin}) must be in {sequence_length}..{series.shape[0]}: the model needs the "
            f"sequence_length ({sequence_length}) values before it, and the series has {series.shape[0]}"
        )
    return np.asarray(series[origin - sequence_length : origin], dtype=np.float64)


def series_forecast(series: np.ndarray, step: float, sequence_length: int, origin: int, preds: np.ndarray) -> Forecast:
    """A forecast of a series from position `origin`, at x = position * step.

    Where the series has values after the origin they are `exact`, and the
    errors are over those steps; from the series' end there are none.
    """
    horizon = preds.shape[0]
    x = (origin + np.arange(horizon)) * step
    truth = np.asarray(series[origin : origin + horizon], dtype=np.float64)
    ctx = np.arange(origin - sequence_length, origin)
    out = Forecast(x=x.tolist(), y=preds.tolist(), context_x=(ctx * step).tolist(),
                   context_y=np.asarray(series[ctx], dtype=np.float64).tolist())
    if truth.shape[0] == 0:
        return out
    err = preds[: truth.shape[0]] - truth
    return Forecast(x=out.x, y=out.y, exact=truth.tolist(), mse=float(np.mean(err**2)),
                    max_abs_error=float(np.max(np.abs(err))), context_x=out.context_x, context_y=out.context_y)
