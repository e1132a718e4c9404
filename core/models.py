"""One forecaster for the three recurrent cells, built from a ModelOptions."""

from __future__ import annotations

import torch
from torch import nn

from rnncast.common.options import ModelOptions
from rnncast.core import fastrnn


class Forecaster(nn.Module):
    """A `torch.nn` RNN/LSTM/GRU layer, then Linear(hidden, output_steps) on the last step: the next
    `output_steps` values (one, the tutorial's, by default). Each step's input is the value, and with
    covariates its features (`inputs` = 1 + their width, core.transform; 1 by default and for a checkpoint
    saved before covariates existed).

    On the CPU, RNN and GRU layers run through core.fastrnn (same parameters,
    same math, fewer ops per step; a float32 GRU's recurrence compiled, core.fastgru);
    set `fused = False` for torch's own.
    """

    fused = True

    def __init__(self, config: ModelOptions, inputs: int = 1) -> None:
        super().__init__()
        self.config = config
        self.inputs = inputs
        self.rnn = getattr(nn, config.cell)(
            input_size=inputs,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.head = nn.Linear(config.hidden_size, config.output_steps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused and fastrnn.supports(self.rnn, x):
            return self.head(fastrnn.run(self.rnn, x))  # (B, H) -> (B, K)
        out, _ = self.rnn(x)  # (B, T, H)
        return self.head(out[:, -1, :])  # (B, K)

    def every_step(self, x: torch.Tensor) -> torch.Tensor:
        """The head at every step of the window: what each step predicts of the values after it, (B, T, K)."""
        if self.fused and fastrnn.supports(self.rnn, x):
            return self.head(fastrnn.run(self.rnn, x, every_step=True))
        out, _ = self.rnn(x)  # (B, T, H)
        return self.head(out)  # (B, T, K)


def parameter_count(model: nn.Module) -> int:
    """Number of trainable scalars."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
