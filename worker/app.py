"""The worker's Celery app: shared config, task modules, process set-up, liveness and recovery."""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

import redis
from celery.signals import worker_process_init, worker_ready, worker_shutdown, worker_shutting_down

from common.queue import PREDICT_QUEUE, TRAIN_QUEUE, TRAIN_TASK, make_celery
from common.settings import get_settings
from common.store.sync import JobStore

log = logging.getLogger(__name__)

settings = get_settings()
app = make_celery(settings)
app.conf.include = ["worker.tasks"]

_store: JobStore | None = None


def get_store() -> JobStore:
    """This process's job store (one Redis connection pool per process)."""
    global _store
    if _store is None:
        _store = JobStore.from_url(settings.redis_url)
    return _store


def send_train(job_id: str) -> None:
    """Enqueue a train task for `job_id`."""
    app.send_task(TRAIN_TASK, args=[job_id], queue=TRAIN_QUEUE)


def _configure_torch() -> None:
    # One intra-op thread per process: several processes use the cores better
    # than one process with many threads on these small recurrent layers.
    import torch

    from core.device import keep_freed_memory

    torch.set_num_threads(settings.torch_threads)
    torch.set_flush_denormal(settings.flush_denormal)
    keep_freed_memory()


def _drain(signum: int, frame: Any) -> None:
    from worker.training import DRAIN

    DRAIN.set()


def _serves_predict() -> bool:
    """Whether this worker consumes `predict` (all queues when started without --queues)."""
    consume_from = app.amqp.queues.consume_from
    return consume_from is None or PREDICT_QUEUE in consume_from


def _start_forecast_server() -> None:
    from worker.tasks import start_forecast_server

    start_forecast_server()


@worker_process_init.connect
def _on_process_init(**_: Any) -> None:
    global _store
    _store = None  # never share a connection pool across fork
    _configure_torch()
    # SIGTERM on a pool process: finish the epoch, checkpoint, hand the job back.
    signal.signal(signal.SIGTERM, _drain)
    if _serves_predict():  # prefork: the pool processes serve forecasts
        _start_forecast_server()


class _Liveness(threading.Thread):
    """Tells the job store this worker is alive, and recovers jobs whose workers died."""

    def __init__(self, name: str) -> None:
        super().__init__(name="rnncast-liveness", daemon=True)
        self.worker_name = name
        self.stopped = threading.Event()

    def run(self) -> None:
        from worker.recovery import recover_once

        store = JobStore.from_url(settings.redis_url)
        last_queued_check = 0.0
        while True:
            try:
                store.register_worker(self.worker_name)
                check_queued = time.monotonic() - last_queued_check > settings.heartbeat_timeout
                recover_once(store, settings, send_train, check_queued=check_queued)
                if check_queued:
                    last_queued_check = time.monotonic()
            except redis.RedisError as exc:  # Redis away: try again next beat
                log.warning("liveness/recovery pass failed: %s", exc)
            if self.stopped.wait(settings.heartbeat_interval):
                break
        try:
            store.unregister_worker(self.worker_name)
        except redis.RedisError as exc:
            log.warning("could not unregister worker: %s", exc)


_liveness: _Liveness | None = None


@worker_ready.connect
def _on_ready(sender: Any = None, **_: Any) -> None:
    global _liveness
    _configure_torch()
    _liveness = _Liveness(getattr(sender, "hostname", "worker"))
    _liveness.start()
    # threads/solo pools run tasks in this process: serve forecasts here.
    prefork = type(getattr(sender, "pool", None)).__module__.endswith("prefork")
    if _serves_predict() and not prefork:
        _start_forecast_server()


@worker_shutting_down.connect
def _on_shutting_down(sender: Any = None, **_: Any) -> None:
    """Warm shutdown: ask this worker's running jobs to checkpoint and go back to the queue."""
    try:
        handed = get_store().request_handoff(str(sender))
        if handed:
            log.warning("shutting down: handing back jobs %s at their next epoch", handed)
    except redis.RedisError as exc:
        log.warning("could not ask running jobs to hand back: %s", exc)


@worker_shutdown.connect
def _on_shutdown(**_: Any) -> None:
    from worker.tasks import stop_forecast_server

    stop_forecast_server()
    if _liveness is not None:
        _liveness.stopped.set()
        _liveness.join(timeout=5)
