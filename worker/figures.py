"""The figure server: a thread in every predict worker process that draws the PNGs the API asks for.

Requests come on the figure lane (`Keys.figures`, see service.rpc): a model's
forecast figure, a comparison's loss or predictions figure, a dataset's plot,
a model's backtest (its numbers or its figure), a model's ONNX export or an
imported checkpoint's verification (worker.export). Each answer goes to the
request's reply key. Being a thread of its own, it draws while
the process's pool trains: a figure never waits behind a training job.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import redis
from celery.utils.log import get_task_logger

from rnncast.common.artifacts import ArtifactStore, StoreUnavailable, public_text
from rnncast.common.datasets import DatasetUnavailable, load_values
from rnncast.common.settings import Settings
from rnncast.common.store.sync import JobStore
from rnncast.common.values import is_id, now_ms
from rnncast.core.plots import series_png
from rnncast.worker.ensemble import handle_ensemble
from rnncast.worker.export import handle_export, handle_verify
from rnncast.worker.lane import BLOCK_S, LaneServer
from rnncast.worker.model_figures import handle_backtest, handle_png
from rnncast.worker.predict import ModelCache
from rnncast.worker.render import render_comparison
from rnncast.worker.search import handle_season

log = get_task_logger(__name__)
COMPARISON_FIGURES = ("loss", "predictions")


def draw(cache: ModelCache, store: JobStore, settings: Settings, request: dict[str, Any]) -> dict[str, Any]:
    """One figure request's reply: {"ok": True, "result": {"png"}} or {"ok": False, "status", "detail"}."""
    figure = request.get("figure")
    try:
        if figure == "forecast" and is_id(str(request.get("model_id"))):
            return handle_png(cache, store, request, settings.max_forecast_work)
        if figure in ("backtest", "backtest_png") and is_id(str(request.get("model_id"))):
            return handle_backtest(cache, store, request, settings.max_forecast_work)
        if figure == "export_onnx" and is_id(str(request.get("model_id"))):
            return handle_export(cache, request)
        if figure == "verify_import" and is_id(str(request.get("model_id"))):
            return handle_verify(cache, request)
        if figure in ("ensemble", "ensemble_png") and is_id(str(request.get("comparison_id"))):
            return handle_ensemble(cache, store, request, settings.max_forecast_work)
        if figure == "dataset" and is_id(str(request.get("dataset_id"))):
            return _dataset_png(cache.artifacts, request)
        if figure == "season" and is_id(str(request.get("dataset_id"))):
            return handle_season(cache.artifacts, request)
        if figure in COMPARISON_FIGURES and is_id(str(request.get("comparison_id"))):
            png = render_comparison(store, request["comparison_id"], figure)
            if png is None:
                return {"ok": False, "status": 404, "detail": "comparison not found"}
            return {"ok": True, "result": {"png": base64.b64encode(png).decode()}}
    except redis.RedisError:
        raise
    except Exception:  # the API is waiting: answer rather than let it time out
        log.exception("drawing %s failed", figure)
        return {"ok": False, "status": 503, "detail": "drawing the figure failed on the worker; see its log"}
    return {"ok": False, "status": 422, "detail": f"unknown figure request {figure!r}"}


def _dataset_png(artifacts: ArtifactStore, request: dict[str, Any]) -> dict[str, Any]:
    try:
        values = load_values(artifacts, request["dataset_id"], request["sha256"])
    except (DatasetUnavailable, StoreUnavailable) as exc:
        log.warning("dataset %s: %s", request["dataset_id"], exc)
        return {"ok": False, "status": 503, "detail": public_text(exc)}
    x = np.arange(values.shape[0]) * float(request["step"])
    png = series_png(x, values, f"{request['name']} ({values.shape[0]} values)")
    return {"ok": True, "result": {"png": base64.b64encode(png).decode()}}


class FigureServer(LaneServer):
    """Pops figure requests one at a time and answers them."""

    lane = "figures"

    def serve_once(self) -> None:
        raw = self.store.pop_figure(BLOCK_S)
        request = _parse(raw) if raw is not None else None
        if request is not None:
            self.store.push_reply(request["request_id"], draw(self.cache, self.store, self.settings, request))


def _parse(raw: str) -> dict[str, Any] | None:
    """The request, or None for one that is malformed (logged) or past its deadline (the API gave up)."""
    try:
        request = json.loads(raw)
        ok = isinstance(request, dict) and is_id(str(request.get("request_id")))
        live = ok and int(request["deadline_ms"]) > now_ms()
    except (ValueError, KeyError, TypeError):
        ok = live = False
    if not ok:
        log.error("malformed figure request dropped: %.200r", raw)
    return request if ok and live else None
