"""Calendar covariates, measured: backtest MASE with and without `covariates` (all with `difference: first`) on
statsmodels' co2 resampled to month starts and on the monthly air passengers series (bench/_real_series_data.py).

Each configuration trains (core.train, as a worker does, one thread) on the train part, seeds 0-2, hidden 12,
batch 32, lr 0.01, then a rolling-origin backtest of 24 origins, horizon 12 (core.backtest, as
`POST /v1/models/{id}/backtest` runs it). MASE: the backtest's MAE over the train part's seasonal-naive MAE.
Prints per series and configuration each seed's MASE, their mean, the mean MAPE, the drift baseline's MASE and
the seconds per run. Needs statsmodels and statsforecast (the `peers-forecast` extra).
Usage: python bench/covariates.py [--cell GRU] [--epochs 200] [--output-steps 1]
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime

import numpy as np
import torch
from _real_series_data import load_series

from rnncast.common.options import DatasetData, ModelOptions, TrainOptions
from rnncast.common.timeaxis import infer_axis
from rnncast.core.backtest import BacktestSetup, backtest
from rnncast.core.train import train
from rnncast.core.transform import first_test

CHOICES = ("none", "calendar", "calendar+trend")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cell", default="GRU")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--output-steps", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    k = args.output_steps
    for s in load_series():
        if s.name not in ("co2_monthly", "air_passengers"):
            continue
        times = [datetime.fromisoformat(d) for d in s.dates]
        axis = infer_axis(times, list(range(2, len(times) + 2)))
        data = DatasetData(dataset_id=s.name, sha256="0" * 64, length=len(s.values), frequency=axis.frequency,
                           start=axis.start.isoformat(), month_end=axis.month_end)
        for choice in CHOICES:
            rows = []
            for seed in (0, 1, 2):
                t0 = time.perf_counter()
                model = ModelOptions(cell=args.cell, hidden_size=12, output_steps=k)
                options = TrainOptions(epochs=args.epochs, batch_size=32, lr=0.01, sequence_length=s.sequence_length,
                                       seed=seed, difference="first", covariates=choice,
                                       loss_on="all" if k > 1 else "last")
                result = train(model, data, options, series=s.values)
                first = first_test(data, options, len(s.values), k, result.transform)
                setup = BacktestSetup(s.values, first, s.sequence_length, result.transform)
                bt = backtest(result.model.eval(), setup, 24, s.horizon, s.season)
                rows.append((bt["model"]["mase"], bt["model"]["mape"], bt["seasonal_naive_drift"]["mase"],
                             time.perf_counter() - t0))
            r = np.array(rows)
            print(f"{s.name:15s} {args.cell} k={k} covariates={choice:15s} MASE "
                  f"{' '.join(f'{x:.3f}' for x in r[:, 0])} mean {r[:, 0].mean():.3f} | MAPE {r[:, 1].mean():.2f}% "
                  f"| drift MASE {r[0, 2]:.3f} | {r[:, 3].mean():.0f} s/run", flush=True)


if __name__ == "__main__":
    main()
