"""What a finished training job leaves: its model's files and record, and a comparison run's forecast."""

from __future__ import annotations

from typing import Any

import numpy as np

from rnncast.common.artifacts import ArtifactStore
from rnncast.common.artifacts.layout import model_prefix
from rnncast.common.defaults import CALIBRATION_STEPS
from rnncast.common.options import AnyData, DatasetData, ModelOptions, TrainOptions
from rnncast.common.rollout_work import rows_within
from rnncast.common.values import finite, now_iso
from rnncast.core.backtest import BacktestSetup
from rnncast.core.checkpoint import save_checkpoint
from rnncast.core.conformal import Calibration, calibrate
from rnncast.core.data import series as sine_series
from rnncast.core.forecast import (
    Forecast,
    StopCheck,
    forecast_from_starts,
    origin_window,
    rollout_numpy,
    series_forecast,
)
from rnncast.core.models import Forecaster, parameter_count
from rnncast.core.train import TrainResult
from rnncast.core.transform import Transform, first_test
from rnncast.worker.guard import training_verdict

MODEL_NAME = "model"


def run_forecast(
    model: Forecaster, data_cfg: AnyData, train_cfg: TrainOptions, spec: dict[str, Any],
    series: Any | None, transform: Transform, should_stop: StopCheck | None = None,
) -> Forecast:
    """A comparison run's forecast: from `start` on the sine, or from `origin` (default: the test
    part's first position) on a dataset.

    Args:
        should_stop: asked as the rollout goes (RolloutStopped when it says so): the job's cancel, lost
            lease or time limit stops its forecast as it stops its training.
    """
    horizon, seq = int(spec["horizon"]), train_cfg.sequence_length
    if not isinstance(data_cfg, DatasetData):
        return forecast_from_starts(model, data_cfg, seq, [float(spec["start"])], horizon, should_stop)[0]
    assert series is not None  # a dataset run loads it before training
    origin = spec.get("origin")
    origin = int(origin) if origin is not None else first_test(
        data_cfg, train_cfg, data_cfg.length, model.config.output_steps, transform)
    origin = min(origin, data_cfg.length)
    observed = origin_window(series, transform.context(seq), origin)
    window = transform.forward(observed)
    features = transform.rollout_features(np.array([origin]), seq, horizon)
    preds = transform.inverse(rollout_numpy(model, window[None, :], horizon, should_stop, features)[0], observed)
    return series_forecast(series, data_cfg.step, seq, origin, preds)


def series_setup(data_cfg: AnyData, train_cfg: TrainOptions, series: Any | None, transform: Transform,
                 output_steps: int) -> BacktestSetup:
    """The series a model was trained on and where its test part starts (a sine model's: its training signal),
    read through the model's transform."""
    if isinstance(data_cfg, DatasetData):
        assert series is not None
        values = series
    else:
        values = sine_series(data_cfg, train_cfg.seed)
    first = first_test(data_cfg, train_cfg, values.shape[0], output_steps, transform)
    return BacktestSetup(values, first, train_cfg.sequence_length, transform)


def calibrate_model(model: Forecaster, configs: tuple[ModelOptions, AnyData, TrainOptions], series: Any | None,
                    transform: Transform, max_work: float, should_stop: StopCheck | None = None,
                    ) -> Calibration | None:
    """A trained model's conformal calibration (core.conformal), its rollouts within `max_work` each."""
    model_cfg, data_cfg, train_cfg = configs
    rows = rows_within(max_work, train_cfg.sequence_length, CALIBRATION_STEPS, model_cfg.hidden_size,
                       model_cfg.num_layers, model_cfg.cell, model_cfg.output_steps)
    return calibrate(model, series_setup(data_cfg, train_cfg, series, transform, model_cfg.output_steps), rows,
                     should_stop)


def write_model(
    artifacts: ArtifactStore, job_id: str, params: dict[str, Any],
    configs: tuple[ModelOptions, AnyData, TrainOptions], result: TrainResult, series: Any | None = None,
    calibration: Calibration | None = None,
) -> dict[str, Any]:
    """Write the trained model's checkpoint files; its record (saved by the caller with the job's end).

    A dataset model keeps its own copy of the series and its scaler: it forecasts
    and backtests after the dataset is deleted. Its calibration (when it has one)
    goes into the manifest; the record says its size.
    """
    model_cfg, data_cfg, train_cfg = configs
    metrics: dict[str, Any] = {"train_loss": finite(result.final_train_loss),
                               "test_loss": finite(result.final_test_loss)}
    if result.scaler is not None:
        var = result.scaler.std**2
        metrics |= {f"{k}_normalized": finite(v / var) if v is not None else None for k, v in list(metrics.items())}
    info = save_checkpoint(
        artifacts.at(model_prefix(job_id)), MODEL_NAME, model=result.model, data=data_cfg,
        train=train_cfg, epoch=result.epochs_completed, history=result.history,
        extra={"job_id": job_id, "metrics": metrics,
               **({"calibration": calibration.to_dict()} if calibration is not None else {})},
        series=series, transform=result.transform,
    )
    record = {
        "id": job_id,
        "job_id": job_id,
        "cell": model_cfg.cell,
        "params": params,
        "metrics": metrics,
        "epochs_trained": result.epochs_completed,
        "best_epoch": result.best_epoch,
        "parameters": parameter_count(result.model),
        "device": result.device,
        "created_at": now_iso(),
        "checkpoint": {"format": "safetensors", "sha256": info.sha256, "bytes": info.bytes},
        "calibration": calibration.summary() if calibration is not None else None,
    }
    if result.scaler is not None:
        record["scaler"] = result.scaler.to_dict()
    # Every dataset model is backtested once: its record says whether it beats the baselines.
    verdict = training_verdict(result.model, data_cfg, train_cfg, series, result.transform)
    if verdict is not None:
        record["backtest"] = verdict
    return record
