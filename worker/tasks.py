"""The Celery task: a thin view that parses the job id, runs the job, records its outcome."""

from __future__ import annotations

from typing import Any

from celery.utils.log import get_task_logger

from rnncast.common.queue import TRAIN_TASK
from rnncast.common.values import is_id
from rnncast.worker.search import conclude
from rnncast.worker.state import app, artifacts, job_store, send_train, settings
from rnncast.worker.training import run_training_job

log = get_task_logger(__name__)


@app.task(name=TRAIN_TASK, bind=True)
def train_job(self: Any, job_id: str) -> str:
    """Train the queued job `job_id` and record its outcome in the job store."""
    if not isinstance(job_id, str) or not is_id(job_id):
        log.error("train task with a malformed job id %r dropped", job_id)
        return "invalid"
    raw = job_store().job_raw(job_id)
    if raw is not None and raw.get("awaiting"):  # a search's refit: its task is sent once the search has chosen
        log.info("job %s awaits its search's choice; task dropped", job_id)
        return "awaiting"
    outcome = run_training_job(job_store(), settings, job_id, worker=self.request.hostname or "worker",
                               requeue=send_train, artifacts=artifacts())
    if outcome in ("succeeded", "failed", "cancelled", "timed out"):
        conclude(job_store(), settings, artifacts(), job_id, send_train)  # a search's candidate: score, refit
    log.info("job %s: %s", job_id, outcome)
    return outcome
