"""The tutorial's study as the service runs it: RNN vs LSTM vs GRU, several seeds, defaults.

Starts a private stack with --processes worker processes, POSTs the
comparison, waits for it, prints the summary and saves the two PNGs.
Usage: python bench/comparison_study.py [--processes 2] [--seeds 0,1,2] [--epochs 500] [--plots DIR]
Last line: wall_s=.. processes=.. best_cell=..
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _stack import run_comparison, stack, study_body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--cells", default="RNN,LSTM,GRU")
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--plots", type=Path, default=None)
    args = parser.parse_args()
    with stack(concurrency=args.processes) as s:
        http = s.api.http
        view, wall = run_comparison(http, study_body(args.cells, args.seeds, args.epochs), poll=0.5)
        if args.plots:
            args.plots.mkdir(parents=True, exist_ok=True)
            for kind in ("loss", "predictions"):
                (args.plots / f"{kind}.png").write_bytes(
                    http.get(f"/v1/comparisons/{view['id']}/{kind}.png", timeout=120).content)
    for cell, summary in view["summary"].items():
        tl, fm, ts = summary["final_test_loss"], summary["forecast_mse"], summary["train_seconds"]
        print(f"cell={cell} n={tl['n']} test_mse={tl['mean']:.3g}+-{tl['std']:.2g} "
              f"forecast_mse={fm['mean']:.3g}+-{fm['std']:.2g} train_s={ts['mean']:.1f}")
    for run in view["runs"]:
        print(f"run cell={run['cell']} seed={run['seed']} test_mse={run['final_test_loss']:.3g} "
              f"forecast_mse={run['forecast_mse']:.3g} train_s={run['train_seconds']:.1f}")
    print(f"wall_s={wall:.1f} processes={args.processes} status={view['status']} best_cell={view['best_cell']}")


if __name__ == "__main__":
    main()
