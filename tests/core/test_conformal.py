"""Split-conformal intervals: the finite-sample quantile, the calibration of a trained model, and its coverage on
fresh data from the same noisy signal."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from rnncast.common.options import ModelOptions, SineData, TrainOptions
from rnncast.common.series import split_point
from rnncast.core.backtest import BacktestSetup, actuals, backtest_origins, model_forecasts
from rnncast.core.conformal import (
    Calibration,
    NoCalibration,
    calibrate,
    conformal_rank,
    conformal_rank_floor,
    coverage,
    pooled,
)
from rnncast.core.data import series
from rnncast.core.train import train
from rnncast.core.transform import Transform


@pytest.mark.parametrize(("n", "level", "rank"), [(9, 0.8, 8), (10, 0.8, 9), (19, 0.95, 19), (99, 0.9, 90),
                                                  (1000, 0.5, 501)])
def test_conformal_rank_is_the_finite_sample_corrected_one(n, level, rank):
    assert conformal_rank(n, level) == rank


@pytest.mark.parametrize(("level", "fewest"), [(0.5, 1), (0.8, 4), (0.9, 9), (0.95, 19), (0.99, 99), (0.75, 3)])
def test_the_fewest_samples_a_level_needs(level, fewest):
    assert conformal_rank(fewest, level) == fewest and conformal_rank_floor(level) == fewest
    with pytest.raises(NoCalibration):
        conformal_rank(fewest - 1, level) if fewest > 1 else conformal_rank(0, level)


def test_a_level_beyond_what_the_samples_allow_is_refused_with_the_count_needed():
    with pytest.raises(NoCalibration, match=r"level 0.95 needs at least 19 calibration origins; this model has 18"):
        conformal_rank(18, 0.95)
    with pytest.raises(ValueError, match=r"level \(1.5\) must be in \(0, 1\)"):
        conformal_rank(100, 1.5)


@pytest.mark.parametrize(("n", "level"), [(9, 0.8), (12, 0.9), (40, 0.95)])
def test_the_corrected_quantile_covers_a_new_exchangeable_score_at_least_at_the_level(n, level):
    # For n + 1 exchangeable scores, P(new <= k-th smallest of n) = k / (n + 1) >= level exactly; the plain
    # empirical quantile (np.quantile at the level) falls short for small n.
    rng = np.random.default_rng(0)
    trials = 20_000
    scores = np.abs(rng.normal(size=(trials, n + 1)))
    calibration, new = np.sort(scores[:, :n], axis=1), scores[:, n]
    k = conformal_rank(n, level)
    covered = float(np.mean(new <= calibration[:, k - 1]))
    assert covered == pytest.approx(k / (n + 1), abs=0.01) and k / (n + 1) >= level
    plain = float(np.mean(new <= np.quantile(scores[:, :n], level, axis=1)))
    assert plain < level - 0.01


def test_half_widths_per_step_then_sqrt_growth_past_the_calibrated_steps():
    cal = Calibration(0, 10, ((1.0, 2.0, 3.0, 4.0), (2.0, 4.0, 6.0, 8.0)))
    assert cal.origins == 4 and cal.steps == 2
    np.testing.assert_allclose(cal.half_widths(0.6, 2), [3.0, 6.0])  # rank ceil(5 * 0.6) = 3
    np.testing.assert_allclose(cal.half_widths(0.6, 4), [3.0, 6.0, 6.0 * np.sqrt(1.5), 6.0 * np.sqrt(2)])
    assert Calibration.from_dict(cal.to_dict()) == cal
    both = pooled([cal, Calibration(0, 12, ((0.5,) * 4,))])
    assert both.steps == 1 and both.origins == 8 and both.end == 12


def test_a_trained_model_s_intervals_cover_fresh_noisy_data_at_their_levels():
    noise = 0.2
    data = SineData(points=4000, stop=2000, noise_std=noise)
    cfg = TrainOptions(epochs=8, batch_size=128, sequence_length=20, lr=0.01, seed=0)
    model = train(ModelOptions(cell="GRU", hidden_size=8), data, cfg).model.eval()
    values = series(data, cfg.seed)  # the training signal: its test part's first half calibrates
    setup = BacktestSetup(values, split_point(values.shape[0], 20, data.train_fraction), 20, Transform())
    cal = calibrate(model, setup, rows_per_batch=512)
    assert cal is not None and cal.origins == 200 and cal.steps == 24
    # The residuals hold at least the noise: no quantile below the noise's own.
    assert cal.half_widths(0.8, 1)[0] >= 0.9 * 1.2816 * noise
    # Fresh data: the same signal with other noise; origins over all of it, none in the calibration.
    fresh = series(data, 99)
    fresh_setup = BacktestSetup(fresh, 20, 20, Transform())
    horizon = 30  # past the calibrated 24 steps too
    origins = backtest_origins(fresh.shape[0], 20, horizon, 1000)
    preds = model_forecasts(model, fresh_setup, origins, horizon, 512)
    truth = actuals(fresh, origins, horizon)
    shares = coverage(replace(cal, end=0), [0.8, 0.95], origins, truth, preds)  # fresh: every origin counts
    assert shares["coverage_origins"] == len(origins) >= 900
    assert shares["coverage"]["0.8"] == pytest.approx(0.8, abs=0.04)
    assert shares["coverage"]["0.95"] == pytest.approx(0.95, abs=0.03)
    # Coverage is counted only past the calibration part: origins before its end are left out.
    inside = coverage(cal, [0.8], np.array([cal.end - 1, cal.end]), truth[:2], preds[:2])
    assert inside["coverage_origins"] == 1
