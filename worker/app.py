"""The worker process's life: torch set-up, SIGTERM hand-back, liveness, forecast and figure serving, webhook
delivery, shutdown.

The Celery app itself and the per-process state live in `worker.state`;
this module wires them to Celery's worker signals (`celery -A rnncast.worker.app`).
"""

from __future__ import annotations

import functools
import logging
import os
import signal
from typing import Any

import redis
import torch
from celery.signals import worker_init, worker_process_init, worker_ready, worker_shutdown, worker_shutting_down

from rnncast.common.queue import PREDICT_QUEUE
from rnncast.core import compiled
from rnncast.core.device import keep_freed_memory
from rnncast.worker import state
from rnncast.worker.attempt import HAND_BACK
from rnncast.worker.devices import check_device, describe
from rnncast.worker.recovery import Liveness
from rnncast.worker.state import app, settings
from rnncast.worker.webhooks import WebhookSender

__all__ = ["app"]

log = logging.getLogger(__name__)
app.conf.include = ["rnncast.worker.tasks"]
_liveness: Liveness | None = None
_sender: WebhookSender | None = None
_warmed_s: float | None = None


def _configure_torch() -> None:
    # One intra-op thread per process: several processes use the cores better
    # than one process with many threads on these small recurrent layers.
    torch.set_num_threads(settings.torch_threads)
    torch.set_flush_denormal(settings.flush_denormal)
    keep_freed_memory()


def _hand_back(signum: int, frame: Any) -> None:
    HAND_BACK.set()


def _serves_predict() -> bool:
    """Whether this worker consumes `predict` (all queues when started without --queues)."""
    consume_from = app.amqp.queues.consume_from
    return consume_from is None or PREDICT_QUEUE in consume_from


def _info() -> dict[str, Any]:
    """What this worker says of itself at each heartbeat: /readyz, /metrics and `rnncast doctor` show it."""
    consume_from = app.amqp.queues.consume_from
    queues = sorted(consume_from) if consume_from is not None else sorted(app.amqp.queues)
    return {"queues": queues, "pid": os.getpid(), "artifacts": settings.artifacts_url,
            **describe(_device())}


@functools.cache
def _device() -> str:
    try:
        return check_device(settings.device)
    except ValueError:  # started without `rnncast worker`'s check: its jobs fail saying why
        return settings.device


@worker_init.connect
def _on_init(**_: Any) -> None:
    """Before the pool forks: the compiled code made ready once here, so no pool process (they are replaced
    between jobs) compiles it or reads it back in a job's or a forecast's time. (Logged once logging is set up.)"""
    global _warmed_s
    _warmed_s = compiled.warm()


@worker_process_init.connect
def _on_process_init(**_: Any) -> None:
    state.after_fork()
    _configure_torch()
    # SIGTERM on a pool process: finish the epoch, checkpoint, hand the job back.
    signal.signal(signal.SIGTERM, _hand_back)
    if _serves_predict():  # prefork: the pool processes serve forecasts
        state.start_serving()


@worker_ready.connect
def _on_ready(sender: Any = None, **_: Any) -> None:
    global _liveness, _sender
    _configure_torch()
    if _warmed_s is not None:
        log.info("compiled code ready before the pool started (%.1f s)", _warmed_s)
    _liveness = Liveness(getattr(sender, "hostname", "worker"), settings, state.send_train, _info)
    _liveness.start()
    _sender = WebhookSender(settings)  # the outbox's deliveries (worker.webhooks says why here)
    _sender.start()
    # threads/solo pools run tasks in this process: serve forecasts here.
    prefork = type(getattr(sender, "pool", None)).__module__.endswith("prefork")
    if _serves_predict() and not prefork:
        state.start_serving()


@worker_shutting_down.connect
def _on_shutting_down(sender: Any = None, **_: Any) -> None:
    """Warm shutdown: ask this worker's running jobs to checkpoint and go back to the queue."""
    try:
        handed = state.job_store().request_handoff(str(sender))
        if handed:
            log.warning("shutting down: handing back jobs %s at their next epoch", handed)
    except redis.RedisError as exc:
        log.warning("could not ask running jobs to hand back: %s", exc)


@worker_shutdown.connect
def _on_shutdown(**_: Any) -> None:
    state.stop_serving()
    if _liveness is not None:
        _liveness.stop()
    if _sender is not None:
        _sender.stop()
