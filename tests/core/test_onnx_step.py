"""The ONNX step graph reproduces the service's rollout, and the import's torch-free shape checks agree with core."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest
import torch

from rnncast.common.artifacts.layout import MODEL_CHECKPOINT
from rnncast.common.model_package import FORMAT, VERSION, PackageError, check_tensors, expected_shapes
from rnncast.common.options import ModelOptions
from rnncast.core import checkpoint
from rnncast.core.forecast import rollout_numpy
from rnncast.core.models import Forecaster
from rnncast.core.onnx_step import export_step, step_rollout
from rnncast.worker.results import MODEL_NAME

CELLS = ("RNN", "LSTM", "GRU")


def session(graph: bytes) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(graph, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(("layers", "steps", "inputs"), [(1, 1, 1), (2, 3, 1), (1, 1, 3)])
def test_the_step_graphs_rollout_equals_the_services(cell, layers, steps, inputs):
    torch.manual_seed(0)
    model = Forecaster(ModelOptions(cell=cell, hidden_size=6, num_layers=layers, output_steps=steps), inputs).eval()
    windows = np.stack([np.sin(np.arange(12) / 3.0), np.cos(np.arange(12) / 5.0)])  # (2, 12)
    horizon = 17
    features = np.random.default_rng(0).normal(size=(2, 12 + horizon, inputs - 1)) if inputs > 1 else None
    service = rollout_numpy(model, windows, horizon, None, features)
    run = session(export_step(model)).run
    ours = step_rollout(lambda feed: run(None, feed), cell, (layers, 6, steps), windows.astype(np.float32), horizon,
                        features)
    assert ours.shape == (2, horizon)
    assert np.max(np.abs(ours - service)) < 1e-5


def test_a_stateful_continuation_is_not_the_services_forecast():
    """Why the rollout restarts the state each chunk: carrying it on past the window computes something else."""
    torch.manual_seed(1)
    model = Forecaster(ModelOptions(cell="GRU", hidden_size=6), 1).eval()
    window = np.sin(np.arange(12) / 3.0)[None]
    run = session(export_step(model)).run
    h = np.zeros((1, 1, 6), dtype=np.float32)
    for value in window[0]:
        y, h = run(None, {"x": np.array([[value]], dtype=np.float32), "h": h})
    carried = [float(y[0, 0])]
    for _ in range(9):
        y, h = run(None, {"x": y[:, :1], "h": h})
        carried.append(float(y[0, 0]))
    service = rollout_numpy(model, window, 10)[0]
    assert carried[0] == pytest.approx(service[0], abs=1e-5)  # the first step is the same
    assert np.max(np.abs(np.array(carried) - service)) > 1e-4


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(("layers", "steps", "inputs"), [(1, 1, 1), (3, 4, 5)])
def test_the_imports_expected_shapes_are_a_forecasters(cell, layers, steps, inputs):
    model = Forecaster(ModelOptions(cell=cell, hidden_size=7, num_layers=layers, output_steps=steps), inputs)
    have = {f"model.{k}": ("F32", tuple(v.shape)) for k, v in model.state_dict().items()}
    assert expected_shapes(model.config, inputs) == have


def test_the_package_names_the_checkpoints_format_and_file():
    assert (FORMAT, VERSION) == (checkpoint.FORMAT, checkpoint.VERSION)
    assert MODEL_CHECKPOINT == MODEL_NAME


def test_tensor_checks_refuse_a_mismatch_a_stray_tensor_and_a_truncated_file():
    from safetensors.torch import save

    model = Forecaster(ModelOptions(cell="LSTM", hidden_size=3), 1)
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    payload = save(tensors)
    check_tensors(payload, expected_shapes(model.config, 1))
    with pytest.raises(PackageError, match=r"model.rnn.weight_hh_l0: \(12, 3\) F32, the manifest's options give"):
        check_tensors(payload, expected_shapes(ModelOptions(cell="LSTM", hidden_size=4), 1))
    with pytest.raises(PackageError, match="unexpected evil"):
        check_tensors(save({**tensors, "evil": torch.zeros(1)}), expected_shapes(model.config, 1))
    with pytest.raises(PackageError, match=r"is not what its header describes|more than the file holds"):
        check_tensors(payload[:-4], expected_shapes(model.config, 1))
