"""Comparison studies (RNN vs LSTM vs GRU over seeds): run rows, statistics, the winner.

Pure functions over job records, shared by the API (live summaries) and by
whoever ends a comparison's last run (the final summary, written once).
"""

from __future__ import annotations

import json
import math
import statistics
from typing import Any

from rnncast.common.accuracy import time_to_accuracy, tutorial_problem
from rnncast.common.values import finite

METRICS = ("final_test_loss", "forecast_mse", "train_seconds")
# What `run_row` reads of a run's job record: the rest (its forecast, say) stays in Redis.
RUN_FIELDS = ("id", "params", "status", "epoch", "train_loss", "test_loss", "forecast_mse", "train_seconds",
              "cpu_seconds", "parameters", "error")


def _float(raw: dict[str, str], key: str) -> float | None:
    value = raw.get(key) or ""
    return finite(float(value)) if value else None


def run_row(raw: dict[str, str]) -> dict[str, Any]:
    """One run of a comparison, from its job's hash."""
    params = json.loads(raw["params"])
    return {
        "cell": params["cell"],
        "seed": params["seed"],
        "job_id": raw["id"],
        "status": raw["status"],
        "epoch": int(raw.get("epoch") or 0),
        "final_train_loss": _float(raw, "train_loss") if raw["status"] == "succeeded" else None,
        "final_test_loss": _float(raw, "test_loss") if raw["status"] == "succeeded" else None,
        "forecast_mse": _float(raw, "forecast_mse"),
        "train_seconds": _float(raw, "train_seconds"),
        "cpu_seconds": _float(raw, "cpu_seconds"),
        "parameters": int(raw["parameters"]) if raw.get("parameters") else None,
        "error": raw.get("error") or None,
    }


def stats(values: list[float]) -> dict[str, float | int | None]:
    """Mean, sample standard deviation (0 for one value) and count."""
    if not values:
        return {"mean": None, "std": None, "n": 0}
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "std": std, "n": len(values)}


def summarize(runs: list[dict[str, Any]], cells: list[str]) -> tuple[dict[str, Any], str | None]:
    """Per-cell statistics over succeeded runs, and the best cell.

    The best cell has the lowest mean forecast MSE; ties go to the lower mean
    test loss. None until some cell has a finished run.
    """
    summary: dict[str, Any] = {}
    for cell in cells:
        done = [r for r in runs if r["cell"] == cell and r["status"] == "succeeded"]
        summary[cell] = {m: stats([r[m] for r in done if r[m] is not None]) for m in METRICS}
    ranked = [
        (s["forecast_mse"]["mean"], s["final_test_loss"]["mean"] or math.inf, cell)
        for cell, s in summary.items()
        if s["forecast_mse"]["mean"] is not None
    ]
    return summary, (min(ranked)[2] if ranked else None)


def final_fields(runs: list[dict[str, Any]], cells: list[str]) -> dict[str, str]:
    """The summary a comparison's record keeps once its last run has ended."""
    summary, best = summarize(runs, cells)
    return {"summary": json.dumps(summary), "best_cell": best or ""}


def comparison_view(raw: dict[str, str], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The public JSON of a comparison; until its final summary is written, a live one."""
    cells = json.loads(raw["cells"])
    if raw.get("summary"):
        summary, best = json.loads(raw["summary"]), raw.get("best_cell") or None
    else:
        summary, best = summarize(runs, cells)
    train, forecast = json.loads(raw["train"]), json.loads(raw["forecast"])
    return {
        "id": raw["id"],
        "name": raw.get("name") or None, "tags": json.loads(raw["tags"]) if raw.get("tags") else [],
        "status": raw["status"],
        "cells": cells,
        "seeds": json.loads(raw["seeds"]),
        "train": train,
        "forecast": forecast,
        "runs": runs,
        "summary": summary,
        "best_cell": best,
        "time_to_accuracy": time_to_accuracy(runs, cells) if tutorial_problem(train, forecast) else None,
        "created_at": raw["created_at"],
        "finished_at": raw.get("finished_at") or None,
    }
