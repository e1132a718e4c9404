"""A rollout asks its `should_stop` as it goes and stops when told; asking never changes its numbers."""

from __future__ import annotations

import time

import pytest
import torch

from rnncast.common.options import ModelOptions
from rnncast.core.forecast import RolloutStopped, rollout
from rnncast.core.models import Forecaster


class Plain(torch.nn.Module):
    """A model core.wavefront does not know: it runs the sliding loop."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1)


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
def test_results_are_bit_identical_when_the_deadline_does_not_hit(cell):
    torch.manual_seed(0)
    model = Forecaster(ModelOptions(cell=cell, hidden_size=6, num_layers=2)).eval()
    windows = torch.randn(5, 30)
    asked = []
    kept = rollout(model, windows, 700, should_stop=lambda: asked.append(1) or False)
    assert torch.equal(kept, rollout(model, windows, 700))
    assert 2 <= len(asked) < 730  # asked as it goes, not at every one of its 729 steps


@pytest.mark.parametrize("model", [Forecaster(ModelOptions(cell="RNN", hidden_size=1)).eval(), Plain()])
def test_a_rollout_stops_soon_after_its_deadline(model):
    deadline = time.monotonic() + 0.2
    began = time.monotonic()
    with pytest.raises(RolloutStopped):
        rollout(model, torch.randn(1, 2000), 1_000_000, should_stop=lambda: time.monotonic() >= deadline)
    assert time.monotonic() - began < 2.0  # the whole rollout would take ~10 s (windows of 50: 0.2 s in lanes)
