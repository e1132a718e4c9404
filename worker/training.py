"""One training job, start to end: claim, train with progress, checkpoint, record."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import redis
from celery.utils.log import get_task_logger

from rnncast.common.artifacts import ArtifactError, ArtifactStore, StoreUnavailable, open_store, retrying
from rnncast.common.artifacts.layout import job_prefix, model_prefix
from rnncast.common.datasets import load_values
from rnncast.common.options import AnyData, DatasetData, ModelOptions, TrainOptions, from_params
from rnncast.common.settings import Settings
from rnncast.common.store import JobStatus
from rnncast.common.store.job_ops import EpochAnswer
from rnncast.common.store.sync import JobStore
from rnncast.core.checkpoint import (
    Checkpoint,
    CheckpointError,
    checkpoint_exists,
    load_checkpoint,
    pack_checkpoint,
)
from rnncast.core.device import device_label, resolve_device
from rnncast.core.forecast import RolloutStopped, StopCheck
from rnncast.core.models import Forecaster
from rnncast.core.train import Probe, TrainResult, TrainState, train
from rnncast.core.transform import Transform, fit_transform
from rnncast.worker.attempt import WATCH_S, Attempt, Watch
from rnncast.worker.checkpoints import CheckpointWriter, pinned_digests
from rnncast.worker.results import calibrate_model, run_forecast, write_model

log = get_task_logger(__name__)
RESUME_NAME = "checkpoint"


def public_error(exc: BaseException, settings: Settings) -> str:
    """A short message for the API: no stack trace, no filesystem paths, no store endpoint, bucket or key."""
    if isinstance(exc, ArtifactError):
        return f"{type(exc).__name__}: {exc.public}"
    if isinstance(exc, OSError) and exc.strerror:
        text = f"{type(exc).__name__}: {exc.strerror}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    folders = [settings.data_dir, *([] if "://" in settings.artifacts else [Path(settings.artifacts_url)])]
    for folder in folders:
        for path in {str(folder), str(folder.resolve())}:
            text = text.replace(path, "<data_dir>")
    return text[:500]


def run_training_job(
    store: JobStore, settings: Settings, job_id: str, worker: str,
    requeue: Callable[[str], None] | None = None, artifacts: ArtifactStore | None = None,
) -> str:
    """Train job `job_id` if it is queued; return how it ended (for the log).

    Args:
        requeue: enqueues a train task for a job handed back on shutdown.
        artifacts: where checkpoints, models and datasets live (default: RNNCAST_ARTIFACTS's store).
    """
    artifacts = artifacts or open_store(settings)
    raw = store.job_raw(job_id)
    if raw is None:
        log.warning("job %s does not exist; dropping its task", job_id)
        return "missing"
    if raw["status"] != JobStatus.QUEUED:
        log.info("job %s is %s, not queued; nothing to do", job_id, raw["status"])
        return raw["status"]
    lease = uuid.uuid4().hex
    attempts = int(raw.get("attempts") or 0) + 1
    try:
        device = resolve_device(settings.device)
    except ValueError as exc:
        device_name = settings.device
        if store.start(job_id, lease, device_name, attempts, started_at=raw.get("started_at"), worker=worker):
            store.finish(job_id, lease, JobStatus.FAILED, error=str(exc))
        return "failed"
    # A store down now leaves the job queued: recovery sends its task again.
    # A job with epochs recorded but no pin checkpointed before pins existed (an upgrade mid-job).
    pinned = pinned_digests(raw) or (None if int(raw.get("epoch") or 0) > 0 else set())
    resume = retrying(lambda: _resume_point(artifacts, job_id, pinned), settings.artifact_retry_s,
                      f"job {job_id}: reading its checkpoint")
    resumed = resume.epoch if resume is not None else None
    if not store.start(job_id, lease, device_label(device), attempts, started_at=raw.get("started_at"), worker=worker,
                       resumed_from_epoch=resumed):
        log.info("job %s was claimed or cancelled before this worker got it", job_id)
        return "skipped"
    # History goes on from the checkpoint; an attempt with none starts over, and an
    # earlier attempt may have recorded epochs before it lost Redis or its worker.
    store.truncate_history(job_id, resume.epoch if resume is not None else 0)
    watch = Watch(store, job_id, lease, min(WATCH_S, settings.heartbeat_interval))
    watch.start()
    try:
        spec = json.loads(raw["forecast_spec"]) if raw.get("forecast_spec") else None
        params = json.loads(raw["params"])
        limit = min(params.get("max_seconds") or settings.max_job_seconds, settings.max_job_seconds)
        deadline = time.monotonic() + limit - _seconds_since(raw.get("started_at"))
        outcome = _train(store, settings, artifacts, job_id, lease, params, device, watch, resume, spec,
                         (limit, deadline))
        if outcome == "handed back" and requeue is not None:
            requeue(job_id)
        return outcome
    except redis.RedisError:
        # The job stays `running` with a stale heartbeat: recovery hands it on.
        log.exception("lost Redis while running job %s", job_id)
        raise
    except Exception as exc:
        log.exception("job %s failed", job_id)
        store.finish(job_id, lease, JobStatus.FAILED, error=public_error(exc, settings))
        return "failed"
    finally:
        watch.stop()


def _resume_point(artifacts: ArtifactStore, job_id: str, pinned: set[str] | None) -> Checkpoint | None:
    """The job's latest checkpoint from an earlier attempt (on any host), if one is usable and is one the job
    pinned (`pinned`: a swapped or stale checkpoint is refused; None: a job from before pinning)."""
    folder = artifacts.at(job_prefix(job_id))
    if not checkpoint_exists(folder, RESUME_NAME):
        return None
    try:
        ckpt = load_checkpoint(folder, RESUME_NAME)
    except CheckpointError as exc:
        log.warning("job %s: unusable resume checkpoint, starting over: %s", job_id, exc)
        return None
    if pinned is None:  # a job that checkpointed before digests were pinned resumes as it did then
        return ckpt
    if ckpt.info is None or ckpt.info.sha256 not in pinned:
        log.warning("job %s: its resume checkpoint is not one it wrote (swapped or stale), starting over", job_id)
        return None
    return ckpt


def _seconds_since(started_at: str | None) -> float:
    """Seconds since an earlier attempt first started the job (0 for the first attempt)."""
    if not started_at:
        return 0.0
    started = datetime.fromisoformat(started_at.replace("Z", "+00:00"))
    return max(0.0, (datetime.now(UTC) - started).total_seconds())


def _train(
    store: JobStore, settings: Settings, artifacts: ArtifactStore, job_id: str, lease: str, params: dict[str, Any],
    device: Any, watch: Watch, resume: Checkpoint | None, forecast_spec: dict[str, Any] | None,
    time_limit: tuple[float, float],
) -> str:
    """Train a claimed job, with progress, checkpoints and stops; end it in the store; how it ended.

    Args:
        time_limit: (seconds the job may run, the monotonic time at which they are up).
    """
    configs = from_params(params)
    model_cfg, data_cfg, train_cfg = configs
    series, transform = _load_series(artifacts, settings, job_id, configs)
    attempt = Attempt(store, job_id, lease, watch, time_limit[1], time_limit[0])
    probe = _forecast_probe(forecast_spec, data_cfg, train_cfg, series, transform, attempt.interrupt)
    fields = {"scaler": transform.scaler.to_dict()} if transform.scaler is not None else {}
    writer = CheckpointWriter(artifacts.at(job_prefix(job_id)), job_id[:8],
                              pin=lambda field, digest: bool(store.heartbeat(job_id, lease, **{field: digest})))

    def on_checkpoint(state: TrainState) -> None:
        if attempt.lost:
            return
        # Packed here (a snapshot of this epoch), written by the writer's thread.
        writer.submit(pack_checkpoint(
            RESUME_NAME, model=state.model, data=data_cfg, train=train_cfg, epoch=state.epoch,
            history=state.history, optimizer=state.optimizer, extra={"progress": state.progress}, best=state.best,
        ))

    writer.start()
    cpu_began = time.process_time()  # this process's CPU (its threads': the checkpoint writer's too)
    try:
        result = train(
            model_cfg, data_cfg, train_cfg, device=device, on_epoch_end=lambda r: attempt.on_epoch_end(r, fields),
            on_checkpoint=on_checkpoint, resume=resume, interrupt=attempt.interrupt, series=series, probe=probe,
            transform=transform,
        )
    finally:
        dropped = attempt.lost or attempt.answer == EpochAnswer.CANCEL or watch.cancelled.is_set()
        # What is kept (a finished run, a time limit, a hand-back) has its last checkpoint written first.
        if not writer.close(drain=not dropped, timeout=settings.artifact_retry_s):
            log.warning("job %s: its last checkpoint could not be written", job_id)
    if (ended := _stopped(attempt, artifacts, result, time_limit[0])) is not None:
        return ended
    if not store.heartbeat(job_id, lease):  # lost while training's last epoch ran: write nothing
        return _lost(job_id)
    cpu = time.process_time() - cpu_began
    return _succeed(attempt, artifacts, settings, params, configs, result, forecast_spec, series, cpu)


def _load_series(
    artifacts: ArtifactStore, settings: Settings, job_id: str, configs: tuple[ModelOptions, AnyData, TrainOptions],
) -> tuple[np.ndarray | None, Transform]:
    """A dataset job's values and their transform, fitted on the train part (once: training and the forecasts
    use it); the sine's is the identity."""
    model_cfg, data_cfg, train_cfg = configs
    if not isinstance(data_cfg, DatasetData):
        return None, fit_transform(data_cfg, train_cfg, None, model_cfg.output_steps)
    # Deleting a dataset is refused while a job that uses it is queued or running.
    series = retrying(lambda: load_values(artifacts, data_cfg.dataset_id, data_cfg.sha256),
                      settings.artifact_retry_s, f"job {job_id}: reading its dataset")
    series = series[: data_cfg.length]  # a search's candidate uses only the first part of the train part
    return series, fit_transform(data_cfg, train_cfg, series, model_cfg.output_steps)


