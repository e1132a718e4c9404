"""Ensemble forecasts of a comparison: per cell, the mean and spread of its seeds' forecasts.

Served on the figure lane by the predict workers: every succeeded run's model
continues the same window (the comparison's runs share the signal and the
window length), one rollout per model, and the seeds of each cell are
summarised step by step. Asked for `intervals`, each cell's mean gets
split-conformal intervals from its members' calibration residuals pooled
(core.conformal.pooled): a seed's residuals bound the mean's from above in
spread, so these are at least as wide as the mean's own would be.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np

from rnncast.common.rollout_work import params_work, work_refusal
from rnncast.common.store.sync import JobStore
from rnncast.common.values import finite
from rnncast.core.conformal import Calibration, NoCalibration, intervals, pooled
from rnncast.core.forecast import Forecast, RolloutStopped, rollout_numpy
from rnncast.core.plots import ensemble_png
from rnncast.worker.deadlines import failure_reply, request_should_stop
from rnncast.worker.predict import (
    ModelCache,
    ModelUnavailable,
    model_window,
    request_features,
    request_forecast,
    request_observed,
)


class EnsembleError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def _values(values: np.ndarray) -> list[float | None]:
    return [finite(float(v)) for v in values]


def ensemble(cache: ModelCache, store: JobStore, request: dict[str, Any], max_work: float) -> dict[str, Any]:
    """The ensemble forecast a request asks for; raises EnsembleError (404, 409, 422) when it cannot be made,
    RolloutStopped when its deadline passes."""
    found = store.get_comparison(request["comparison_id"], fields=("id", "params", "status"))
    if found is None:
        raise EnsembleError(404, f"comparison {request['comparison_id']!r} not found")
    _, jobs = found
    runs = [(job["id"], json.loads(job["params"])) for job in jobs if job.get("status") == "succeeded"]
    if not runs:
        raise EnsembleError(409, "no run of this comparison has succeeded yet: there is no model to forecast with")
    # One rollout per model, all of them counted: the ensemble's work is their sum.
    work = sum(params_work(params, int(request["horizon"])) for _, params in runs)
    refusal = work_refusal(f"this ensemble ({len(runs)} models)", work, max_work, "ask for a shorter horizon")
    if refusal is not None:
        raise EnsembleError(422, refusal)
    records = store.model_records([job_id for job_id, _ in runs])
    should_stop = request_should_stop(request)  # one deadline for all the models' rollouts
    by_cell: dict[str, list[tuple[int, str, Forecast]]] = {}
    calibrations: dict[str, list[Calibration | None]] = {}
    for job_id, params in runs:
        record = records.get(job_id)
        if record is None:  # its model was deleted
            continue
        try:
            loaded = cache.get(job_id, record["checkpoint"]["sha256"])
            observed = request_observed(loaded, request)
            window = model_window(loaded, observed)
            features = request_features(loaded, request, int(request["horizon"]))
        except ModelUnavailable as exc:
            raise EnsembleError(exc.status, exc.detail) from None
        except ValueError as exc:
            raise EnsembleError(422, str(exc)) from None
        preds = rollout_numpy(loaded.model, window[None, :], int(request["horizon"]), should_stop,
                              features[None] if features is not None else None)[0]
        fc = request_forecast(loaded, request, preds, observed, with_context=request.get("figure") == "ensemble_png")
        by_cell.setdefault(params["cell"], []).append((params["seed"], job_id, fc))
        calibrations.setdefault(params["cell"], []).append(loaded.calibration)
    if not by_cell:
        raise EnsembleError(409, "every model of this comparison was deleted")
    reference = next(iter(by_cell.values()))[0][2]
    cells = {}
    for cell, members in by_cell.items():
        ys = np.array([[np.nan if v is None else v for v in fc.y] for _, _, fc in members])  # (seeds, H)
        mean = ys.mean(axis=0)
        std = ys.std(axis=0, ddof=1) if ys.shape[0] > 1 else np.zeros_like(mean)
        cells[cell] = {
            "n": int(ys.shape[0]), "mean": _values(mean), "std": _values(std), "lower": _values(mean - 2 * std),
            "upper": _values(mean + 2 * std), "min": _values(ys.min(axis=0)), "max": _values(ys.max(axis=0)),
            "seeds": [{"seed": seed, "job_id": job_id, "mse": finite(fc.mse), "max_abs_error": finite(fc.max_abs_error)}
                      for seed, job_id, fc in members],
        }
        levels = request.get("intervals")
        if levels:
            cells[cell]["intervals"] = _intervals(cell, calibrations[cell], levels, mean)
        if reference.exact is not None:
            truth = np.array(reference.exact)
            cells[cell]["mse_of_mean"] = finite(float(np.mean((mean[: truth.shape[0]] - truth) ** 2)))
    return {
        "comparison_id": request["comparison_id"], "horizon": int(request["horizon"]), "x": reference.x,
        "exact": reference.exact, "context_x": reference.context_x, "context_y": reference.context_y, "cells": cells,
    }


def _intervals(cell: str, members: list[Calibration | None], levels: list[float],
               mean: np.ndarray) -> list[dict[str, Any]]:
    """A cell's intervals around its mean, from its members' pooled calibrations (409 when one has none)."""
    known = [c for c in members if c is not None]
    if len(known) < len(members):
        raise EnsembleError(409, f"{len(members) - len(known)} of the {cell} models have no calibration, so this "
                                 f"ensemble gives no intervals: train them again to get them")
    calibration = pooled(known)
    try:
        calibration.check(levels)
    except NoCalibration as exc:
        raise EnsembleError(422, f"intervals: {exc}") from None
    return [{"level": b["level"], "lower": _values(np.asarray(b["lower"])), "upper": _values(np.asarray(b["upper"]))}
            for b in intervals(calibration, levels, mean)]


def handle_ensemble(cache: ModelCache, store: JobStore, request: dict[str, Any], max_work: float) -> dict[str, Any]:
    """A figure-lane reply: the ensemble's numbers (`ensemble`) or its figure (`ensemble_png`)."""
    cache.sweep(store)
    try:
        result = ensemble(cache, store, request, max_work)
    except EnsembleError as exc:
        return {"ok": False, "status": exc.status, "detail": exc.detail}
    except RolloutStopped as exc:
        return failure_reply("this ensemble", exc)
    if request.get("figure") == "ensemble":
        return {"ok": True, "result": {k: v for k, v in result.items() if k not in ("context_x", "context_y")}}
    png = ensemble_png(result["context_x"] or [], result["context_y"] or [], result["x"], result["exact"],
                       result["cells"], title=f"Ensemble forecast, {result['horizon']} steps")
    return {"ok": True, "result": {"png": base64.b64encode(png).decode()}}
