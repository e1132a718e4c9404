"""How well `forecast_work` (common.defaults) tracks a rollout's measured time, over model shapes.

Sweeps hidden 1..1024, layers 1..5, the three cells, 1 or 32 rows and windows up to
MAX_SEQUENCE_LENGTH, each with a horizon chosen to take about --target seconds; times the rollout
(core.forecast.rollout, one thread, as a worker runs it) and prints, per shape, estimate / (rate x
time), where rate is the work per second that fits all shapes best (their geometric mean). Summary:
`worst_ratio=<x>` (the largest factor by which any shape's estimate is off, over or under; the goal
is <= 3), `spread` (largest over smallest ratio) and `units_per_s`. With --fit, also prints the
ELEMENTWISE_COST and STEP_OVERHEAD a least-squares fit to these timings would choose.

Usage: python bench/forecast_work_calibration.py [--target 0.15] [--quick] [--fit]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from rnncast.common.defaults import GATES, MAX_SEQUENCE_LENGTH
from rnncast.common.options import ModelOptions
from rnncast.common.rollout_work import forecast_work, kernel_counts, padded_rows
from rnncast.core.forecast import rollout
from rnncast.core.models import Forecaster

LONGEST_S = 4.0  # a shape whose one-step horizon would take longer is skipped (the widest at the longest windows)
Shape = tuple[str, int, int, int, int]  # cell, hidden, layers, rows, sequence_length


def shapes(quick: bool) -> list[Shape]:
    hiddens = (1, 8, 64, 1024) if quick else (1, 4, 16, 64, 256, 1024)
    layer_counts = (1, 5) if quick else (1, 3, 5)
    windows = (10, 1000, MAX_SEQUENCE_LENGTH) if quick else (10, 200, 5000, MAX_SEQUENCE_LENGTH)
    cells = ("RNN", "LSTM") if quick else ("RNN", "LSTM", "GRU")
    return [(c, h, n, r, t) for c in cells for h in hiddens for n in layer_counts for r in (1, 32) for t in windows]


def timed(cell: str, hidden: int, layers: int, rows: int, seq: int, horizon: int) -> float:
    torch.manual_seed(0)
    model = Forecaster(ModelOptions(cell=cell, hidden_size=hidden, num_layers=layers)).eval()
    windows = torch.randn(rows, seq)
    rollout(model, windows[:, : min(seq, 8)], 2)  # per-shape checks (core.wavefront) are not the rollout's
    start = time.perf_counter()
    rollout(model, windows, horizon)
    return time.perf_counter() - start


def horizon_for(rate: float, target: float, cell: str, hidden: int, layers: int, rows: int, seq: int) -> int | None:
    """The horizon whose estimate takes about `target` seconds at `rate`; None when one step is too long."""
    one = forecast_work(rows, seq, 1, hidden, layers, cell) / rate
    if one > max(4 * target, LONGEST_S):
        return None
    lo, hi = 1, 1_000_000
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if forecast_work(rows, seq, mid, hidden, layers, cell) / rate <= target else (lo, mid)
    return lo


def fit(rows: list[tuple[Shape, int, float]]) -> None:
    """Least squares (relative errors) of time = a * arithmetic + b * elementwise + c * steps
    + d * steps x weights + e * weights, each term as forecast_work counts it."""
    feats, times = [], []
    for (cell, hidden, layers, n, seq), horizon, took in rows:
        cells = padded_rows(n, hidden) * horizon * seq * layers * GATES[cell] * hidden
        steps, (weights, _, _) = seq + horizon - 1, kernel_counts(hidden, layers, cell)
        feats.append([cells * hidden, cells, steps * layers, steps * weights, weights])
        times.append(took)
    a = np.array(feats) / np.array(times)[:, None]
    coef, *_ = np.linalg.lstsq(a, np.ones(len(times)), rcond=None)
    names = ("elementwise_cost", "step_overhead", "weight_read_cost", "setup_cost")
    terms = " ".join(f"{n}={c / coef[0]:.3g}" for n, c in zip(names, coef[1:], strict=True))
    print(f"fit: units_per_s={1 / coef[0]:.3g} {terms}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", type=float, default=0.15, help="seconds per timed rollout, about")
    parser.add_argument("--quick", action="store_true", help="fewer shapes")
    parser.add_argument("--fit", action="store_true", help="also print the constants a fit would choose")
    parser.add_argument("--dump", help="write the timings to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    probe = ("LSTM", 20, 1, 256, 80)  # the defaults' model, a full batch
    rate = forecast_work(*probe[3:4], probe[4], 100, probe[1], probe[2], probe[0]) / timed(*probe, 100)
    results = []
    for shape in shapes(args.quick):
        horizon = horizon_for(rate, args.target, *shape)
        if horizon is None:
            print(f"{shape}: skipped (one step of horizon is over {max(4 * args.target, LONGEST_S):g}s)")
            continue
        took = timed(*shape, horizon)
        work = forecast_work(shape[3], shape[4], horizon, shape[1], shape[2], shape[0])
        results.append((shape, horizon, took, work))
    best = math.exp(sum(math.log(w / t) for *_, t, w in results) / len(results))
    ratios = []
    for shape, horizon, took, work in results:
        ratio = work / (best * took)
        ratios.append(ratio)
        print(f"cell={shape[0]} hidden={shape[1]} layers={shape[2]} rows={shape[3]} seq={shape[4]} "
              f"horizon={horizon} seconds={took:.3f} ratio={ratio:.2f}")
    worst = max(max(r, 1 / r) for r in ratios)
    spread = max(ratios) / min(ratios)
    print(f"shapes={len(results)} units_per_s={best:.3g} spread={spread:.2f} worst_ratio={worst:.2f}")
    if args.fit:
        fit([(s, h, t) for s, h, t, _ in results])
    if args.dump:
        Path(args.dump).write_text(json.dumps([[list(s), h, t] for s, h, t, _ in results]))


if __name__ == "__main__":
    main()