def _forecast_probe(
    forecast_spec: dict[str, Any] | None, data_cfg: AnyData, train_cfg: TrainOptions, series: np.ndarray | None,
    transform: Transform, should_stop: StopCheck,
) -> Probe | None:
    """For a comparison run that tracks its forecast along the way (bench/accuracy.py reads it): its MSE
    every `every` epochs; none for an epoch whose probe `should_stop` cut short (training then stops too)."""
    every = int((forecast_spec or {}).get("every") or 0)
    if forecast_spec is None or every <= 0:
        return None
    spec = forecast_spec

    def forecast_every(model: Forecaster, epoch: int) -> float | None:
        if epoch % every:
            return None
        was_training = model.training
        try:
            return run_forecast(model.eval(), data_cfg, train_cfg, spec, series, transform, should_stop).mse
        except RolloutStopped:
            return None
        finally:
            model.train(was_training)

    return forecast_every


def _stopped(attempt: Attempt, artifacts: ArtifactStore, result: TrainResult, limit: float) -> str | None:
    """How a run that did not finish ended (lost, cancelled, timed out, handed back); None if it finished."""
    store, job_id, lease = attempt.store, attempt.job_id, attempt.lease
    if attempt.lost:
        return _lost(job_id)
    if attempt.answer == EpochAnswer.CANCEL or (result.stopped and attempt.watch.cancelled.is_set()):
        if not store.finish(job_id, lease, JobStatus.CANCELLED):
            return _lost(job_id)
        artifacts.delete_prefix(job_prefix(job_id))
        return "cancelled"
    if result.stopped and time.monotonic() > attempt.deadline:
        error = (f"the job ran past its time limit of {limit:g} s (max_seconds, or the server's "
                 f"RNNCAST_MAX_JOB_SECONDS) and was stopped after epoch {result.epochs_completed}; "
                 f"its last checkpoint is kept")
        return "timed out" if store.finish(job_id, lease, JobStatus.FAILED, error=error) else _lost(job_id)
    if attempt.handoff and result.stopped:
        # The checkpoint of the last finished epoch is written: the next
        # attempt, on any worker, resumes from it.
        return "handed back" if store.hand_back(job_id, lease) else _lost(job_id)
    return None


