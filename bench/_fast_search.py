"""bench/accuracy.py --fast: the fewest epochs per cell at which the `fast` recipe's options reach the tutorial
recipe's 500-epoch accuracy (3-seed means of the final test MSE and the 100-step forecast MSE from start 123).

See bench/accuracy.py's docstring for the method; this module holds the search and its report.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from _stack import stack
from accuracy import SEEDS, reach, run_recipe

from rnncast.common.accuracy import TUTORIAL_ACCURACY
from rnncast.common.defaults import CELLS
from rnncast.common.options import RECIPES

FORECAST = {"start": 123.0, "horizon": 100}


def _mean(runs: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.fmean(values) if values else float("nan")


def _constant(cell: str) -> bool:
    """A cell whose fast options keep a constant rate: its shorter runs are the tutorial run's first epochs."""
    return RECIPES["fast"][cell].get("lr_schedule", "constant") == "constant"


def _options(cell: str, epochs: int) -> dict[str, Any]:
    return {**RECIPES["fast"][cell], "epochs": epochs, "recipe": "tutorial"}


def _round(s: Any, tries: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    """One comparison per cell in `tries` (cell -> epochs), all queued at once; each cell's runs."""
    ids = {}
    for cell, epochs in tries.items():
        body = {"cells": [cell], "seeds": SEEDS, "train": _options(cell, epochs), "forecast": FORECAST,
                "name": f"fast {cell} {epochs}"}
        ids[cell] = s.api.http.post("/v1/comparisons", json=body).json()["id"]
    out: dict[str, list[dict[str, Any]]] = {}
    for cell, comparison_id in ids.items():
        while (view := s.api.http.get(f"/v1/comparisons/{comparison_id}").json())["status"] == "running":
            time.sleep(2)
        assert view["status"] == "succeeded", view
        out[cell] = [{"test": r["final_test_loss"], "forecast": r["forecast_mse"], "seconds": r["train_seconds"],
                      "cpu": r.get("cpu_seconds")} for r in view["runs"]]
    return out


def _passes(runs: list[dict[str, Any]], target: tuple[float, float]) -> bool:
    return _mean(runs, "test") <= target[0] and _mean(runs, "forecast") <= target[1]


def _constant_choice(runs: list[dict[str, Any]], target: tuple[float, float], epochs: int) -> dict[str, Any]:
    """The tutorial run's first tracked epoch at the targets: its metrics there, its time pro rata."""
    reached = reach(runs, *target)
    chosen = reached[0] if reached is not None else epochs
    k = chosen - 1
    share = chosen / epochs
    return {"epochs": chosen, "test": statistics.fmean(r["history"]["test_loss"][k] for r in runs),
            "forecast": statistics.fmean(r["history"]["forecast_mse"][k] for r in runs),
            "seconds": _mean(runs, "seconds") * share, "cpu": _mean(runs, "cpu") * share}


def search(epochs: int, every: int, candidates: list[int], declared: bool = False,
           searched: tuple[str, ...] = CELLS) -> None:
    cores = len(os.sched_getaffinity(0))
    chosen: dict[str, dict[str, Any]] = {}
    with stack(concurrency=cores, predict_threads=2) as s:
        began = time.perf_counter()
        cells = tuple(c for c in searched if _constant(c)) if declared else CELLS
        tutorial = run_recipe(s, "tutorial", epochs, every, cells) if cells else {}
        print(f"tutorial: {time.perf_counter() - began:.0f} s for {len(cells) * len(SEEDS)} runs", flush=True)
        targets = dict(TUTORIAL_ACCURACY) if declared else {
            c: (_mean(tutorial[c], "test"), _mean(tutorial[c], "forecast")) for c in CELLS}
        print(f"targets ({'declared' if declared else 'measured'}): {targets}", flush=True)
        for cell in searched:
            if _constant(cell):
                chosen[cell] = _constant_choice(tutorial[cell], targets[cell], epochs)
        left = {c: sorted(candidates) for c in searched if c not in chosen}
        while left:
            tries = {c: todo.pop(0) for c, todo in left.items()}
            began = time.perf_counter()
            for cell, runs in _round(s, tries).items():
                result = {"epochs": tries[cell], **{k: _mean(runs, k) for k in ("test", "forecast", "seconds", "cpu")}}
                reached = _passes(runs, targets[cell])
                print(f"{cell} one-cycle {tries[cell]} epochs: test {result['test']:.3g} forecast "
                      f"{result['forecast']:.3g} (targets {targets[cell][0]:.3g}, {targets[cell][1]:.3g}): "
                      f"{'reached' if reached else 'not yet'}", flush=True)
                if reached or not left[cell]:
                    chosen[cell] = result | ({} if reached else {"missed": True})
                    del left[cell]
            print(f"round: {time.perf_counter() - began:.0f} s", flush=True)
    report(tutorial, targets, chosen, epochs)


def _tutorial_time(tutorial: dict[str, list[dict[str, Any]]], cell: str, c: dict[str, Any], epochs: int,
                   key: str) -> float:
    """The tutorial recipe's seconds per run for `cell`: measured, else the chosen run's per epoch x `epochs`
    (a schedule changes the rate, not an epoch's work)."""
    return _mean(tutorial[cell], key) if cell in tutorial else c[key] * epochs / c["epochs"]


def report(tutorial: dict[str, list[dict[str, Any]]], targets: dict[str, tuple[float, float]],
           chosen: dict[str, dict[str, Any]], epochs: int) -> None:
    print("\n| cell | schedule | epochs (declared) | test MSE / tutorial's | forecast MSE / tutorial's | "
          "wall s per run (tutorial's) | CPU s per run (tutorial's) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    worst, fast_wall, tutorial_wall = 0.0, 0.0, 0.0
    for cell in chosen:
        c, (test, forecast) = chosen[cell], targets[cell]
        declared = RECIPES["fast"][cell]["epochs"]
        ratios = (c["test"] / test, c["forecast"] / forecast)
        worst = max(worst, *ratios)
        fast_wall += c["seconds"]
        tutorial_wall += _tutorial_time(tutorial, cell, c, epochs, "seconds")
        schedule = RECIPES["fast"][cell].get("lr_schedule", "constant")
        print(f"| {cell} | {schedule} | {c['epochs']}{' (missed)' if c.get('missed') else ''} ({declared}) | "
              f"{c['test']:.3g} / {test:.3g} = {ratios[0]:.2f} | {c['forecast']:.3g} / {forecast:.3g} = "
              f"{ratios[1]:.2f} | {c['seconds']:.1f} ({_tutorial_time(tutorial, cell, c, epochs, 'seconds'):.1f}) | "
              f"{c['cpu']:.1f} ({_tutorial_time(tutorial, cell, c, epochs, 'cpu'):.1f}) |")
    match = all(chosen[c]["epochs"] == RECIPES["fast"][c]["epochs"] for c in chosen)
    epochs = ",".join(f"{c}:{chosen[c]['epochs']}" for c in chosen)
    print(f"fast_epochs={epochs} declared={'yes' if match else 'no'} "
          f"accuracy_ratio_max={worst:.2f} fast_time_ratio={fast_wall / tutorial_wall:.3f}")
