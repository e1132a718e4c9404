"""Exporting a model to ONNX, and verifying an imported one, on the figure lane (worker.figures).

The ONNX export runs here, not in the API (which loads no torch): the step graph
(core.onnx_step) is exported, run by ONNX Runtime over the model's default
forecast, compared with the service's own rollout, and written beside the
checkpoint (`export-<digest>.onnx`, with its report as JSON) only when the two
agree within EXPORT_PARITY_RTOL; the API then streams the file from the artifact
store. A later export of the same checkpoint reuses the file. ONNX and ONNX Runtime
come with the `export` extra; a worker without them answers 503 saying so.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import torch
from celery.utils.log import get_task_logger

from rnncast.common.artifacts.layout import model_prefix
from rnncast.common.defaults import EXPORT_PARITY_RTOL, EXPORT_PARITY_STEPS, FORECAST_HORIZON, FORECAST_START
from rnncast.common.values import finite
from rnncast.core.forecast import rollout_numpy
from rnncast.core.models import parameter_count
from rnncast.core.onnx_step import OPSET, export_step, state_names, step_rollout
from rnncast.worker.predict import (
    LoadedModel,
    ModelCache,
    ModelLoadFailed,
    ModelUnavailable,
    request_features,
    request_observed,
)

log = get_task_logger(__name__)
ONNX_FORMAT = "rnncast-onnx-step"
METADATA_KEY = "rnncast"  # the ONNX file's metadata_props entry holding `describe`'s JSON
NO_EXTRA = ("ONNX export needs the `export` extra on the predict workers (pip install 'rnncast[export]': onnx "
            "and onnxruntime); this worker has not got it")


def export_key(sha256: str) -> str:
    """The exported file's key in the model's folder (its report: the same plus '.json')."""
    return f"export-{sha256[:16]}.onnx"


def parity_request(loaded: LoadedModel) -> dict[str, Any]:
    """The forecast the parity check compares: the model's default one (a sine model's from FORECAST_START, a
    dataset model's from its series' end), over at most EXPORT_PARITY_STEPS cell steps."""
    seq, chunk = loaded.checkpoint.train.sequence_length, loaded.checkpoint.model.output_steps
    horizon = min(FORECAST_HORIZON, max(1, EXPORT_PARITY_STEPS // seq) * chunk)
    return {"horizon": horizon} | ({"start": FORECAST_START} if loaded.dataset is None else {})


def describe(loaded: LoadedModel, model_id: str) -> dict[str, Any]:
    """What a user needs beside the graph to reproduce the service's forecast: shapes, window, transform."""
    ckpt, cfg = loaded.checkpoint, loaded.checkpoint.model
    transform = ckpt.transform
    return {
        "format": ONNX_FORMAT, "version": 1, "model_id": model_id, "checkpoint_sha256": loaded.sha256,
        "cell": cfg.cell, "hidden_size": cfg.hidden_size, "num_layers": cfg.num_layers,
        "output_steps": cfg.output_steps, "inputs": transform.inputs, "sequence_length": ckpt.train.sequence_length,
        "states": list(state_names(cfg.cell)), "opset": OPSET,
        "rollout": "sliding window: each chunk of output_steps values is y after the last sequence_length values "
                   "were fed one step at a time from zero states; the predictions are appended to the window",
        "transform": {"lag": transform.lag, "scaler": transform.scaler.to_dict() if transform.scaler else None,
                      "covariates": list(transform.covariates), "trend_scale": transform.trend_scale},
    }


