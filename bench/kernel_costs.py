"""The fused kernel's cost terms (common.rollout_work's KERNEL_* constants) against its measured time, over shapes.

For each shape (cells, hidden 1..128, 1 and 3 layers), one thread, CPU time: the row kernel's time per
window-step (core.kernel_loops.windows_by_row) and the lane kernel's time per step of the lanes at 16, 32,
48 and 64 lanes, every lane busy (windows_by_lane, as many rows as lanes). The model's terms are in the row
kernel's units: the run's units per second is the geometric mean, over shapes, of the row terms' estimate
over the row kernel's time. Prints, per shape, each estimate over (units per second x time); then a
least-squares fit (relative errors) of the lane terms to these timings, in the same units; last line:
`row_ratio=<lo>-<hi> lane_ratio=<lo>-<hi>` (the declared terms' estimates over measured time, least and
most; docs/performance.md, "Windows in vector lanes", gives the ranges the declared terms read).

Usage: python bench/kernel_costs.py [--quick]
"""

from __future__ import annotations

import argparse
import math
import os
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np
import torch

from rnncast.common import rollout_work as rw
from rnncast.common.defaults import GATES
from rnncast.common.options import ModelOptions
from rnncast.core import kernel
from rnncast.core.models import Forecaster

WINDOW, WIDTHS = 40, rw.KERNEL_WIDTHS


def best_of(run, repeats: int = 3) -> tuple[float, int]:
    """(least CPU seconds, what the run returned) over `repeats` runs."""
    out = []
    for _ in range(repeats):
        start = time.process_time()
        value = run()
        out.append((time.process_time() - start, value))
    return min(out)


def measure(cell: str, hidden: int, layers: int) -> dict[str, float]:
    """Seconds per window-step by row, and per step of the lanes at each width."""
    torch.manual_seed(0)
    model = Forecaster(ModelOptions(cell=cell, hidden_size=hidden, num_layers=layers)).eval()
    code, arrays = kernel._weights(model)
    windows = max(2, int(3e6 / (layers * GATES[cell] * (hidden + 1) * WINDOW * 16)))  # ~3M multiply-adds a lane
    gen = np.random.default_rng(0)
    rows = gen.standard_normal((4, WINDOW + windows)).astype(np.float32)
    kernel.windows_by_row(rows.copy(), WINDOW, 0, 1, code, *arrays)
    took, _ = best_of(lambda: kernel.windows_by_row(rows.copy(), WINDOW, 0, windows, code, *arrays))
    out = {"row": took / (4 * windows * WINDOW)}
    for width in WIDTHS:
        buf = gen.standard_normal((width, WINDOW + windows)).astype(np.float32)

        def run(buf: np.ndarray = buf, width: int = width) -> int:
            lanes = kernel.Lanes(width, width, layers, hidden, 1)
            lanes.run(buf.copy(), WINDOW, windows, code, arrays)
            return int(lanes.clock[0])

        run()
        took, steps = best_of(run)
        out[f"lanes{width}"] = took / steps
    return out


def features(cell: str, hidden: int, layers: int, width: int) -> list[float]:
    """The lane terms' factors, as common.rollout_work._kernel_terms counts them."""
    weights, units, macs = rw.kernel_counts(hidden, layers, cell)
    return [macs, layers, width * weights, width * units, width]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="three shapes")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if not kernel.available():
        raise SystemExit("numba is not installed: the kernel cannot run here")
    shapes = ([("LSTM", 20, 1), ("GRU", 7, 3), ("RNN", 64, 1)] if args.quick else
              [(c, h, n) for c in ("RNN", "LSTM", "GRU") for h in (1, 4, 8, 20, 33, 64, 128) for n in (1, 3)])
    timed = [(shape, measure(*shape)) for shape in shapes]
    row_terms = {shape: rw._kernel_terms(WINDOW, 1, shape[1], shape[2], shape[0]) for shape in shapes}
    rate = math.exp(sum(math.log(row_terms[s].alone / t["row"]) for s, t in timed) / len(timed))
    row_ratios, lane_ratios = [], []
    for shape, t in timed:
        terms = row_terms[shape]
        row_ratios.append(terms.alone / (rate * t["row"]))
        lanes = [(terms.lanes + w * terms.lane) / (rate * t[f"lanes{w}"]) for w in WIDTHS]
        lane_ratios += lanes
        print(f"cell={shape[0]} hidden={shape[1]} layers={shape[2]} row={row_ratios[-1]:.2f} "
              + " ".join(f"lanes{w}={r:.2f}" for w, r in zip(WIDTHS, lanes, strict=True)))
    a = np.array([np.array(features(*s, w)) / t[f"lanes{w}"] for s, t in timed for w in WIDTHS])
    coef, *_ = np.linalg.lstsq(a, np.ones(len(a)), rcond=None)
    names = ("LANES_MAC", "LANES_STEP", "LANE_MAC", "LANE_UNIT", "LANE_STEP")
    fitted = " ".join(f"{n}={c * rate:.3g}" for n, c in zip(names, coef, strict=True))
    print(f"units_per_s={rate:.3g} fit: {fitted}")
    print(f"row_ratio={min(row_ratios):.2f}-{max(row_ratios):.2f} "
          f"lane_ratio={min(lane_ratios):.2f}-{max(lane_ratios):.2f}")


if __name__ == "__main__":
    main()
