"""A model's figure requests on the figure lane: its forecast figure, and its backtest (the numbers or the figure)."""

from __future__ import annotations

import base64
from typing import Any

from celery.utils.log import get_task_logger

from rnncast.common.defaults import BACKTEST_BATCHES, BACKTEST_LEVELS, FORECAST_START
from rnncast.common.rollout_work import forecast_work, rows_within, work_refusal
from rnncast.common.series import SeriesError
from rnncast.common.store.sync import JobStore
from rnncast.core.backtest import BASELINES, BacktestSetup, backtest
from rnncast.core.conformal import NoCalibration, coverage
from rnncast.core.forecast import RolloutStopped, rollout_numpy
from rnncast.core.plots import PredictionLine, backtest_png, prediction_png
from rnncast.worker.deadlines import failure_reply, request_should_stop
from rnncast.worker.guard import origin_times
from rnncast.worker.predict import (
    LoadedModel,
    ModelCache,
    ModelUnavailable,
    intervals_refusal,
    model_window,
    origin_of,
    request_bands,
    request_features,
    request_forecast,
    request_observed,
)
from rnncast.worker.results import series_setup

log = get_task_logger(__name__)


def _answer_png(png: bytes) -> dict[str, Any]:
    return {"ok": True, "result": {"png": base64.b64encode(png).decode()}}


def handle_png(cache: ModelCache, store: JobStore, request: dict[str, Any], max_work: float) -> dict[str, Any]:
    """A forecast figure: {"ok": True, "result": {"png"}} or {"ok": False, "status", "detail"}."""
    cache.sweep(store)
    model_id = request["model_id"]
    try:
        loaded = cache.get(model_id, request["sha256"])
        if loaded.dataset is None and request.get("start") is None and request.get("context") is None:
            # the figure's default: the tutorial's start
            request = {**request, "start": FORECAST_START}
        observed = request_observed(loaded, request)
        window = model_window(loaded, observed)
        features = request_features(loaded, request, int(request["horizon"]))
    except ModelUnavailable as exc:
        return {"ok": False, "status": exc.status, "detail": exc.detail}
    except ValueError as exc:
        return {"ok": False, "status": 422, "detail": str(exc)}
    if (refused := intervals_refusal(loaded, request.get("intervals"))) is not None:
        return {"ok": False, "status": refused[0], "detail": refused[1]}
    cfg, seq = loaded.checkpoint.model, loaded.checkpoint.train.sequence_length
    work = forecast_work(1, seq, int(request["horizon"]), cfg.hidden_size, cfg.num_layers, cfg.cell, cfg.output_steps)
    refusal = work_refusal("this figure's forecast", work, max_work, "ask for a shorter horizon")
    if refusal is not None:
        return {"ok": False, "status": 422, "detail": refusal}
    try:
        preds = rollout_numpy(
            loaded.model,
            window[None, :],
            int(request["horizon"]),
            request_should_stop(request),
            features[None] if features is not None else None,
        )
    except RolloutStopped as exc:
        return failure_reply("this figure's forecast", exc)
    fc = request_forecast(loaded, request, preds[0], observed)
    bands = request_bands(loaded, request, fc) or []
    cell = loaded.checkpoint.model.cell
    context = request.get("context")
    if context is not None:  # your values, drawn before step 0
        where, ctx_x, ctx_y = "your values", [float(k) for k in range(-len(context), 0)], context
    else:
        where = f"position {origin_of(loaded, request)}" if loaded.dataset is not None else f"t={request['start']}"
        ctx_x, ctx_y = fc.context_x or [], fc.context_y or []
    exact_x = fc.x[: len(fc.exact)] if fc.exact is not None else None
    line = PredictionLine(cell, fc.x, fc.y, [(b["level"], b["lower"], b["upper"]) for b in bands])
    png = prediction_png(ctx_x, ctx_y, [line], exact_x, fc.exact, title=f"{cell} forecast from {where}")
    return _answer_png(png)


def backtest_setup(loaded: LoadedModel) -> BacktestSetup:
    """The series a model was trained on and where its test part starts (a sine model's: its training signal)."""
    ckpt = loaded.checkpoint
    return series_setup(ckpt.data, ckpt.train, ckpt.series, ckpt.transform, ckpt.model.output_steps)


def run_backtest(loaded: LoadedModel, request: dict[str, Any], max_work: float) -> dict[str, Any]:
    """The backtest a request asks for, its model forecasts batched within `max_work` per rollout.

    Raises ValueError (a 422) for a request that does not fit the series or the server's limits.
    """
    cfg, seq = loaded.checkpoint.model, loaded.checkpoint.train.sequence_length
    horizon, origins = int(request["horizon"]), int(request["origins"])
    shape = (seq, horizon, cfg.hidden_size, cfg.num_layers, cfg.cell, cfg.output_steps)
    rows = rows_within(max_work, *shape)
    rollouts = -(-origins // rows)
    refusal = work_refusal(
        "one origin of this backtest", forecast_work(1, *shape), max_work, "use a shorter horizon"
    ) or work_refusal(
        f"this backtest (rows = origins, in rollouts of at most {max_work:.3g}, {BACKTEST_BATCHES} at most)",
        forecast_work(rows, *shape) * rollouts,
        max_work * BACKTEST_BATCHES,
        "use fewer origins or a shorter horizon",
    )
    if refusal is not None:
        raise ValueError(refusal)
    season = request.get("season")
    asked = request.get("intervals")
    levels = list(asked or BACKTEST_LEVELS)
    if asked and loaded.calibration is not None:  # a default level the calibration cannot give is null instead
        try:
            loaded.calibration.check(levels)
        except NoCalibration as exc:
            raise ValueError(f"intervals: {exc}") from None
    result = backtest(
        loaded.model,
        backtest_setup(loaded),
        origins,
        horizon,
        int(season) if season is not None else None,
        rows_per_batch=rows,
        should_stop=request_should_stop(request),
        keep_forecasts=True,
    )
    positions, truth, preds = result.pop("forecasts")
    if loaded.calibration is None:  # a model from before intervals: no coverage to measure
        return result | {"coverage": None, "coverage_origins": 0, "calibration_end": None}
    return result | coverage(loaded.calibration, levels, positions, truth, preds)


def handle_backtest(
    cache: ModelCache,
    store: JobStore,
    request: dict[str, Any],
    max_work: float,
) -> dict[str, Any]:
    """A backtest's result (`figure` 'backtest') or its figure ('backtest_png')."""
    cache.sweep(store)
    try:
        loaded = cache.get(request["model_id"], request["sha256"])
        result = run_backtest(loaded, request, max_work)
    except ModelUnavailable as exc:
        return {"ok": False, "status": exc.status, "detail": exc.detail}
    except (SeriesError, ValueError) as exc:
        return {"ok": False, "status": 422, "detail": str(exc)}
    except RolloutStopped as exc:
        return failure_reply("this backtest", exc)
    if request.get("figure") == "backtest":
        return {"ok": True, "result": {"model_id": request["model_id"], **result, **origin_times(loaded, result)}}
    per_step = {name: result[name]["per_step"]["mse"] for name in ("model", *BASELINES)}
    title = (
        f"{loaded.checkpoint.model.cell} backtest: {result['origins']} origins, season {result['season']}, "
        f"skill {result['skill']:.3f}"
        if result["skill"] is not None
        else f"{loaded.checkpoint.model.cell} backtest: {result['origins']} origins, season {result['season']}"
    )
    return _answer_png(backtest_png(per_step, "MSE", title))
