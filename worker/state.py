"""This worker process's shared state: settings, the Celery app, the job store, the artifact store,
the model cache and the forecast and figure servers, each created once per process (after fork,
never shared across it)."""

from __future__ import annotations

import threading
import time

from celery.utils.log import get_task_logger

from rnncast.common import collector
from rnncast.common.artifacts import ArtifactStore, CachedStore, LocalStore, open_store
from rnncast.common.queue import TRAIN_QUEUE, TRAIN_TASK, make_celery
from rnncast.common.settings import get_settings
from rnncast.common.store.sync import JobStore
from rnncast.core import kernel
from rnncast.worker.figures import FigureServer
from rnncast.worker.lane import ForecastServer, LaneServer
from rnncast.worker.predict import ModelCache
from rnncast.worker.supervisor import Supervisor

log = get_task_logger(__name__)
settings = get_settings()
app = make_celery(settings)

_lock = threading.Lock()
_store: JobStore | None = None
_cache: ModelCache | None = None
_artifacts: ArtifactStore | None = None
_supervisor: Supervisor | None = None


def job_store() -> JobStore:
    """This process's job store (one Redis connection pool per process)."""
    global _store
    with _lock:
        if _store is None:
            _store = JobStore.from_url(settings.redis_url)
        return _store


def artifacts() -> ArtifactStore:
    """This process's artifact store (RNNCAST_ARTIFACTS)."""
    global _artifacts
    with _lock:
        if _artifacts is None:
            _artifacts = open_store(settings)
        return _artifacts


def model_cache() -> ModelCache:
    """This process's cache of loaded models. From a remote store, the model files it loads are also kept
    in a bounded local copy by sha256 (RNNCAST_MODEL_DISK_CACHE_BYTES, under RNNCAST_DATA_DIR/cache)."""
    global _cache
    store = artifacts()
    with _lock:
        if _cache is None:
            if not isinstance(store, LocalStore) and settings.model_disk_cache_bytes > 0:
                store = CachedStore(store, settings.cache_dir / "models", settings.model_disk_cache_bytes)
            _cache = ModelCache(settings.model_cache_size, store)
        return _cache


def after_fork() -> None:
    """Forget what the parent process created: a connection pool must not be shared across fork."""
    global _store, _artifacts
    _store = _artifacts = None


def send_train(job_id: str) -> None:
    """Enqueue a train task for `job_id`."""
    app.send_task(TRAIN_TASK, args=[job_id], queue=TRAIN_QUEUE)


def start_serving() -> None:
    """Serve the forecast and figure lanes from this process, apart from the pool that trains:
    RNNCAST_FORECAST_THREADS forecast threads (each pops its own batches; a rollout releases
    the GIL, so they compute on as many cores) and one figure thread."""
    global _supervisor
    cache = model_cache()
    with _lock:
        if _supervisor is None:
            began = time.monotonic()
            kernel.warm()  # the rollout kernel compiled before the first forecast waits on it
            log.info("rollout kernel %s (%.1f s)", "ready" if kernel.available() else "unavailable: torch's path",
                     time.monotonic() - began)
            servers: list[LaneServer] = [ForecastServer(settings, cache, name=f"rnncast-forecasts-{i}")
                                         for i in range(settings.forecast_threads)]
            # The supervisor starts them, restarts one that dies, and reports each to /readyz.
            _supervisor = Supervisor(settings, [*servers, FigureServer(settings, cache)])
            collector.settle()  # start-up is done: the collector set for a server (common.collector)
            _supervisor.start()
            log.info("serving forecasts (%d thread(s), max batch %d) and figures", settings.forecast_threads,
                     settings.max_batch)


def stop_serving() -> None:
    with _lock:
        if _supervisor is not None:
            _supervisor.stop()
