import math

import numpy as np
import pytest
import torch

from core.checkpoint import CheckpointError, delete_checkpoint, load_checkpoint, save_checkpoint
from core.config import DataConfig, ModelConfig, TrainConfig
from core.forecast import context_times, forecast_from_context, forecast_from_starts, rollout
from core.plots import LossRun, PredictionLine, loss_png, prediction_png
from core.train import train

DATA = DataConfig(points=400, stop=200)
TRAIN = TrainConfig(epochs=3, batch_size=64, sequence_length=20, lr=0.01, seed=1)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained():
    return train(ModelConfig(cell="GRU", hidden_size=8), DATA, TRAIN)


def _save(path, result, name="model"):
    return save_checkpoint(
        path, name, model=result.model, data=DATA, train=TRAIN, epoch=result.epochs_completed,
        history=result.history, optimizer=result.optimizer, extra={"note": "x"},
    )


def test_fit_save_load_forecast_gives_identical_output(tmp_path, trained):
    info = _save(tmp_path, trained)
    assert info.path.suffix == ".safetensors" and info.bytes == info.path.stat().st_size
    ckpt = load_checkpoint(tmp_path, "model")
    assert ckpt.epoch == 3 and ckpt.history == trained.history and ckpt.extra == {"note": "x"}
    loaded = ckpt.build_model()
    a = forecast_from_starts(trained.model, DATA, 20, [123.0], 50)[0]
    b = forecast_from_starts(loaded, DATA, 20, [123.0], 50)[0]
    assert a.y == b.y


def test_tampered_or_truncated_checkpoint_is_refused(tmp_path, trained):
    info = _save(tmp_path, trained)
    raw = bytearray(info.path.read_bytes())
    raw[-1] ^= 0xFF
    info.path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="digest"):
        load_checkpoint(tmp_path, "model")
    info.path.write_bytes(bytes(raw[:100]))
    with pytest.raises(CheckpointError, match="digest"):
        load_checkpoint(tmp_path, "model")


def test_resaving_replaces_old_tensor_file_and_delete_removes_all(tmp_path, trained):
    _save(tmp_path, trained)
    trained.model.head.bias.data += 1
    second = _save(tmp_path, trained)
    trained.model.head.bias.data -= 1
    assert [p.name for p in tmp_path.glob("model-*.safetensors")] == [second.path.name]
    delete_checkpoint(tmp_path, "model")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path, "model")


def test_checkpoint_names_cannot_escape_the_folder(tmp_path):
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path, "../etc/passwd")


def test_forecast_of_an_ideal_model_is_exact():
    """A 'model' that knows the sine continues the window exactly: tests the windowing alone."""
    data = DataConfig()
    step, w = data.step, 2 * math.pi / data.period

    def ideal(x):  # x: (B, T, 1); sin(a + w*step) from sin(a), sin(a - w*step)
        return (2 * math.cos(w * step) * x[:, -1] - x[:, -2]).to(x.dtype)

    model = torch.nn.Linear(1, 1).double()  # only supplies a dtype/device
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