def _succeed(
    attempt: Attempt, artifacts: ArtifactStore, settings: Settings, params: dict[str, Any],
    configs: tuple[ModelOptions, AnyData, TrainOptions], result: TrainResult, forecast_spec: dict[str, Any] | None,
    series: np.ndarray | None, cpu_seconds: float,
) -> str:
    """Write the model, and end the job succeeded with its record (and a comparison run's forecast, and
    `cpu_seconds`: this attempt's training CPU, as `train_seconds` is its wall time)."""
    job_id, (_, data_cfg, train_cfg) = attempt.job_id, configs
    try:  # computed once, before the writes that may be retried
        calibration = calibrate_model(result.model, configs, series, result.transform, settings.max_forecast_work,
                                      attempt.interrupt)
    except RolloutStopped:
        return _stopped(attempt, artifacts, replace(result, stopped=True), attempt.limit) or _lost(job_id)
    try:
        model = retrying(lambda: write_model(artifacts, job_id, params, configs, result, series, calibration),
                         settings.artifact_retry_s, f"job {job_id}: writing its model")
    except StoreUnavailable:  # still down: the job goes back to the queue and resumes from its last checkpoint
        log.warning("job %s: its model could not be written; handing it back", job_id)
        return "handed back" if attempt.store.hand_back(job_id, attempt.lease) else _lost(job_id)
    extra: dict[str, Any] = {}
    if forecast_spec is not None:
        # A comparison's run: its forecast is part of the result, computed here
        # while the model is in memory.
        try:
            fc = run_forecast(result.model, data_cfg, train_cfg, forecast_spec, series, result.transform,
                              attempt.interrupt)
        except RolloutStopped:  # cancelled, lost or out of time: it ends as a run stopped in training does
            if not attempt.lost:  # no record will name the model's files (a new holder writes its own)
                artifacts.delete_prefix(model_prefix(job_id))
            return _stopped(attempt, artifacts, replace(result, stopped=True), attempt.limit) or _lost(job_id)
        # A sine's context is left out (the render recomputes it): a run's record stays small.
        drop = ("context_x", "context_y") if series is None else ()
        stored = {k: v for k, v in asdict(fc).items() if k not in drop}
        extra = {"forecast": stored, "forecast_mse": fc.mse}
    # The model record is saved with the job's end, in one lease-checked step.
    extra |= {"best_epoch": result.best_epoch, "stopped_early_at": result.stopped_early_at}
    if not attempt.store.finish(job_id, attempt.lease, JobStatus.SUCCEEDED, model=model, model_id=model["id"],
                                train_seconds=round(result.seconds, 3),
                                cpu_seconds=round(cpu_seconds, 3), parameters=model["parameters"], **extra):
        return _lost(job_id)
    artifacts.delete_prefix(job_prefix(job_id))
    return "succeeded"


def _lost(job_id: str) -> str:
    log.warning("job %s is no longer held by this worker; leaving it", job_id)
    return "lost"
