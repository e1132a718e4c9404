"""The worker's ONNX export: its parity check tells a faithful graph from another, and without the `export`
extra it answers 503 saying how to install it."""

from __future__ import annotations

import sys

import onnxruntime
import pytest
import torch

from rnncast.common.artifacts import LocalStore
from rnncast.common.options import ModelOptions, SineData, TrainOptions
from rnncast.core.checkpoint import load_checkpoint, save_checkpoint
from rnncast.core.models import Forecaster
from rnncast.core.onnx_step import export_step
from rnncast.worker.export import NO_EXTRA, handle_export, handle_verify, parity
from rnncast.worker.predict import LoadedModel, ModelCache, ModelUnavailable


def session(graph: bytes) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(graph, providers=["CPUExecutionProvider"])


def test_the_parity_check_passes_the_models_own_graph_and_refuses_another(tmp_path):
    torch.manual_seed(0)
    model, other = (Forecaster(ModelOptions(cell="GRU", hidden_size=5), 1).eval() for _ in range(2))
    save_checkpoint(LocalStore(tmp_path), "model", model=model, data=SineData(points=400, stop=200),
                    train=TrainOptions(sequence_length=12), epoch=1, history={"train_loss": [1.0], "test_loss": [1.0]})
    ckpt = load_checkpoint(LocalStore(tmp_path), "model")
    loaded = LoadedModel("sha", ckpt.build_model(), ckpt)
    own = parity(loaded, export_step(loaded.model), session)
    assert own["passed"] and own["max_abs_diff"] < own["tolerance"]
    assert own["request"] == {"horizon": 100, "start": 123.0}
    foreign = parity(loaded, export_step(other), session)
    assert not foreign["passed"] and foreign["max_abs_diff"] > foreign["tolerance"]


@pytest.mark.parametrize("missing", ["onnx", "onnxruntime"])
def test_an_export_without_the_extra_answers_503_saying_how_to_install_it(monkeypatch, missing):
    monkeypatch.setitem(sys.modules, missing, None)  # what `import` finds when the package is not installed
    reply = handle_export(None, {"model_id": "0" * 32, "sha256": "0" * 64})  # type: ignore[arg-type]
    assert reply == {"ok": False, "status": 503, "detail": NO_EXTRA}
    assert "pip install 'rnncast[export]'" in reply["detail"]


@pytest.mark.parametrize(("fault", "status"), [
    (OSError(5, "Input/output error"), 503),  # this worker's failure: the import may be tried again
    (ModelUnavailable(503, "model 'x' is unavailable: its checkpoint is not the one recorded"), 422),
])
def test_an_imports_verification_refuses_the_checkpoint_only_for_the_checkpoints_faults(tmp_path, monkeypatch,
                                                                                          fault, status):
    def read(self, model_id: str, sha256: str):
        raise fault

    monkeypatch.setattr(ModelCache, "_read", read)
    answer = handle_verify(ModelCache(2, LocalStore(tmp_path)), {"model_id": "a" * 32, "sha256": "b" * 64})
    assert answer["ok"] is False and answer["status"] == status, answer
    assert ("cannot be imported" in answer["detail"]) == (status == 422)
