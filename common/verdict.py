"""A model's verdict: its last backtest in short, kept in its record, and what its forecasts say when it lost.

Written by the API after each backtest and by the worker after training on a dataset; read by the predict
workers. No torch, no web.
"""

from __future__ import annotations

from typing import Any

from rnncast.common.aliases import gate_figures
from rnncast.common.values import now_iso


def verdict(result: dict[str, Any]) -> dict[str, Any]:
    """A backtest's verdict, kept in the model's record (with the figures a promotion gate reads)."""
    return {"skill": result["skill"], "mase": result["model"]["mase"], "best_baseline": result["best_baseline"],
            "season": result["season"], "origins": result["origins"], "horizon": result["horizon"], "at": now_iso(),
            **gate_figures(result)}


def losing(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """The model's verdict when its last backtest lost to a baseline."""
    found = (record or {}).get("backtest")
    return found if found and found.get("skill") is not None and found["skill"] < 0 else None


def warning(lost: dict[str, Any]) -> str:
    return (f"this model loses to the {lost['best_baseline']} baseline by {-100 * lost['skill']:.0f}% (its last "
            f"backtest's skill is {lost['skill']:.3f}: MSE {1 - lost['skill']:.2f}x the baseline's); ask with "
            f"\"fallback\": \"baseline\" for that baseline's forecast")
