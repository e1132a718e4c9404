"""Forecasts on the worker: a bounded LRU cache of verified models, and the request handler."""

from __future__ import annotations

import base64
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from celery.utils.log import get_task_logger

from rnncast.common.paths import model_dir
from rnncast.common.store.sync import JobStore
from rnncast.common.store.views import finite
from rnncast.core.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from rnncast.core.forecast import (
    Forecast,
    context_forecast,
    context_window,
    rollout_numpy,
    start_forecast,
    start_window,
)
from rnncast.core.models import Forecaster
from rnncast.core.plots import PredictionLine, prediction_png
from rnncast.worker.training import MODEL_NAME

log = get_task_logger(__name__)
SWEEP_EVERY_S = 10.0


class ModelUnavailable(Exception):
    """The model's files are missing (404) or do not verify (503)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


@dataclass
class LoadedModel:
    sha256: str
    model: Forecaster
    checkpoint: Checkpoint


class ModelCache:
    """Up to `size` models, least recently used evicted; entries of deleted models are swept."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._swept = time.monotonic()

    def get(self, data_dir: Any, model_id: str, sha256: str) -> LoadedModel:
        """The model, loaded and digest-checked on first use."""
        with self._lock:
            hit = self._items.get(model_id)
            if hit is not None and hit.sha256 == sha256:
                self._items.move_to_end(model_id)
                return hit
        loaded = self._load(data_dir, model_id, sha256)
        with self._lock:
            self._items[model_id] = loaded
            self._items.move_to_end(model_id)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return loaded

    @staticmethod
    def _load(data_dir: Any, model_id: str, sha256: str) -> LoadedModel:
        directory = model_dir(data_dir, model_id)
        if not (directory / f"{MODEL_NAME}.json").is_file():
            raise ModelUnavailable(404, f"model {model_id!r} has no checkpoint files on this worker")
        try:
            ckpt = load_checkpoint(directory, MODEL_NAME)
        except CheckpointError as exc:
            raise ModelUnavailable(503, f"model {model_id!r} is unavailable: {exc}") from None
        if ckpt.info is None or ckpt.info.sha256 != sha256:
            raise ModelUnavailable(503, f"model {model_id!r} is unavailable: its checkpoint is not the one recorded")
        return LoadedModel(sha256, ckpt.build_model("cpu"), ckpt)

    def sweep(self, store: JobStore) -> None:
        """Drop entries whose model was deleted (checked at most every few seconds)."""
        if time.monotonic() - self._swept < SWEEP_EVERY_S or not self._items:
            return
        self._swept = time.monotonic()
        with self._lock:
            ids = list(self._items)
        alive = store.existing_models(ids)
        with self._lock:
            for model_id in set(ids) - alive:
                self._items.pop(model_id, None)


def forecast_payload(model_id: str, horizon: int, fc: Forecast, with_exact: bool) -> dict[str, Any]:
    """The API's answer; a diverged model's NaN/inf predictions become null (JSON has no NaN)."""
    out: dict[str, Any] = {"model_id": model_id, "horizon": horizon, "x": fc.x, "y": [finite(v) for v in fc.y]}
    if with_exact:
        out |= {"exact": fc.exact, "mse": finite(fc.mse), "max_abs_error": finite(fc.max_abs_error)}
    return out


def request_window(loaded: LoadedModel, request: dict[str, Any]) -> np.ndarray:
    """The window a request continues: (T,). Raises ValueError for a bad context or start."""
    ckpt, seq = loaded.checkpoint, loaded.checkpoint.train.sequence_length
    context = request.get("context")
    if context is not None:
        if len(context) < seq:
            raise ValueError(f"context has {len(context)} values; this model needs at least sequence_length ({seq})")
        return context_window(context, seq)
    return start_window(ckpt.data, seq, float(request.get("start") or 0.0))


def request_forecast(loaded: LoadedModel, request: dict[str, Any], preds: np.ndarray) -> Forecast:
    """A request's forecast from its row of predictions (with the exact signal for `start`)."""
    if request.get("context") is not None:
        return context_forecast(preds)
    ckpt = loaded.checkpoint
    return start_forecast(ckpt.data, ckpt.train.sequence_length, float(request.get("start") or 0.0), preds)


def handle_png(cache: ModelCache, store: JobStore, data_dir: Any, request: dict[str, Any]) -> dict[str, Any]:
    """A forecast figure: {"ok": True, "result": {"png"}} or {"ok": False, "status", "detail"}."""
    cache.sweep(store)
    model_id = request["model_id"]
    try:
        loaded = cache.get(data_dir, model_id, request["sha256"])
        window = request_window(loaded, request)
    except ModelUnavailable as exc:
        return {"ok": False, "status": exc.status, "detail": exc.detail}
    except ValueError as exc:
        return {"ok": False, "status": 422, "detail": str(exc)}
    fc = request_forecast(loaded, request, rollout_numpy(loaded.model, window[None, :], int(request["horizon"]))[0])
    png = prediction_png(
        fc.context_x or [], fc.context_y or [], [PredictionLine(loaded.checkpoint.model.cell, fc.x, fc.y)],
        fc.x, fc.exact, title=f"{loaded.checkpoint.model.cell} forecast from t={request['start']}",
    )
    return {"ok": True, "result": {"png": base64.b64encode(png).decode()}}
