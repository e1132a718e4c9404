"""The fused rollout kernel (core.kernel): torch's numbers to float32 rounding, a window's bits whatever its batch."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from rnncast.common.options import ModelOptions
from rnncast.common.rollout_work import KERNEL_WIDTHS, lane_steps
from rnncast.core import kernel
from rnncast.core.forecast import RolloutStopped, rollout, rollout_chunks, rollout_numpy
from rnncast.core.models import Forecaster
from rnncast.core.optim import Adam

pytestmark = pytest.mark.skipif(not kernel.available(), reason="numba is not installed: the pure path serves")


def model_of(cell: str, hidden: int, layers: int, seed: int = 0) -> Forecaster:
    torch.manual_seed(seed)
    model = Forecaster(ModelOptions(cell=cell, hidden_size=hidden, num_layers=layers)).eval()
    model.fused = False  # the reference is torch's own nn.RNN/LSTM/GRU + Linear
    return model


def torch_sliding(model: Forecaster, windows: torch.Tensor, horizon: int) -> torch.Tensor:
    """The sliding loop through torch's modules: each prediction appended, the window moved on by one."""
    t = windows.shape[1]
    buf = windows.clone()
    with torch.no_grad():
        for _ in range(horizon):
            nxt = model(buf[:, -t:].unsqueeze(-1))  # (B, 1)
            buf = torch.cat([buf, nxt], dim=1)
    return buf[:, t:]


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("hidden", [1, 7, 20, 33])
def test_kernel_equals_torch_to_float32_rounding(cell, layers, hidden):
    model = model_of(cell, hidden, layers)
    assert kernel.supports(model)
    windows = torch.sin(torch.linspace(0, 6, 24))[None, :] + 0.1 * torch.randn(3, 24)
    ref = torch_sliding(model, windows, 12)
    got = rollout(model, windows, 12)
    pure = rollout(model, windows, 12, kernel=False)
    assert got.dtype == torch.float32 and got.shape == (3, 12)
    # float32 rounding, carried through 12 steps of feedback (torch's own two paths differ as much)
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=2e-5)
    torch.testing.assert_close(pure, ref, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize(("hidden", "layers", "steps"), [(20, 2, 1), (20, 1, 1), (7, 1, 3), (33, 3, 1)])
def test_a_window_has_the_same_bits_alone_and_in_any_batch(cell, hidden, layers, steps):
    # Alone (and in a few rows) a window runs in the row kernel or in 16 lanes beside its own next windows; in a
    # larger batch, in up to 64 lanes beside any row's windows: the same bits everywhere.
    torch.manual_seed(1)
    model = Forecaster(ModelOptions(cell=cell, hidden_size=hidden, num_layers=layers, output_steps=steps)).eval()
    gen = np.random.default_rng(5)
    window = gen.standard_normal((1, 40))
    alone = rollout_numpy(model, window, 30)
    for size in (1, 2, 3, 4, 5, 8, 15, 16, 17, 23, 24, 31, 32, 33, 47, 56, 63, 64, 65, 80, 100, 130):
        others = gen.standard_normal((size, 40))
        at = int(gen.integers(0, size + 1))
        batch = np.concatenate([others[:at], window, others[at:]])
        got = rollout_numpy(model, batch, 30)
        assert np.array_equal(got[at], alone[0]), (size, at)
        assert np.array_equal(got[:at], rollout_numpy(model, others[:at], 30)) if at else True


def test_the_kernel_stops_at_its_deadline_and_asking_changes_nothing():
    model = model_of("LSTM", 8, 2)
    windows = torch.randn(4, 30)
    asked: list[int] = []
    kept = rollout(model, windows, 2000, should_stop=lambda: asked.append(1) or False)
    assert torch.equal(kept, rollout(model, windows, 2000))
    assert 2 <= len(asked) < 2000
    calls: list[int] = []
    with pytest.raises(RolloutStopped):
        rollout(model, windows, 10**7, should_stop=lambda: calls.append(1) or len(calls) > 3)
    # In vector lanes too: chunks of steps, the same numbers.
    many = torch.randn(75, 30)
    asked.clear()
    kept = rollout(model, many, 300, should_stop=lambda: asked.append(1) or False)
    assert torch.equal(kept, rollout(model, many, 300)) and len(asked) >= 2


def test_without_numba_the_pure_path_serves_the_same_forecast():
    code = textwrap.dedent("""
        import sys
        sys.modules["numba"] = None  # as if it were not installed
        import numpy as np, torch
        from rnncast.common.options import ModelOptions
        from rnncast.core import kernel
        from rnncast.core.forecast import rollout_numpy
        from rnncast.core.models import Forecaster
        torch.manual_seed(0)
        model = Forecaster(ModelOptions(cell="GRU", hidden_size=9, num_layers=2)).eval()
        assert not kernel.available() and not kernel.supports(model)
        windows = np.sin(np.linspace(0, 5, 30))[None, :].repeat(2, 0)
        np.save(sys.argv[1], rollout_numpy(model, windows, 15))
    """)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = f"{tmp}/pure.npy"
        subprocess.run([sys.executable, "-c", code, out], check=True)
        pure = np.load(out)
    torch.manual_seed(0)
    model = Forecaster(ModelOptions(cell="GRU", hidden_size=9, num_layers=2)).eval()
    windows = np.sin(np.linspace(0, 5, 30))[None, :].repeat(2, 0)
    np.testing.assert_allclose(rollout_numpy(model, windows, 15), pure, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("steps", [2, 5])
def test_a_multi_step_head_rolls_out_in_chunks_as_torch_does(cell, steps):
    torch.manual_seed(3)
    model = Forecaster(ModelOptions(cell=cell, hidden_size=11, num_layers=2, output_steps=steps)).eval()
    model.fused = False
    assert kernel.supports(model)
    windows = torch.sin(torch.linspace(0, 6, 20))[None, :] + 0.1 * torch.randn(4, 20)
    ref = rollout_chunks(model, windows, 13, steps)  # torch's sliding loop, a chunk of `steps` per forward
    got = rollout(model, windows, 13)
    assert got.shape == (4, 13)
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=2e-5)
    alone = torch.cat([rollout(model, windows[i : i + 1], 13) for i in range(4)])
    assert torch.equal(got, alone)


def test_a_model_too_wide_for_the_cache_takes_torchs_path_alone_and_batched():
    wide = Forecaster(ModelOptions(cell="LSTM", hidden_size=257)).eval()
    assert not kernel.supports(wide) and kernel.supports(model_of("LSTM", 256, 1))
    windows = torch.randn(3, 6)
    alone = torch.cat([rollout(wide, windows[i : i + 1], 4) for i in range(3)])
    assert torch.equal(rollout(wide, windows, 4), alone)


def test_the_benchs_command_prints_its_figures_last():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "bench/rollout_kernel.py", "--rounds", "1"], cwd=root, capture_output=True,
                         text=True, timeout=300, check=True).stdout  # the docs' command, one round
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"batch1_cpu_ms=[\d.]+ batch64_cpu_ms=[\d.]+ gru_vs_lstm_epoch=[\d.]+", last), last


