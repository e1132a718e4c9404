import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from rnncast.common.artifacts import LocalStore
from rnncast.common.options import ModelOptions, SineData, TrainOptions
from rnncast.core import wavefront
from rnncast.core.checkpoint import CheckpointError, delete_checkpoint, load_checkpoint, save_checkpoint
from rnncast.core.forecast import context_times, forecast_from_context, forecast_from_starts, rollout
from rnncast.core.models import Forecaster
from rnncast.core.plots import LossRun, PredictionLine, loss_png, prediction_png
from rnncast.core.train import train
from tests.support import ROOT

DATA = SineData(points=400, stop=200)
TRAIN = TrainOptions(epochs=3, batch_size=64, sequence_length=20, lr=0.01, seed=1)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained():
    return train(ModelOptions(cell="GRU", hidden_size=8), DATA, TRAIN)


def _save(path, result, name="model"):
    return save_checkpoint(
        LocalStore(path), name, model=result.model, data=DATA, train=TRAIN, epoch=result.epochs_completed,
        history=result.history, optimizer=result.optimizer, extra={"note": "x"},
    )


def test_fit_save_load_forecast_gives_identical_output(tmp_path, trained):
    info = _save(tmp_path, trained)
    path = tmp_path / info.key
    assert path.suffix == ".safetensors" and info.bytes == path.stat().st_size
    ckpt = load_checkpoint(LocalStore(tmp_path), "model")
    assert ckpt.epoch == 3 and ckpt.history == trained.history and ckpt.extra == {"note": "x"}
    loaded = ckpt.build_model()
    a = forecast_from_starts(trained.model, DATA, 20, [123.0], 50)[0]
    b = forecast_from_starts(loaded, DATA, 20, [123.0], 50)[0]
    assert a.y == b.y


def test_tampered_or_truncated_checkpoint_is_refused(tmp_path, trained):
    info = _save(tmp_path, trained)
    path = tmp_path / info.key
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="digest"):
        load_checkpoint(LocalStore(tmp_path), "model")
    path.write_bytes(bytes(raw[:100]))
    with pytest.raises(CheckpointError, match="digest"):
        load_checkpoint(LocalStore(tmp_path), "model")


def test_resaving_replaces_old_tensor_file_and_delete_removes_all(tmp_path, trained):
    _save(tmp_path, trained)
    trained.model.head.bias.data += 1
    second = _save(tmp_path, trained)
    trained.model.head.bias.data -= 1
    assert [p.name for p in tmp_path.glob("model-*.safetensors")] == [second.key]
    delete_checkpoint(LocalStore(tmp_path), "model")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(LocalStore(tmp_path), "model")


def test_checkpoint_names_cannot_escape_the_folder(tmp_path):
    with pytest.raises(CheckpointError):
        load_checkpoint(LocalStore(tmp_path), "../etc/passwd")


def test_forecast_of_an_ideal_model_is_exact():
    """A 'model' that knows the sine continues the window exactly: tests the windowing alone."""
    data = SineData()
    step, w = data.step, 2 * math.pi / data.period

    def ideal(x):  # x: (B, T, 1); sin(a + w*step) from sin(a), sin(a - w*step)
        return (2 * math.cos(w * step) * x[:, -1] - x[:, -2]).to(x.dtype)

    model = Forecaster(ModelOptions(cell="RNN", hidden_size=2)).double()  # supplies context and exact only
    fc = forecast_from_starts(model, data, 80, [123.0], 100)
    assert fc[0].x[0] == 123.0 and fc[0].x[1] == pytest.approx(123.0 + step)
    np.testing.assert_allclose(context_times(data, 80, 123.0)[-1], 123.0 - step)
    ctx = torch.tensor([fc[0].context_y], dtype=torch.float64)
    preds = rollout(ideal, ctx, 100)[0].numpy()
    np.testing.assert_allclose(preds, fc[0].exact, atol=1e-9)


def test_batched_rollout_shapes_and_context_form(trained):
    windows = torch.randn(4, 20)
    out = rollout(trained.model, windows, 7)
    assert out.shape == (4, 7)
    fc = forecast_from_context(trained.model, [list(range(30))], 20, 5)
    assert fc[0].x == [0.0, 1.0, 2.0, 3.0, 4.0] and len(fc[0].y) == 5
    with pytest.raises(ValueError, match="at least 20"):
        forecast_from_context(trained.model, [[0.0] * 5], 20, 5)
    with pytest.raises(ValueError, match="finite"):
        forecast_from_context(trained.model, [[float("nan")] * 20], 20, 5)


def test_plots_are_valid_pngs(trained):
    runs = [LossRun("GRU", trained.history["train_loss"], trained.history["test_loss"])] * 2
    assert loss_png(runs).startswith(PNG)
    fc = forecast_from_starts(trained.model, DATA, 20, [123.0], 10)[0]
    png = prediction_png(fc.context_x, fc.context_y, [PredictionLine("GRU", fc.x, fc.y)], fc.x, fc.exact)
    assert png.startswith(PNG) and len(png) > 1000


