"""One training job, start to end: claim, train with progress, checkpoint, record."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from celery.utils.log import get_task_logger

from rnncast.common.artifacts import ArtifactStore, StoreUnavailable, open_store, retrying
from rnncast.common.artifacts.layout import job_prefix
from rnncast.common.datasets import load_values
from rnncast.common.options import DatasetData, from_params
from rnncast.common.series import train_scaler
from rnncast.common.settings import Settings
from rnncast.common.store import JobStatus
from rnncast.common.store.sync import JobStore
from rnncast.core.checkpoint import (
    Checkpoint,
    CheckpointError,
    checkpoint_exists,
    load_checkpoint,
    pack_checkpoint,
)
from rnncast.core.device import resolve_device
from rnncast.core.models import Forecaster
from rnncast.core.train import EpochReport, Probe, TrainState, train
from rnncast.worker.checkpoints import CheckpointWriter
from rnncast.worker.results import run_forecast, write_model

log = get_task_logger(__name__)
RESUME_NAME = "checkpoint"


WATCH_S = 1.0  # a cancel or a lost lease stops training within this (plus one batch)


class Watch(threading.Thread):
    """Refreshes a running job's heartbeat and reads whether it was cancelled or lost, every second.

    The training loop reads only these events between batches: nothing per
    batch goes to Redis, and an epoch of any length stops within a second.
    """

    def __init__(self, store: JobStore, job_id: str, lease: str, interval: float) -> None:
        super().__init__(name=f"watch-{job_id[:8]}", daemon=True)
        self.store, self.job_id, self.lease, self.interval = store, job_id, lease, interval
        self.lost = threading.Event()
        self.cancelled = threading.Event()
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                answer = self.store.heartbeat(self.job_id, self.lease)
            except redis.RedisError as exc:  # transient: the next beat tries again
                log.warning("heartbeat for %s failed: %s", self.job_id, exc)
                continue
            if answer == 2:
                self.cancelled.set()
            if answer == 0:
                self.lost.set()
                return

    def stop(self) -> None:
        self._stop.set()


@dataclass
class _Outcome:
    cancelled: bool = False
    lost: bool = False
    handoff: bool = False


def public_error(exc: BaseException, settings: Settings) -> str:
    """A short message for the API: no stack trace, no filesystem paths."""
    if isinstance(exc, OSError) and exc.strerror:
        text = f"{type(exc).__name__}: {exc.strerror}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    folders = [settings.data_dir, *([] if "://" in settings.artifacts else [Path(settings.artifacts_url)])]
    for folder in folders:
        for path in {str(folder), str(folder.resolve())}:
            text = text.replace(path, "<data_dir>")
    return text[:500]


# Set when this process must stop taking part in training (SIGTERM): the running
# job checkpoints at its next epoch and goes back to the queue.
HAND_BACK = threading.Event()


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
    resume = retrying(lambda: _resume_point(artifacts, job_id), settings.artifact_retry_s,
                      f"job {job_id}: reading its checkpoint")
    resumed = resume.epoch if resume is not None else None
    if not store.start(job_id, lease, str(device), attempts, started_at=raw.get("started_at"), worker=worker,
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


def _resume_point(artifacts: ArtifactStore, job_id: str) -> Checkpoint | None:
    """The job's latest checkpoint from an earlier attempt (on any host), if one is usable."""
    folder = artifacts.at(job_prefix(job_id))
    if not checkpoint_exists(folder, RESUME_NAME):
        return None
    try:
        return load_checkpoint(folder, RESUME_NAME)
    except CheckpointError as exc:
        log.warning("job %s: unusable resume checkpoint, starting over: %s", job_id, exc)
        return None


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
    """Args:
        time_limit: (seconds the job may run, the monotonic time at which they are up).
    """
    model_cfg, data_cfg, train_cfg = from_params(params)
    outcome = _Outcome()
    limit, deadline = time_limit
    series, scaler, fields = None, None, {}
    if isinstance(data_cfg, DatasetData):
        # Deleting a dataset is refused while a job that uses it is queued or running.
        dataset = data_cfg
        series = retrying(lambda: load_values(artifacts, dataset.dataset_id, dataset.sha256),
                          settings.artifact_retry_s, f"job {job_id}: reading its dataset")
        scaler = train_scaler(series, train_cfg.sequence_length, data_cfg.train_fraction)
        fields = {"scaler": scaler.to_dict()}
    probe: Probe | None = None
    every = int((forecast_spec or {}).get("every") or 0)
    if forecast_spec is not None and every > 0:
        spec = forecast_spec

        def forecast_every(model: Forecaster, epoch: int) -> float | None:
            """A comparison run that tracks its forecast along the way (bench/accuracy.py reads it)."""
            if epoch % every:
                return None
            was_training = model.training
            fc = run_forecast(model.eval(), data_cfg, train_cfg, spec, series, scaler)
            model.train(was_training)
            return fc.mse

        probe = forecast_every

    def interrupt() -> bool:
        return watch.cancelled.is_set() or watch.lost.is_set() or time.monotonic() > deadline

    def on_epoch_end(report: EpochReport) -> bool:
        answer = store.record_epoch(
            job_id, lease, report.epoch, report.epochs, report.train_loss, report.test_loss, report.lr,
            report.probe if probe is not None else None, **fields,
        )
        outcome.cancelled = answer == 1
        outcome.lost = answer == -1
        outcome.handoff = answer == 2 or HAND_BACK.is_set()
        return outcome.cancelled or outcome.lost or outcome.handoff or interrupt()

    prefix = job_prefix(job_id)
    writer = CheckpointWriter(artifacts.at(prefix), job_id[:8])

    def on_checkpoint(state: TrainState) -> None:
        if outcome.lost or watch.lost.is_set():
            return
        # Packed here (a snapshot of this epoch), written by the writer's thread.
        writer.submit(pack_checkpoint(
            RESUME_NAME, model=state.model, data=data_cfg, train=train_cfg,
            epoch=state.epoch, history=state.history, optimizer=state.optimizer,
            extra={"progress": state.progress}, best=state.best,
        ))

    writer.start()
    try:
        result = train(
            model_cfg, data_cfg, train_cfg, device=device, on_epoch_end=on_epoch_end,
            on_checkpoint=on_checkpoint, resume=resume, interrupt=interrupt, series=series, probe=probe,
        )
    finally:
        lost_or_cancelled = outcome.lost or watch.lost.is_set() or outcome.cancelled or watch.cancelled.is_set()
        # What is kept (a finished run, a time limit, a hand-back) has its last checkpoint written first.
        if not writer.close(drain=not lost_or_cancelled, timeout=settings.artifact_retry_s):
            log.warning("job %s: its last checkpoint could not be written", job_id)
    if outcome.lost or watch.lost.is_set():
        return _lost(job_id)
    if outcome.cancelled or (result.stopped and watch.cancelled.is_set()):
        if not store.finish(job_id, lease, JobStatus.CANCELLED):
            return _lost(job_id)
        artifacts.delete_prefix(prefix)
        return "cancelled"
    if result.stopped and time.monotonic() > deadline:
        error = (f"the job ran past its time limit of {limit:g} s (max_seconds, or the server's "
                 f"RNNCAST_MAX_JOB_SECONDS) and was stopped after epoch {result.epochs_completed}; "
                 f"its last checkpoint is kept")
        return "timed out" if store.finish(job_id, lease, JobStatus.FAILED, error=error) else _lost(job_id)
    if outcome.handoff and result.stopped:
        # The checkpoint of the last finished epoch is written: the next
        # attempt, on any worker, resumes from it.
        return "handed back" if store.hand_back(job_id, lease) else _lost(job_id)
    if not store.heartbeat(job_id, lease):  # lost while training's last epoch ran: write nothing
        return _lost(job_id)
    try:
        model = retrying(lambda: write_model(artifacts, job_id, params, (model_cfg, data_cfg, train_cfg), result,
                                             series), settings.artifact_retry_s, f"job {job_id}: writing its model")
    except StoreUnavailable:  # still down: the job goes back to the queue and resumes from its last checkpoint
        log.warning("job %s: its model could not be written; handing it back", job_id)
        return "handed back" if store.hand_back(job_id, lease) else _lost(job_id)
    extra: dict[str, Any] = {}
    if forecast_spec is not None:
        # A comparison's run: its forecast is part of the result, computed here
        # while the model is in memory.
        fc = run_forecast(result.model, data_cfg, train_cfg, forecast_spec, series, scaler)
        # A sine's context is left out (the render recomputes it): a run's record stays small.
        drop = ("context_x", "context_y") if series is None else ()
        stored = {k: v for k, v in asdict(fc).items() if k not in drop}
        extra = {"forecast": stored, "forecast_mse": fc.mse}
    # The model record is saved with the job's end, in one lease-checked step.
    extra |= {"best_epoch": result.best_epoch, "stopped_early_at": result.stopped_early_at}
    if not store.finish(job_id, lease, JobStatus.SUCCEEDED, model=model, model_id=model["id"],
                        train_seconds=round(result.seconds, 3), parameters=model["parameters"], **extra):
        return _lost(job_id)
    artifacts.delete_prefix(prefix)
    return "succeeded"


def _lost(job_id: str) -> str:
    log.warning("job %s is no longer held by this worker; leaving it", job_id)
    return "lost"