def parity(loaded: LoadedModel, graph: bytes, session_type: Any) -> dict[str, Any]:
    """The step graph's rollout of `parity_request` against the service's, in the series' units."""
    request = parity_request(loaded)
    horizon, cfg = int(request["horizon"]), loaded.checkpoint.model
    transform = loaded.transform
    observed = request_observed(loaded, request)
    window = transform.forward(observed)[None, :]  # (1, T)
    features = request_features(loaded, request, horizon)
    feats = features[None] if features is not None else None
    service = transform.inverse(rollout_numpy(loaded.model, window, horizon, None, feats)[0], observed)
    session = session_type(graph)
    ours = step_rollout(lambda feed: session.run(None, feed), cfg.cell, (cfg.num_layers, cfg.hidden_size,
                        cfg.output_steps), window.astype(np.float32), horizon, feats)
    exported = transform.inverse(ours[0], observed)
    diff = float(np.max(np.abs(exported - service))) if np.isfinite(service).all() else float("nan")
    tolerance = EXPORT_PARITY_RTOL * max(1.0, float(np.max(np.abs(service))) if np.isfinite(service).all() else 1.0)
    return {"request": request, "max_abs_diff": finite(diff), "tolerance": tolerance,
            "passed": bool(np.isfinite(diff) and diff <= tolerance)}


def handle_export(cache: ModelCache, request: dict[str, Any]) -> dict[str, Any]:
    """An ONNX export's reply: {"ok": True, "result": {"key", "sha256", "bytes", "metadata"}} or a refusal."""
    try:  # here, not at the top: the extra is optional, and only this request needs it
        import onnx
        import onnxruntime
    except ImportError:
        return {"ok": False, "status": 503, "detail": NO_EXTRA}
    model_id, sha256 = request["model_id"], request["sha256"]
    try:
        loaded = cache.get(model_id, sha256)
    except ModelUnavailable as exc:
        return {"ok": False, "status": exc.status, "detail": exc.detail}
    folder = cache.artifacts.at(model_prefix(model_id))
    key = export_key(sha256)
    if folder.exists(f"{key}.json"):
        return {"ok": True, "result": json.loads(folder.get(f"{key}.json"))}
    graph = export_step(copy.deepcopy(loaded.model))  # a copy: the cached model serves forecasts meanwhile

    def session(data: bytes) -> Any:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        return onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])

    metadata = describe(loaded, model_id) | {"parity": parity(loaded, graph, session)}
    if not metadata["parity"]["passed"]:
        log.warning("model %s: ONNX parity failed: %s", model_id, metadata["parity"])
        return {"ok": False, "status": 409, "detail": (
            f"the ONNX export does not reproduce this model's forecast (max abs difference "
            f"{metadata['parity']['max_abs_diff']} over {metadata['parity']['request']}, tolerance "
            f"{metadata['parity']['tolerance']:.3g}); export format=safetensors instead")}
    proto = onnx.load_from_string(graph)
    onnx.helper.set_model_props(proto, {METADATA_KEY: json.dumps(metadata)})
    data = proto.SerializeToString()
    info = folder.put(key, data)
    result = {"key": f"{model_prefix(model_id)}/{key}", "sha256": info.sha256, "bytes": len(data),
              "metadata": metadata}
    folder.put(f"{key}.json", json.dumps(result).encode())  # after the file: a report always names a whole file
    return {"ok": True, "result": result}


def handle_verify(cache: ModelCache, request: dict[str, Any]) -> dict[str, Any]:
    """An imported checkpoint loaded as a forecast would load it (digest, options, weights, calibration): its
    parameter count and calibration summary, or 422 with the reason."""
    try:
        loaded = cache.get(request["model_id"], request["sha256"])
    except ModelLoadFailed as exc:  # this worker's failure, not the checkpoint's: the import may be tried again
        return {"ok": False, "status": 503, "detail": exc.detail}
    except ModelUnavailable as exc:
        return {"ok": False, "status": 422, "detail": exc.detail.replace("is unavailable", "cannot be imported")}
    if not all(bool(torch.isfinite(p).all()) for p in loaded.model.parameters()):
        return {"ok": False, "status": 422, "detail": "the checkpoint's weights hold NaN or infinite values"}
    calibration = loaded.calibration.summary() if loaded.calibration is not None else None
    return {"ok": True, "result": {"parameters": parameter_count(loaded.model), "calibration": calibration}}
