"""The tutorial's accuracy, as bench/accuracy.py measured it, and a comparison's time to it.

`TUTORIAL_ACCURACY` is a measured fact, stated here once: per cell, the mean over seeds 0, 1, 2 of the tutorial
recipe's final test MSE and 100-step forecast MSE (from start 123) after its 500 epochs, on the tutorial's problem
(the default sine, model, window and batch). The `fast` recipe (common.options.RECIPES) is the fewest epochs per
cell that reach both; a comparison on the tutorial's problem reports, per cell, where its runs ended against them.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict
from typing import Any

from rnncast.common.defaults import FORECAST_HORIZON, FORECAST_START
from rnncast.common.options import ModelOptions, SineData, TrainOptions, spec

# cell -> (test MSE, forecast MSE): bench/accuracy.py's tutorial rows (a full `--fast` run measures them again;
# CPU runs reproduce to the bit); the docs' performance page states them.
TUTORIAL_ACCURACY: dict[str, tuple[float, float]] = {
    "RNN": (2.06e-06, 1.84e-05),
    "LSTM": (3.32e-06, 1.35e-04),
    "GRU": (1.66e-06, 1.71e-06),
}

# The options that define the problem the targets were measured on (the rest change how, not what, is learned).
PROBLEM = ("hidden_size", "num_layers", "output_steps", "batch_size", "sequence_length", "loss_on", "difference",
           "scaling", "covariates")
_DEFAULTS = {s.name: s.default for cls in (ModelOptions, TrainOptions) for s in spec(cls)}


def tutorial_problem(train: dict[str, Any], forecast: dict[str, Any]) -> bool:
    """Whether a comparison's `train` body and `forecast` are the problem TUTORIAL_ACCURACY was measured on."""
    data = train.get("data") or {}
    sine = asdict(SineData())
    return (data.get("kind", "sine") == "sine" and all(data.get(k, v) == v for k, v in sine.items())
            and all(train.get(k) in (None, _DEFAULTS[k]) for k in PROBLEM)
            and forecast.get("start", FORECAST_START) == FORECAST_START
            and forecast.get("horizon", FORECAST_HORIZON) == FORECAST_HORIZON)


DIGITS = 3  # the significant digits TUTORIAL_ACCURACY states, and a mean is judged at


def _at_or_below(value: float | None, target: float) -> bool:
    """Whether `value`, read at the DIGITS its target is stated to, is at or below it: the tutorial recipe's own
    run, equal to its target to those digits, has reached it (its full-precision mean may be a hair above)."""
    return value is not None and float(f"{value:.{DIGITS}g}") <= target


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.fmean(known) if known else None


def time_to_accuracy(runs: list[dict[str, Any]], cells: list[str]) -> dict[str, Any]:
    """Per cell with a succeeded run: its runs' epochs, mean wall and CPU seconds, mean test and forecast MSE, the
    tutorial's (the targets) and whether both means are at or below them."""
    out: dict[str, Any] = {}
    for cell in cells:
        done = [r for r in runs if r["cell"] == cell and r["status"] == "succeeded"]
        if not done:
            continue
        test, forecast = _mean([r["final_test_loss"] for r in done]), _mean([r["forecast_mse"] for r in done])
        target_test, target_forecast = TUTORIAL_ACCURACY[cell]
        out[cell] = {
            "n": len(done), "epochs": max(r["epoch"] for r in done),
            "wall_seconds": _mean([r["train_seconds"] for r in done]),
            "cpu_seconds": _mean([r.get("cpu_seconds") for r in done]),
            "test_mse": test, "forecast_mse": forecast,
            "target_test_mse": target_test, "target_forecast_mse": target_forecast,
            "reached": _at_or_below(test, target_test) and _at_or_below(forecast, target_forecast),
        }
    return out