def test_weights_written_in_place_are_read_again():
    # The kernel keeps a model's weights as it reads them; an optimizer step and a load write the parameters in
    # place, and the next rollout must read what they wrote.
    model = model_of("LSTM", 20, 2)
    assert kernel.supports(model)
    windows = np.sin(np.linspace(0, 6, 24))[None, :].astype(np.float32)
    before = rollout_numpy(model, windows, 5)
    optimizer = Adam(model.parameters(), lr=0.05)  # what training steps with
    model(torch.from_numpy(windows).unsqueeze(-1)).sum().backward()
    optimizer.step()
    fresh = model_of("LSTM", 20, 2, seed=1)
    fresh.load_state_dict(model.state_dict())
    stepped = rollout_numpy(model, windows, 5)
    assert not np.array_equal(stepped, before)
    np.testing.assert_array_equal(stepped, rollout_numpy(fresh, windows, 5))  # a fresh model's first read
    model.load_state_dict(model_of("LSTM", 20, 2, seed=2).state_dict())
    np.testing.assert_array_equal(rollout_numpy(model, windows, 5), rollout_numpy(model_of("LSTM", 20, 2, seed=2),
                                                                                  windows, 5))


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize(("hidden", "layers", "steps", "t"), [(20, 2, 1, 40), (7, 1, 3, 12), (5, 1, 4, 3),
                                                              (33, 3, 1, 9)])
def test_every_width_of_lanes_gives_each_window_the_row_kernels_bits(cell, hidden, layers, steps, t):
    # Every value a window reads has been written when it reads it (its row's windows start K steps apart),
    # whatever the lanes' width, the rows and the chunks of steps: the values not yet written are NaN here.
    torch.manual_seed(2)
    model = Forecaster(ModelOptions(cell=cell, hidden_size=hidden, num_layers=layers, output_steps=steps)).eval()
    code, arrays = kernel._weights(model)
    gen = np.random.default_rng(7)
    count = -(-30 // steps)
    for rows in (1, 2, 5, 17, 70):
        ref = np.full((rows, t + count * steps), np.nan, np.float32)
        ref[:, :t] = gen.standard_normal((rows, t))
        got = {width: ref.copy() for width in KERNEL_WIDTHS}
        kernel.windows_by_row(ref, t, 0, count, code, *arrays)
        assert not np.isnan(ref).any()
        for width, buf in got.items():
            lanes = kernel.Lanes(rows, width, layers, hidden, steps)
            calls = 1
            while not lanes.run(buf, t, count, code, arrays, 7):
                calls += 1
            assert np.array_equal(buf, ref), (rows, width)
            assert calls > 1 and not (lanes.lane[2] >= 0).any()
            # the cost model's count of the lanes' steps (common.rollout_work.lane_steps): never above, near
            estimate, taken = lane_steps(rows, count, t, steps, width), int(lanes.clock[0])
            assert estimate <= taken and (estimate >= 0.9 * taken or t < steps), (rows, width, estimate, taken)


def test_by_row_too_the_kernel_stops_at_its_deadline_and_asking_changes_nothing(monkeypatch):
    # The plan sends a rollout by row only where lanes would stand idle (one window a row); forced here, with
    # chunks of 7 windows, so the row kernel's chunks are asked between as the lanes' steps are.
    model = model_of("LSTM", 8, 2)
    windows = torch.randn(4, 30)
    in_lanes = rollout(model, windows, 300)
    plan = kernel.kernel_plan
    monkeypatch.setattr(kernel, "kernel_plan", lambda *a: plan(*a)._replace(width=0, step_work=kernel.CHUNK_WORK / 7))
    asked: list[int] = []
    kept = rollout(model, windows, 300, should_stop=lambda: asked.append(1) or False)
    assert torch.equal(kept, in_lanes) and len(asked) >= 2  # by row, the same bits as in lanes
    calls: list[int] = []
    with pytest.raises(RolloutStopped):
        rollout(model, windows, 300, should_stop=lambda: calls.append(1) or len(calls) > 3)
