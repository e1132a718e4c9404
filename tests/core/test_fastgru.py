"""The compiled GRU recurrence (core.fastgru): torch.nn.GRU's values and gradients to float32 rounding."""

from __future__ import annotations

import pytest
import torch

from rnncast.common.options import ModelOptions, SineData, TrainOptions
from rnncast.core import fastgru, fastrnn
from rnncast.core.models import Forecaster
from rnncast.core.train import train

pytestmark = pytest.mark.skipif(fastgru.numba is None, reason="numba is not installed: the torch loop serves")


def _cell_by_cell(module: torch.nn.GRU, x: torch.Tensor) -> torch.Tensor:
    """torch.nn.GRUCell step by step over each layer, with the layer's own parameters: every step's state."""
    inp = x
    for layer in range(module.num_layers):
        cell = torch.nn.GRUCell(inp.shape[-1], module.hidden_size)
        cell.weight_ih, cell.weight_hh = getattr(module, f"weight_ih_l{layer}"), getattr(module, f"weight_hh_l{layer}")
        cell.bias_ih, cell.bias_hh = getattr(module, f"bias_ih_l{layer}"), getattr(module, f"bias_hh_l{layer}")
        h = x.new_zeros(x.shape[0], module.hidden_size)
        outs = []
        for k in range(x.shape[1]):
            h = cell(inp[:, k], h)
            outs.append(h)
        inp = torch.stack(outs, dim=1)
    return inp


@pytest.mark.parametrize(("layers", "hidden"), [(1, 1), (1, 7), (2, 20), (3, 5)])
@pytest.mark.parametrize("every_step", [False, True])
def test_compiled_gru_equals_torch_in_value_and_every_gradient(layers, hidden, every_step):
    torch.manual_seed(layers * 10 + hidden)
    module = torch.nn.GRU(1, hidden, num_layers=layers, batch_first=True)
    x = torch.randn(6, 17, 1, requires_grad=True)
    assert fastgru.serves(torch.zeros(1, 1, 3))
    got = fastrnn.run(module, x, every_step)  # every step's state (loss_on: all), or the last
    expected, stepped = module(x)[0], _cell_by_cell(module, x)
    if not every_step:
        expected, stepped = expected[:, -1], stepped[:, -1]
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got, stepped, rtol=1e-5, atol=1e-6)
    seed = torch.randn(got.shape, generator=torch.Generator().manual_seed(1))
    inputs = [x, *module.parameters()]
    for want, have in zip(
        torch.autograd.grad(expected, inputs, seed), torch.autograd.grad(got, inputs, seed), strict=True
    ):
        torch.testing.assert_close(have, want, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        assert torch.equal(fastrnn.run(module, x, every_step), got.detach())


def test_training_on_the_compiled_gru_follows_torchs_own():
    data, cfg = SineData(points=300, stop=150), TrainOptions(epochs=5, batch_size=64, sequence_length=20, seed=3)
    fused = train(ModelOptions(cell="GRU", hidden_size=8), data, cfg)
    try:
        Forecaster.fused = False
        plain = train(ModelOptions(cell="GRU", hidden_size=8), data, cfg)
    finally:
        Forecaster.fused = True
    for a, b in zip(fused.history["train_loss"], plain.history["train_loss"], strict=True):
        assert a == pytest.approx(b, rel=1e-5)
    for a, b in zip(fused.history["test_loss"], plain.history["test_loss"], strict=True):
        assert a == pytest.approx(b, rel=1e-5)
    assert fused.model.state_dict().keys() == plain.model.state_dict().keys()  # checkpoints keep their names
    for name, value in plain.model.state_dict().items():
        torch.testing.assert_close(fused.model.state_dict()[name], value, rtol=1e-5, atol=1e-6)
