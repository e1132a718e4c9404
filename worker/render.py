"""A comparison's two figures, drawn from the runs' records (on a worker: matplotlib stays here)."""

from __future__ import annotations

import json
import statistics
from typing import Any

from rnncast.common.options import SineData, from_params
from rnncast.common.store.sync import JobStore
from rnncast.common.store.views import history_epoch
from rnncast.core.data import exact
from rnncast.core.forecast import context_times
from rnncast.core.plots import LossRun, PredictionLine, loss_png, prediction_png

FIGURE_FIELDS = ("id", "params", "forecast")


def _runs(jobs: list[dict[str, str]]) -> list[tuple[str, dict[str, str]]]:
    return [(json.loads(job["params"])["cell"], job) for job in jobs]


def loss_figure(jobs: list[dict[str, Any]]) -> bytes:
    """Train (solid) and test (dashed) loss; several seeds per cell as mean with a min-max band."""
    runs = []
    for cell, job in _runs(jobs):
        pairs = [json.loads(item) for item in job["history"]]
        if pairs:
            rates = [p[2] for p in pairs if len(p) > 2 and p[2] is not None]
            runs.append(LossRun(cell, [p[0] for p in pairs], [p[1] for p in pairs],
                                rates if len(rates) == len(pairs) else None,
                                [history_epoch(p, i) for i, p in enumerate(pairs)]))
    return loss_png(runs, title="Train/Test Loss")


def predictions_figure(jobs: list[dict[str, Any]], spec: dict[str, Any]) -> bytes:
    """Context, exact continuation, and per cell the forecast of the seed closest to its median MSE."""
    by_cell: dict[str, list[dict[str, Any]]] = {}
    for cell, job in _runs(jobs):
        if job.get("forecast"):
            by_cell.setdefault(cell, []).append(json.loads(job["forecast"]))
    lines, reference = [], None
    for cell, forecasts in by_cell.items():
        scored = [f for f in forecasts if f.get("mse") is not None]
        if scored:
            median = statistics.median(f["mse"] for f in scored)
            chosen = min(scored, key=lambda f: abs(f["mse"] - median))
        else:  # a forecast past the series' end has no error to rank by
            chosen = forecasts[0]
        lines.append(PredictionLine(cell, chosen["x"], chosen["y"]))
        reference = reference or chosen
    title = f"Predictions from t={spec['start']:g}, {spec['horizon']} steps"
    if reference is not None and reference.get("context_x") is not None:
        # A dataset's runs keep their context (the series' values before the origin).
        truth = reference.get("exact") or []
        return prediction_png(reference["context_x"], reference["context_y"], lines, reference["x"][: len(truth)],
                              truth, title=f"Predictions from t={reference['x'][0]:g}, {spec['horizon']} steps")
    if reference is None or not jobs:
        return prediction_png([], [], [], title=title + " (no finished run yet)")
    # Every run of a comparison shares the signal and window: the context is the same for all.
    _, data, train = from_params(json.loads(jobs[0]["params"]))
    assert isinstance(data, SineData)
    context_x = context_times(data, train.sequence_length, float(spec["start"]))
    return prediction_png(context_x.tolist(), exact(data, context_x).tolist(), lines, reference["x"],
                          reference["exact"], title=title)


def render_comparison(store: JobStore, comparison_id: str, kind: str) -> bytes | None:
    """The `loss` or `predictions` PNG of a comparison, partial while it runs; None if it is unknown."""
    found = store.get_comparison(comparison_id, fields=FIGURE_FIELDS, with_history=kind == "loss")
    if found is None:
        return None
    raw, jobs = found
    if kind == "loss":
        return loss_figure(jobs)
    return predictions_figure(jobs, json.loads(raw["forecast"]))
