"""Celery tasks: thin views that parse ids, call core through the runners, record outcomes."""

from __future__ import annotations

import base64
from typing import Any

from celery.utils.log import get_task_logger

from common.queue import FORECAST_PNG_TASK, RENDER_TASK, TRAIN_TASK
from common.store import is_id
from worker.predict import handle_png
from worker.render import render_comparison
from worker.state import app, job_store, model_cache, send_train, settings
from worker.training import run_training_job

log = get_task_logger(__name__)


@app.task(name=TRAIN_TASK, bind=True)
def train_job(self: Any, job_id: str) -> str:
    """Train the queued job `job_id` and record its outcome in the job store."""
    if not isinstance(job_id, str) or not is_id(job_id):
        log.error("train task with a malformed job id %r dropped", job_id)
        return "invalid"
    outcome = run_training_job(job_store(), settings, job_id, worker=self.request.hostname or "worker",
                               requeue=send_train)
    log.info("job %s: %s", job_id, outcome)
    return outcome


# A figure nobody waits for any more is worthless: acknowledge on receipt,
# never redeliver. (JSON forecasts go over the forecast lane, see worker.lane.)
@app.task(name=FORECAST_PNG_TASK, acks_late=False)
def forecast_png(request: dict[str, Any]) -> None:
    """Draw one forecast figure and answer on the request's reply key."""
    if not (isinstance(request, dict) and is_id(str(request.get("request_id")))
            and is_id(str(request.get("model_id")))):
        log.error("malformed predict request dropped: %r", request)
        return
    try:
        reply = handle_png(model_cache(), job_store(), settings.data_dir, request)
    except Exception:  # the API is waiting: answer rather than let it time out
        log.exception("forecast for model %s failed", request["model_id"])
        reply = {"ok": False, "status": 503, "detail": "the forecast failed on the worker; see its log"}
    job_store().push_reply(request["request_id"], reply)


@app.task(name=RENDER_TASK, acks_late=False)
def render(request: dict[str, Any]) -> None:
    """Draw a comparison's loss or predictions figure and answer on the reply key."""
    if not (isinstance(request, dict) and is_id(str(request.get("request_id")))
            and is_id(str(request.get("comparison_id"))) and request.get("kind") in ("loss", "predictions")):
        log.error("malformed render request dropped: %r", request)
        return
    try:
        png = render_comparison(job_store(), request["comparison_id"], request["kind"])
        reply = ({"ok": True, "result": {"png": base64.b64encode(png).decode()}} if png is not None
                 else {"ok": False, "status": 404, "detail": "comparison not found"})
    except Exception:  # the API is waiting: answer rather than let it time out
        log.exception("rendering %s for comparison %s failed", request["kind"], request["comparison_id"])
        reply = {"ok": False, "status": 503, "detail": "rendering failed on the worker; see its log"}
    job_store().push_reply(request["request_id"], reply)
