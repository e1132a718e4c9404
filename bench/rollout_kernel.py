"""CPU time per 100-step forecast of the tutorial LSTM (hidden 20, 1 layer, window 80): today's torch path
(core.wavefront, `rollout(..., kernel=False)`) against the fused kernel (core.kernel), at batch 1 and 64;
the kernel's CPU per row with a rollout's windows in each width of vector lanes (64 rows, and one row), and by
row, and the width core.kernel chooses;
and the CPU time of one training epoch of the tutorial's GRU against its LSTM (hidden 20, window 80, batches
of 500 in passes of the cell's default micro-batch: core.train's defaults), GRU on its compiled layer
(core.fastgru) and, for reference, on core.fastrnn's torch loop; and with `loss_on: all` (the loss on every
step's prediction), LSTM, GRU compiled, and GRU on torch's own nn.GRU.

Single-threaded (torch one thread, numba one thread), time.process_time, the variants interleaved round by
round; each figure is the median over rounds of CPU ms per forecast or per epoch. Last line:
`batch1_cpu_ms=<x> batch64_cpu_ms=<y> gru_vs_lstm_epoch=<z>` (the kernel's figures, and GRU's epoch CPU
over LSTM's).

Usage: python bench/rollout_kernel.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np
import torch

from rnncast.common.options import ModelOptions, SineData, TrainOptions
from rnncast.common.rollout_work import KERNEL_WIDTHS, kernel_plan
from rnncast.core import fastgru, kernel, kernel_loops
from rnncast.core.data import make_split
from rnncast.core.epoch import train_epoch
from rnncast.core.forecast import rollout, rollout_numpy
from rnncast.core.models import Forecaster
from rnncast.core.optim import Adam

HORIZON, WINDOW = 100, 80


def cpu_ms_per_forecast(run, windows: np.ndarray, repeats: int) -> float:
    start = time.process_time()
    for _ in range(repeats):
        run(windows)
    return (time.process_time() - start) * 1e3 / (repeats * windows.shape[0])


def lane_widths(model: Forecaster, rounds: int) -> dict[str, float]:
    """Median CPU ms per row of one 100-step rollout of WINDOW-value windows in the lane kernel at each width, for
    64 rows and for one row, and in the row kernel, the variants interleaved (core.kernel chooses among them)."""
    cell, arrays = kernel._weights(model)
    layers, hidden, _ = arrays[2].shape
    gen = np.random.default_rng(1)
    runs = {}

    def in_lanes(rows: np.ndarray, width: int) -> None:
        kernel.Lanes(len(rows), width, layers, hidden, 1).run(rows.copy(), WINDOW, HORIZON, cell, arrays)

    for batch in (64, 1):
        rows = gen.standard_normal((batch, WINDOW + HORIZON)).astype(np.float32)
        for width in KERNEL_WIDTHS:
            runs[f"{batch} rows in {width} lanes"] = (batch, lambda rows=rows, width=width: in_lanes(rows, width))
    rows = gen.standard_normal((4, WINDOW + HORIZON)).astype(np.float32)
    runs["rows by row"] = (4, lambda: kernel_loops.windows_by_row(rows.copy(), WINDOW, 0, HORIZON, cell, *arrays))
    times: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(rounds + 1):
        for name, (count, run) in runs.items():
            start = time.process_time()
            run()
            if r:  # the first round compiles and warms up
                times[name].append((time.process_time() - start) * 1e3 / count)
    return {name: statistics.median(values) for name, values in times.items()}


def epoch_ms(rounds: int) -> dict[str, float]:
    """Median CPU ms of one training epoch per variant, the variants interleaved."""
    cfg, every = TrainOptions(), TrainOptions(loss_on="all")
    split = make_split(SineData(), cfg.sequence_length)
    compiled = fastgru.serves
    # name: (cell, options, the layer: compiled, core.fastrnn's torch loop, or torch's own nn module)
    variants = {"LSTM": ("LSTM", cfg, "compiled"), "GRU": ("GRU", cfg, "compiled"),
                "GRU-torch-loop": ("GRU", cfg, "loop"), "LSTM loss_on=all": ("LSTM", every, "compiled"),
                "GRU loss_on=all": ("GRU", every, "compiled"), "GRU loss_on=all nn.GRU": ("GRU", every, "torch")}
    runs = {}
    for name, (cell, _, layer) in variants.items():
        torch.manual_seed(0)
        model = Forecaster(ModelOptions(cell=cell))
        model.fused = layer != "torch"
        runs[name] = (model, Adam(model.parameters(), lr=cfg.lr))
    times: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(rounds + 1):
        for name, (model, optimizer) in runs.items():
            _, options, layer = variants[name]
            fastgru.serves = (lambda x: False) if layer == "loop" else compiled  # type: ignore[assignment]
            start = time.process_time()
            train_epoch(model, optimizer, split, options)
            if r:  # the first round compiles and warms up
                times[name].append((time.process_time() - start) * 1e3)
    fastgru.serves = compiled  # type: ignore[assignment]
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = Forecaster(ModelOptions(cell="LSTM", hidden_size=20, num_layers=1)).eval()
    variants = {
        "torch": lambda w: rollout(model, torch.as_tensor(w, dtype=torch.float32), HORIZON, kernel=False),
        "kernel": lambda w: rollout_numpy(model, w, HORIZON),
    }
    if not kernel.supports(model):
        raise SystemExit("numba is not installed: the kernel cannot run here")
    gen = np.random.default_rng(0)
    results: dict[tuple[str, int], list[float]] = {}
    for batch, repeats in ((1, 20), (64, 1)):
        windows = np.sin(np.linspace(0, 8, WINDOW))[None, :] + 0.05 * gen.standard_normal((batch, WINDOW))
        for run in variants.values():
            run(windows)  # compiled, and per-shape checks done, before the clock
        for _ in range(args.rounds):
            for name, run in variants.items():
                results.setdefault((name, batch), []).append(cpu_ms_per_forecast(run, windows, repeats))
    median = {key: statistics.median(values) for key, values in results.items()}
    for (name, batch), value in median.items():
        print(f"{name:6s} batch={batch:2d} cpu_ms_per_forecast={value:.3f}")
    for batch in (1, 64):
        print(f"batch {batch}: kernel {median['torch', batch] / median['kernel', batch]:.1f}x less CPU than torch")
    for name, value in lane_widths(model, args.rounds).items():
        print(f"kernel {name}: cpu_ms_per_row={value:.2f}")
    for batch in (1, 64):
        plan = kernel_plan(batch, WINDOW, HORIZON, model.rnn.hidden_size, model.rnn.num_layers, "LSTM")
        print(f"kernel batch {batch}: {plan.width or 'by row'} lanes")
    epochs = epoch_ms(max(1, args.rounds // 3))
    for name, value in epochs.items():
        print(f"epoch {name}: cpu_ms={value:.1f}")
    ratio = epochs["GRU"] / epochs["LSTM"]
    print(f"batch1_cpu_ms={median['kernel', 1]:.2f} batch64_cpu_ms={median['kernel', 64]:.2f} "
          f"gru_vs_lstm_epoch={ratio:.2f}")


if __name__ == "__main__":
    main()
