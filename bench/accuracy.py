"""Better forecasts in less time: the tutorial recipe against `accurate`, per cell, seeds 0-2, through the real stack.

For each recipe, one comparison of RNN, LSTM and GRU over seeds 0, 1, 2 with the
tutorial's defaults otherwise (500 epochs), on a stack with one training
process per core, each run tracking its 100-step forecast from start 123 every
--every epochs. Prints per cell: mean +- std of the final test MSE and of the
forecast MSE, and the mean wall time of a run; then, for `accurate`, the fewest
epochs at which the cell's mean test MSE and mean forecast MSE are both at or
below the tutorial recipe's 500-epoch means, with the wall seconds to get there
(from the runs' epoch events' timestamps) as a ratio of the tutorial recipe's
500-epoch wall time for that cell.
Last line: accurate_forecast_mse_max=<worst cell's mean> time_to_tutorial_accuracy_ratio=<worst cell's ratio>

With --fast, the search behind the `fast` recipe: the tutorial recipe's comparison
(500 epochs, tracking the forecast every --every epochs) sets each cell's targets,
its 3-seed mean test MSE and forecast MSE; then per cell the fewest epochs at
which `fast`'s options for that cell (its schedule; the epochs are searched)
reach both. A constant rate's run of E epochs is the first E epochs of the
tutorial's run, so for such a cell the tutorial's tracked epochs are the
candidates; a one-cycle schedule depends on its length, so each candidate of
--candidates is its own comparison (ascending, cells in parallel, stopping at
the first that reaches the targets). Prints per cell the chosen epochs, the
declared ones, the accuracy ratios (mean MSE / the tutorial's) and the wall and
CPU seconds per run against the tutorial's.
Last line: fast_epochs=<cell:epochs,..> declared=<yes|no> accuracy_ratio_max=<worst mean MSE / target>
fast_time_ratio=<summed wall per run at the chosen epochs / the tutorial's>
Usage: python bench/accuracy.py [--epochs 500] [--every 5] [--quick]
       [--fast [--candidates 100,150,200,300] [--declared-targets]]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

import httpx
from _stack import stack

from rnncast.common.defaults import CELLS
from rnncast.common.options import RECIPES

SEEDS = [0, 1, 2]


def mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3g} +- {std:.2g}"


def epoch_times(http: httpx.Client, job_id: str) -> dict[int, float]:
    """Seconds from the run's start to the end of each epoch, from its events' stream ids (ms)."""
    times: dict[int, float] = {}
    started = None
    with http.stream("GET", f"/v1/jobs/{job_id}/events", timeout=httpx.Timeout(30, read=60)) as r:
        event_id, name = None, None
        for line in r.iter_lines():
            if line.startswith("id:"):
                event_id = int(line[3:].strip().split("-")[0])
            elif line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:") and event_id is not None:
                data = json.loads(line[5:])
                if name == "status" and data["status"] == "running" and started is None:
                    started = event_id
                elif name == "epoch" and started is not None:
                    times[int(data["epoch"])] = (event_id - started) / 1000
                elif name == "status" and data["status"] in ("succeeded", "failed", "cancelled"):
                    break
    return times


def run_recipe(s: Any, recipe: str, epochs: int, every: int,
               cells: tuple[str, ...] = CELLS) -> dict[str, list[dict[str, Any]]]:
    body = {"cells": list(cells), "seeds": SEEDS, "train": {"epochs": epochs, "recipe": recipe},
            "forecast": {"start": 123.0, "horizon": 100, "every": every}, "name": f"accuracy {recipe}"}
    study = s.api.http.post("/v1/comparisons", json=body).json()
    while (view := s.api.http.get(f"/v1/comparisons/{study['id']}").json())["status"] == "running":
        time.sleep(2)
    assert view["status"] == "succeeded", view
    runs: dict[str, list[dict[str, Any]]] = {}
    for run in view["runs"]:
        job = s.api.http.get(f"/v1/jobs/{run['job_id']}").json()
        runs.setdefault(run["cell"], []).append({
            "test": run["final_test_loss"], "forecast": run["forecast_mse"], "seconds": run["train_seconds"],
            "cpu": run.get("cpu_seconds"),
            "history": job["history"], "times": epoch_times(s.api.http, run["job_id"]),
        })
    return runs


def reach(runs: list[dict[str, Any]], test_target: float, forecast_target: float) -> tuple[int, float] | None:
    """The first tracked epoch whose seed-mean test and forecast MSE are both at or below the targets."""
    tracked = [k for k, v in enumerate(runs[0]["history"]["forecast_mse"]) if v is not None]
    for k in tracked:
        tests = [r["history"]["test_loss"][k] for r in runs]
        forecasts = [r["history"]["forecast_mse"][k] for r in runs]
        if None in tests or None in forecasts:
            continue
        if statistics.fmean(tests) <= test_target and statistics.fmean(forecasts) <= forecast_target:
            return k + 1, statistics.fmean(r["times"].get(k + 1, float("nan")) for r in runs)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="60 epochs: a smoke run, not the benchmark")
    parser.add_argument("--fast", action="store_true", help="search the fewest epochs per cell (the fast recipe)")
    parser.add_argument("--candidates", default="100,150,200,300,400", help="--fast: one-cycle epochs to try")
    parser.add_argument("--cells", default=",".join(CELLS), help="--fast: the cells to search")
    parser.add_argument("--declared-targets", action="store_true", help=(
        "--fast: take the targets from common.accuracy.TUTORIAL_ACCURACY (the tutorial recipe's rows of an earlier "
        "run: CPU runs reproduce to the bit) and run the tutorial recipe only for the constant-rate cells"))
    args = parser.parse_args()
    if args.fast:
        from _fast_search import search

        search(args.epochs, args.every, [int(c) for c in args.candidates.split(",")], args.declared_targets,
               tuple(args.cells.split(",")))
        return
    epochs = 60 if args.quick else args.epochs
    cores = len(os.sched_getaffinity(0))
    results = {}
    with stack(concurrency=cores, predict_threads=2) as s:
        for recipe in ("tutorial", "accurate"):
            began = time.perf_counter()
            results[recipe] = run_recipe(s, recipe, epochs, args.every)
            print(f"{recipe}: {time.perf_counter() - began:.0f} s for {len(CELLS) * len(SEEDS)} runs on {cores} "
                  f"training processes", flush=True)
    print("\n| cell | recipe | final test MSE | 100-step forecast MSE (start 123) | wall s per run |")
    print("| --- | --- | --- | --- | --- |")
    for cell in CELLS:
        for recipe in ("tutorial", "accurate"):
            runs = results[recipe][cell]
            print(f"| {cell} | {recipe} | {mean_std([r['test'] for r in runs])} | "
                  f"{mean_std([r['forecast'] for r in runs])} | {statistics.fmean(r['seconds'] for r in runs):.1f} |")
    print(f"\naccurate, per cell: {json.dumps(RECIPES['accurate'])}")
    ratios, worst_forecast = [], 0.0
    for cell in CELLS:
        tutorial, accurate = results["tutorial"][cell], results["accurate"][cell]
        test_target = statistics.fmean(r["test"] for r in tutorial)
        forecast_target = statistics.fmean(r["forecast"] for r in tutorial)
        tutorial_wall = statistics.fmean(max(r["times"].values()) for r in tutorial)
        worst_forecast = max(worst_forecast, statistics.fmean(r["forecast"] for r in accurate))
        reached = reach(accurate, test_target, forecast_target)
        if reached is None:
            print(f"{cell}: accurate never reached the tutorial's means ({test_target:.3g} test, "
                  f"{forecast_target:.3g} forecast)")
            ratios.append(float("inf"))
            continue
        epoch, seconds = reached
        ratios.append(seconds / tutorial_wall)
        print(f"{cell}: accurate reached the tutorial's 500-epoch means ({test_target:.3g} test, {forecast_target:.3g} "
              f"forecast) at epoch {epoch}, {seconds:.1f} s against {tutorial_wall:.1f} s (ratio {ratios[-1]:.3f})")
    print(f"accurate_forecast_mse_max={worst_forecast:.3g} time_to_tutorial_accuracy_ratio={max(ratios):.3f}")


if __name__ == "__main__":
    main()
