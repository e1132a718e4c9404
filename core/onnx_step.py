"""A trained model as one recurrent step with its state as inputs and outputs, exported to ONNX.

The exported graph is the cell of a Forecaster taken one step at a time, as a
recurrent server runs it (Darts' exporter has the same shape): inputs `x`
(B, inputs) (the value, and a covariate model's features), `h` (L, B, H) and,
for an LSTM, `c` (L, B, H); outputs `y` (B, output_steps) (the head on the new
top state), `h_out` (and `c_out`). The service's forecast slides a window: each
chunk of `output_steps` predictions is the head after the window's T values
were read from a zero state (`step_rollout` does exactly that), so a server
that carries the state on past the window computes something else.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rnncast.core.models import Forecaster

# (feed) -> outputs: one step of an exported graph as a runtime runs it (an ONNX Runtime session's `run`).
StepRunner = Callable[[dict[str, np.ndarray]], Sequence[np.ndarray]]
OPSET = 17


class StepCell(nn.Module):
    """One step of a Forecaster's cell and its head: (x (B, I), h (L, B, H)[, c]) -> (y (B, K), h'[, c'])."""

    def __init__(self, model: Forecaster) -> None:
        super().__init__()
        self.rnn, self.head = model.rnn, model.head
        self.lstm = model.config.cell == "LSTM"

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        state = (h, c) if self.lstm else h
        out, new = self.rnn(x.unsqueeze(1), state)  # (B, 1, H)
        y = self.head(out[:, 0])  # (B, K)
        return (y, *new) if self.lstm else (y, new)


def state_names(cell: str) -> tuple[str, ...]:
    """The state inputs of a cell's step graph (its outputs carry `_out`)."""
    return ("h", "c") if cell == "LSTM" else ("h",)


def export_step(model: Forecaster) -> bytes:
    """The model's step graph as ONNX bytes (float32, any batch size), by torch's TorchScript-based exporter:
    a hand-written step of torch.nn layers is what it handles best, and it needs no extra package."""
    cfg = model.config
    cell = StepCell(model.float().cpu().eval())
    states = state_names(cfg.cell)
    x = torch.zeros(1, model.inputs)
    zeros = tuple(torch.zeros(cfg.num_layers, 1, cfg.hidden_size) for _ in states)
    axes = {"x": {0: "batch"}, "y": {0: "batch"}} | {n: {1: "batch"} for n in states}
    axes |= {f"{n}_out": {1: "batch"} for n in states}
    with tempfile.TemporaryDirectory() as folder, torch.no_grad(), warnings.catch_warnings():
        # torch warns of a batch size other than 1 for recurrent layers whose states are not inputs: ours are
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size other than 1")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # nn.RNN's shape checks, traced
        path = Path(folder) / "step.onnx"
        torch.onnx.export(cell, (x, *zeros), path, input_names=["x", *states],
                          output_names=["y", *(f"{n}_out" for n in states)], dynamic_axes=axes,
                          opset_version=OPSET, dynamo=False)
        return path.read_bytes()


def step_rollout(
    run: StepRunner, cell: str, shape: tuple[int, int, int], windows: np.ndarray, horizon: int,
    features: np.ndarray | None = None,
) -> np.ndarray:
    """The service's forecast computed with a step graph: (B, T) windows -> (B, horizon).

    Each chunk of `output_steps` values is the step's `y` after the last T values (the window, then the
    predictions appended to it) were fed from a zero state. Args:
        shape: (num_layers, hidden_size, output_steps).
        features: (B, T + horizon, F), a covariate model's features for each input step.
    """
    layers, hidden, chunk = shape
    b, t = windows.shape
    buf = np.zeros((b, t + horizon), dtype=np.float32)
    buf[:, :t] = windows
    names = state_names(cell)
    for k in range(0, horizon, chunk):
        state = {n: np.zeros((layers, b, hidden), dtype=np.float32) for n in names}
        for j in range(t):
            x = buf[:, k + j : k + j + 1]  # (B, 1)
            if features is not None:
                x = np.concatenate([x, features[:, k + j].astype(np.float32)], axis=1)  # (B, 1 + F)
            y, *new = run({"x": x, **state})
            state = dict(zip(names, new, strict=True))
        n = min(chunk, horizon - k)
        buf[:, t + k : t + k + n] = y[:, :n]
    return buf[:, t:].astype(np.float64)
