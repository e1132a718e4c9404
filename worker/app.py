"""The worker's Celery app: shared config, task modules, process set-up."""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis
from celery.signals import worker_process_init, worker_ready, worker_shutdown

from common.queue import make_celery
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


def _limit_threads() -> None:
    # One intra-op thread per process: several processes use the cores better
    # than one process with many threads on these small recurrent layers.
    import torch

    torch.set_num_threads(settings.torch_threads)


@worker_process_init.connect
def _on_process_init(**_: Any) -> None:
    global _store
    _store = None  # never share a connection pool across fork
    _limit_threads()


class _Liveness(threading.Thread):
    """Tells the job store this worker is alive, for /readyz and recovery."""

    def __init__(self, name: str) -> None:
        super().__init__(name="rnncast-liveness", daemon=True)
        self.worker_name = name
        self.stopped = threading.Event()

    def run(self) -> None:
        store = JobStore.from_url(settings.redis_url)
        while True:
            try:
                store.register_worker(self.worker_name)
            except redis.RedisError as exc:  # Redis away: try again next beat
                log.warning("could not register worker liveness: %s", exc)
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
    _limit_threads()
    _liveness = _Liveness(getattr(sender, "hostname", "worker"))
    _liveness.start()


@worker_shutdown.connect
def _on_shutdown(**_: Any) -> None:
    if _liveness is not None:
        _liveness.stopped.set()
        _liveness.join(timeout=5)
