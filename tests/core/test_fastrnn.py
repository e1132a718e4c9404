"""core.fastrnn and core.wavefront compute what torch.nn's layers and the sliding loop compute."""

import platform

import pytest
import torch

from rnncast.common.options import ModelOptions, SineData, TrainOptions
from rnncast.core import fastrnn
from rnncast.core.device import keep_freed_memory
from rnncast.core.forecast import rollout
from rnncast.core.models import Forecaster
from rnncast.core.train import train


def _grads(out, inputs, seed):
    return torch.autograd.grad(out, inputs, torch.randn(out.shape, generator=torch.Generator().manual_seed(seed),
                                                        dtype=out.dtype))


@pytest.mark.parametrize("cell", ["RNN", "GRU"])
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("every_step", [False, True])
def test_fused_layer_matches_torch_in_value_and_every_gradient(cell, layers, every_step):
    torch.manual_seed(0)
    module = getattr(torch.nn, cell)(1, 7, num_layers=layers, batch_first=True).double()
    x = torch.randn(5, 13, 1, dtype=torch.float64, requires_grad=True)
    expected = module(x)[0] if every_step else module(x)[0][:, -1]  # every step's state (loss_on: all), or the last
    got = fastrnn.run(module, x, every_step)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    inputs = [x, *module.parameters()]
    for want, have in zip(_grads(expected, inputs, 1), _grads(got, inputs, 1), strict=True):
        torch.testing.assert_close(have, want, rtol=0, atol=1e-12)
    with torch.no_grad():
        torch.testing.assert_close(fastrnn.run(module, x, every_step), expected.detach(), rtol=0, atol=1e-12)


def test_fused_layer_passes_gradcheck():
    torch.manual_seed(0)
    for cell in ("RNN", "GRU"):
        module = getattr(torch.nn, cell)(1, 3, num_layers=2, batch_first=True).double()
        x = torch.randn(2, 4, 1, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda inp, m=module: fastrnn.run(m, inp), (x,))


def test_which_layers_take_the_fused_path():
    x = torch.zeros(2, 3, 1)
    assert fastrnn.supports(torch.nn.GRU(1, 4, batch_first=True), x)
    assert fastrnn.supports(torch.nn.RNN(1, 4, batch_first=True), x)
    assert not fastrnn.supports(torch.nn.LSTM(1, 4, batch_first=True), x)  # oneDNN's is faster
    assert not fastrnn.supports(torch.nn.RNN(1, 4, batch_first=True, nonlinearity="relu"), x)
    assert not fastrnn.supports(torch.nn.GRU(1, 4, batch_first=False), x)
    assert not fastrnn.supports(torch.nn.GRU(1, 4, batch_first=True), x.half())


@pytest.mark.parametrize("cell", ["RNN", "GRU"])
@pytest.mark.parametrize("loss_on", ["last", "all"])
def test_training_with_the_fused_layer_follows_torchs_own(cell, loss_on):
    data = SineData(points=300, stop=150)
    cfg = TrainOptions(epochs=4, batch_size=64, sequence_length=20, seed=3, loss_on=loss_on)
    fused = train(ModelOptions(cell=cell, hidden_size=8), data, cfg)
    try:
        Forecaster.fused = False
        plain = train(ModelOptions(cell=cell, hidden_size=8), data, cfg)
    finally:
        Forecaster.fused = True
    for a, b in zip(fused.history["train_loss"], plain.history["train_loss"], strict=True):
        assert a == pytest.approx(b, rel=1e-4)
    for name, value in plain.model.state_dict().items():
        torch.testing.assert_close(fused.model.state_dict()[name], value, rtol=1e-4, atol=1e-5)


def _sliding(model, windows, horizon):
    """The tutorial's loop: re-run the whole window, append the prediction, slide."""
    b, t = windows.shape
    buf = torch.cat([windows, torch.zeros(b, horizon)], dim=1)
    with torch.no_grad():
        for k in range(horizon):
            out, _ = model.rnn(buf[:, k : k + t].unsqueeze(-1))
            buf[:, t + k] = model.head(out[:, -1])[:, 0]
    return buf[:, t:]


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize(("layers", "t", "horizon"), [(1, 30, 100), (1, 30, 7), (2, 12, 40)])
def test_wavefront_rollout_equals_the_sliding_loop(cell, layers, t, horizon):
    torch.manual_seed(1)
    model = Forecaster(ModelOptions(cell=cell, hidden_size=20, num_layers=layers)).eval()
    windows = torch.sin(torch.linspace(0, 5, t)) + 0.1 * torch.randn(6, t)
    torch.testing.assert_close(rollout(model, windows, horizon), _sliding(model, windows, horizon),
                               rtol=0, atol=2e-6)


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
def test_wavefront_is_batch_invariant_with_many_live_windows_and_threads(cell):
    torch.manual_seed(0)
    model = Forecaster(ModelOptions(cell=cell, hidden_size=20)).eval()
    windows = torch.randn(40, 80)
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # rollout pins one thread itself: chunking would move with the batch
    try:
        alone = torch.cat([rollout(model, windows[i : i + 1], 100) for i in range(40)])
        for size in (2, 9, 33, 40):
            assert torch.equal(rollout(model, windows[:size], 100), alone[:size]), size
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc malloc setting")
def test_keep_freed_memory_applies_on_glibc():
    assert keep_freed_memory() is True


def test_adam_equals_torchs_to_the_bit_and_shares_its_state_layout():
    from rnncast.core.optim import Adam

    torch.manual_seed(0)
    ours_model = Forecaster(ModelOptions(cell="GRU", hidden_size=5))
    torch_model = Forecaster(ModelOptions(cell="GRU", hidden_size=5))
    torch_model.load_state_dict(ours_model.state_dict())
    ours, theirs = Adam(ours_model.parameters(), lr=1e-2), torch.optim.Adam(torch_model.parameters(), lr=1e-2)
    x, y = torch.randn(16, 9, 1), torch.randn(16, 1)
    for step in range(12):
        for model, opt in ((ours_model, ours), (torch_model, theirs)):
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            opt.step()
        if step == 5:  # swap states both ways: the layouts are the same
            mine = ours.state_dict()
            ours.load_state_dict(theirs.state_dict())
            theirs.load_state_dict(mine)
    for name, value in torch_model.state_dict().items():
        assert torch.equal(ours_model.state_dict()[name], value), name
    assert ours.state_dict()["param_groups"][0] == theirs.state_dict()["param_groups"][0]


def test_training_in_a_fresh_process_never_imports_torch_compile():
    import subprocess
    import sys

    code = ("import sys; from rnncast.common.options import *; from core.train import train; "
            "train(ModelOptions(cell='LSTM', hidden_size=4), SineData(points=200, stop=100), "
            "TrainOptions(epochs=2, batch_size=32, sequence_length=10)); print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"
