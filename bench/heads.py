"""Trend and each window's use, measured: differencing, scaling, the multi-step head and the every-step loss on
real monthly and yearly series (statsmodels' co2, resampled to months, and sunspots), against seasonal naive.

Each configuration trains (core.train, as a worker does, one thread) on the first 80% of the windows, seeds 0-2,
then a rolling-origin backtest over the test part (core.backtest, as `POST /v1/models/{id}/backtest` runs it)
scores it. MASE = the backtest's mean absolute error / the train part's in-sample seasonal-naive mean absolute
error (MASE < 1: better than "repeat last season"). Prints per series and configuration the mean (min-max) over
seeds of MASE and skill (1 - model MSE / the better baseline's), and the mean wall seconds of a training.
Last line: best_mase_<series>=<x> ... (the best configuration's mean MASE per series).
Usage: python bench/heads.py [--epochs 150] [--seeds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
import statsmodels.api as sm
import torch

from rnncast.common.options import DatasetData, ModelOptions, TrainOptions
from rnncast.common.series import split_point
from rnncast.core.backtest import BacktestSetup, backtest
from rnncast.core.train import train
from rnncast.core.transform import first_test


def series() -> dict[str, tuple[np.ndarray, int, int]]:
    """name: (values, season, horizon)."""
    co2 = sm.datasets.co2.load_pandas().data["co2"].resample("MS").mean().interpolate().to_numpy()
    sunspots = sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy()
    return {"co2_monthly": (co2, 12, 12), "sunspots_yearly": (sunspots, 11, 11)}


def configs(season: int) -> dict[str, dict[str, Any]]:
    return {
        "tutorial (standard)": {},
        "minmax": {"scaling": "minmax"},
        "first difference": {"difference": "first"},
        f"seasonal difference ({season})": {"difference": "seasonal", "season": season},
        f"output_steps {season}": {"output_steps": season},
        f"first difference, output_steps {season}": {"difference": "first", "output_steps": season},
        "loss_on all": {"loss_on": "all"},
        "first difference, loss_on all": {"difference": "first", "loss_on": "all"},
    }


def mase_scale(values: np.ndarray, first: int, season: int) -> float:
    train_part = values[:first]
    return float(np.mean(np.abs(train_part[season:] - train_part[:-season])))


def run(values: np.ndarray, season: int, horizon: int, options: dict[str, Any], seed: int,
        epochs: int) -> tuple[float, float, float]:
    model = ModelOptions(cell="GRU", hidden_size=20, output_steps=options.get("output_steps", 1))
    train_opts = {k: v for k, v in options.items() if k != "output_steps"}
    cfg = TrainOptions(epochs=epochs, batch_size=64, lr=3e-3, sequence_length=2 * season, seed=seed, **train_opts)
    data = DatasetData(dataset_id="0" * 32, sha256="0" * 64, length=values.shape[0])
    t0 = time.perf_counter()
    result = train(model, data, cfg, series=values)
    seconds = time.perf_counter() - t0
    # Every configuration is scored from the same origins: past the test part's start of the configuration
    # whose train part ends last (a season's lag and a season's targets).
    first = split_point(values.shape[0], cfg.sequence_length, data.train_fraction, season, season)
    assert first >= first_test(data, cfg, values.shape[0], model.output_steps, result.transform)
    setup = BacktestSetup(values, first, cfg.sequence_length, result.transform)
    out = backtest(result.model, setup, origins=40, horizon=horizon, season=season)
    mase = out["model"]["mae"] / mase_scale(values, setup.first, season)
    return mase, out["skill"], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    best = {}
    for name, (values, season, horizon) in series().items():
        print(f"{name}: {values.shape[0]} values, season {season}, horizon {horizon}, GRU hidden 20, "
              f"sequence_length {2 * season}, {args.epochs} epochs, seeds 0-{args.seeds - 1}")
        for label, options in configs(season).items():
            runs = [run(values, season, horizon, options, seed, args.epochs) for seed in range(args.seeds)]
            mases, skills, secs = zip(*runs, strict=True)
            print(f"  {label:38s} MASE {statistics.mean(mases):.3f} ({min(mases):.3f}-{max(mases):.3f})  "
                  f"skill {statistics.mean(skills):+.3f}  {statistics.mean(secs):.1f} s", flush=True)
            best[name] = min(best.get(name, float("inf")), statistics.mean(mases))
    print(" ".join(f"best_mase_{k}={v:.3f}" for k, v in best.items()))


if __name__ == "__main__":
    main()
