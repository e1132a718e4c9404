"""Train each cell with the tutorial's defaults through `core`, in-process.

Prints one line per cell (final test MSE, 100-step forecast MSE from start=123,
wall time, the process's peak RSS so far) and a summary line. Usage:
python bench/core_defaults.py [--epochs N] [--cells RNN,LSTM,GRU] [--seed S]
[--threads T] [--micro-batch-size M] [--torch-rnn] [--default-malloc]
(the last two turn off the CPU levers the workers use, to measure them; run
one cell per process to read its own peak RSS).
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import torch

from rnncast.common.options import ModelOptions, SineData, TrainOptions
from rnncast.core.device import keep_freed_memory
from rnncast.core.forecast import forecast_from_starts
from rnncast.core.models import Forecaster
from rnncast.core.train import train


def _peak_rss_mb() -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) // 1024  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--cells", default="RNN,LSTM,GRU")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--micro-batch-size", type=int, default=0, help="rows per pass (0: whole batches)")
    parser.add_argument("--torch-rnn", action="store_true", help="train with torch's RNN/GRU, not core.fastrnn")
    parser.add_argument("--default-malloc", action="store_true", help="leave glibc's malloc thresholds alone")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # as the workers do
    Forecaster.fused = not args.torch_rnn
    if not args.default_malloc:
        keep_freed_memory()
    data = SineData()
    total = 0.0
    for cell in args.cells.split(","):
        cfg = TrainOptions(epochs=args.epochs, seed=args.seed, micro_batch_size=args.micro_batch_size)
        t0 = time.perf_counter()
        result = train(ModelOptions(cell=cell), data, cfg)
        wall = time.perf_counter() - t0
        total += wall
        fc = forecast_from_starts(result.model, data, cfg.sequence_length, [123.0], 100)[0]
        print(
            f"cell={cell} epochs={args.epochs} seed={args.seed} threads={args.threads} fused={Forecaster.fused} "
            f"micro_batch_size={args.micro_batch_size} test_mse={result.final_test_loss:.3g} "
            f"forecast_mse={fc.mse:.3g} max_abs_error={fc.max_abs_error:.3g} wall_s={wall:.1f} "
            f"peak_rss_mb={_peak_rss_mb()}",
            flush=True,
        )
    print(f"total_wall_s={total:.1f}")


if __name__ == "__main__":
    main()