DISK_FULL = r"""
import resource, signal, sys
from pathlib import Path
import torch
from rnncast.common.artifacts import LocalStore
from rnncast.core.checkpoint import load_checkpoint, save_checkpoint
from rnncast.common.options import SineData, ModelOptions, TrainOptions
from rnncast.core.train import train

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # let write() fail with EFBIG instead
folder = Path(sys.argv[1])
data, cfg = SineData(points=400, stop=200), TrainOptions(epochs=2, batch_size=64, sequence_length=20)
result = train(ModelOptions(cell="GRU", hidden_size=8), data, cfg)
def save():
    return save_checkpoint(LocalStore(folder), "ck", model=result.model, data=data, train=cfg, epoch=2,
                           history=result.history, optimizer=result.optimizer)
first = save()
before = {k: v.clone() for k, v in result.model.state_dict().items()}
result.model.head.bias.data += 1
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, resource.RLIM_INFINITY))
try:
    save()
except OSError as exc:
    print("save failed:", exc.strerror or exc)  # a full disk is the store's StoreFull, naming the cause
else:
    print("save succeeded?!")
kept = load_checkpoint(LocalStore(folder), "ck")
assert kept.info.sha256 == first.sha256
assert all(torch.equal(kept.tensors[f"model.{k}"], v) for k, v in before.items())
assert not list(folder.glob(".*.tmp")), list(folder.iterdir())
print("previous checkpoint intact")
"""


def test_a_failed_checkpoint_write_leaves_the_previous_one_intact(tmp_path):
    """Disk full (a file-size limit makes writes fail with EFBIG) in a child process."""
    out = subprocess.run([sys.executable, "-c", DISK_FULL, str(tmp_path)], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "save failed:" in out.stdout and "File too large" in out.stdout
    assert "previous checkpoint intact" in out.stdout


@pytest.mark.parametrize("kernel", [True, False], ids=["kernel", "torch"])  # core.kernel, core.wavefront
@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
def test_a_window_forecasts_the_same_to_the_bit_alone_or_in_any_batch(cell, kernel):
    torch.manual_seed(0)
    model = Forecaster(ModelOptions(cell=cell, hidden_size=20)).eval()
    windows = torch.randn(37, 80)
    alone = torch.cat([rollout(model, windows[i : i + 1], 10, kernel=kernel) for i in range(37)])
    for size in (2, 3, 5, 7, 17, 37):
        batched = rollout(model, windows[:size], 10, kernel=kernel)
        assert torch.equal(batched, alone[:size]), size
    perm = torch.randperm(37)
    assert torch.equal(rollout(model, windows[perm], 10, kernel=kernel), alone[perm])


@pytest.mark.parametrize("kernel", [True, False], ids=["kernel", "torch"])
@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("hidden", [3, 4, 10, 32])
def test_batch_invariance_holds_for_every_batch_size_and_odd_hidden_sizes(cell, hidden, kernel):
    # Short windows and a long horizon: many steps with few live windows, where a row
    # lands in a kernel's tail. (RNN 10 is a shape whose matmul moves with the row's
    # position under MKL: its rows run one at a time, and stay exact.)
    torch.manual_seed(1)
    model = Forecaster(ModelOptions(cell=cell, hidden_size=hidden)).eval()
    windows = torch.sin(torch.linspace(0, 3, 10)) + 0.3 * torch.randn(20, 10)
    alone = torch.cat([rollout(model, windows[i : i + 1], 30, kernel=kernel) for i in range(20)])
    for size in range(2, 21):
        assert torch.equal(rollout(model, windows[:size], 30, kernel=kernel), alone[:size]), size


def test_rows_run_one_at_a_time_where_the_matmul_is_not_row_invariant(monkeypatch):
    # torch's path (core.wavefront): the kernel (core.kernel) runs every row on its own anyway
    torch.manual_seed(2)
    model = Forecaster(ModelOptions(cell="GRU", hidden_size=6)).eval()
    windows = torch.randn(5, 12)
    batched = rollout(model, windows, 8, kernel=False)
    monkeypatch.setattr(wavefront, "_matmul_rows_invariant", lambda *args: False)
    calls = []
    real = wavefront.rollout
    monkeypatch.setattr(wavefront, "rollout",
                        lambda m, buf, t, h, *stop: calls.append(buf.shape[0]) or real(m, buf, t, h, *stop))
    assert torch.equal(rollout(model, windows, 8, kernel=False), batched)
    assert calls == [wavefront.padded_rows(1, 6)] * 5  # one window at a time


def test_an_unreadable_manifest_error_names_no_path(tmp_path):
    (tmp_path / "model.json").mkdir()  # reading it fails with an OSError that carries the path
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(LocalStore(tmp_path), "model")
    assert "unreadable" in str(info.value) and str(tmp_path) not in str(info.value)
