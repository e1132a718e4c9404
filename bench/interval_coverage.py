"""Conformal intervals' empirical coverage on real series, in-process through `core` (as a worker calibrates).

Per series and seed: train a GRU on the series' train part, calibrate on the first half of its test part
(core.conformal), then measure the coverage of 0.8 and 0.95 intervals over every origin of the second half
(none used to calibrate). Series: statsmodels' co2 (weekly, averaged to months) and sunspots (yearly), and a
noisy sine as a control. Ends with `coverage_error_pp=<worst |coverage - level| in points>`. Usage:
python bench/interval_coverage.py [--epochs N] [--seeds 0,1,2] [--horizon H] [--series co2_monthly,...]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from rnncast.common.options import DatasetData, ModelOptions, SineData, TrainOptions
from rnncast.common.series import split_point
from rnncast.core.backtest import BacktestSetup, actuals, backtest_origins, model_forecasts
from rnncast.core.conformal import calibrate, coverage
from rnncast.core.data import series as sine_series
from rnncast.core.train import train

LEVELS = [0.8, 0.95]


def real_series() -> dict[str, tuple[np.ndarray, int]]:
    """name -> (values, sequence_length); statsmodels is a bench-only dependency."""
    from statsmodels.datasets import co2, sunspots  # bench only: not a runtime dependency

    weekly = co2.load_pandas().data["co2"].interpolate()
    monthly = weekly.resample("MS").mean().dropna().to_numpy(dtype=np.float64)
    spots = sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(dtype=np.float64)
    noisy = sine_series(SineData(points=1000, stop=500, noise_std=0.2), 7)
    return {"co2_monthly": (monthly, 24), "sunspots_yearly": (spots, 22), "noisy_sine": (noisy, 40)}


def run(name: str, values: np.ndarray, seq: int, seed: int, epochs: int, horizon: int) -> dict[str, float | None]:
    data = DatasetData(dataset_id=name, sha256="0" * 64, length=values.shape[0])
    cfg = TrainOptions(epochs=epochs, batch_size=64, lr=0.01, sequence_length=seq, seed=seed)
    result = train(ModelOptions(cell="GRU", hidden_size=20), data, cfg, series=values)
    model = result.model.eval()
    setup = BacktestSetup(values, split_point(values.shape[0], seq, data.train_fraction), seq, result.transform)
    cal = calibrate(model, setup, rows_per_batch=1024)
    if cal is None:
        return {f"{level:g}": None for level in LEVELS}
    origins = backtest_origins(values.shape[0], cal.end, horizon, 10_000)  # every origin past the calibration
    preds = model_forecasts(model, setup, origins, horizon, 1024)
    out = coverage(cal, LEVELS, origins, actuals(values, origins, horizon), preds)
    print(f"  {name} seed {seed}: calibration {cal.origins} origins x {cal.steps} steps, "
          f"evaluated on {out['coverage_origins']} origins x {horizon} steps: {out['coverage']}")
    return out["coverage"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--horizon", type=int, default=6)
    parser.add_argument("--series", default="co2_monthly,sunspots_yearly,noisy_sine")
    args = parser.parse_args()
    worst = 0.0
    chosen = args.series.split(",")
    for name, (values, seq) in ((k, v) for k, v in real_series().items() if k in chosen):
        started = time.perf_counter()
        shares = [run(name, values, seq, int(s), args.epochs, args.horizon) for s in args.seeds.split(",")]
        means = {}
        for level in LEVELS:
            got = [s[f"{level:g}"] for s in shares if s[f"{level:g}"] is not None]
            means[level] = float(np.mean(got)) if got else None
            if means[level] is not None:
                worst = max(worst, abs(means[level] - level) * 100)
        print(f"{name}: n={values.shape[0]} coverage " + " ".join(
            f"{level:g}={v:.3f}" if v is not None else f"{level:g}=n/a" for level, v in means.items())
            + f" wall={time.perf_counter() - started:.1f}s")
    print(f"coverage_error_pp={worst:.1f}")


if __name__ == "__main__":
    main()
