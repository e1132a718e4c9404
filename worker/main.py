"""`rnncast worker`: a Celery worker on the named queues."""

from __future__ import annotations

import logging
import os

import redis

from rnncast.common.queue import QUEUES
from rnncast.common.settings import Settings, get_settings
from rnncast.common.store.sync import JobStore

log = logging.getLogger("rnncast.worker")


def check_store_agrees(settings: Settings) -> str | None:
    """A one-line warning when the API processes on this Redis said they use another artifact store than this
    worker (a job would be accepted there and find no files here); None when they agree or none said."""
    try:
        theirs = JobStore.from_url(settings.redis_url).api_artifacts()
    except redis.RedisError:
        return None
    ours = settings.artifacts_url
    if theirs is None or theirs == ours:
        return None
    return (f"this worker's artifact store ({ours}) is not the one the API said it uses ({theirs}): set "
            "RNNCAST_ARTIFACTS (or RNNCAST_DATA_DIR) alike for both, or jobs will not find their files")


def run_worker(queues: str, concurrency: int, pool: str = "prefork", loglevel: str = "INFO") -> None:
    """Consume `queues` (comma-separated) with `concurrency` processes; blocks until stopped."""
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(wanted) - set(QUEUES))
    if not wanted or unknown:
        raise ValueError(f"queues ({queues!r}) must be a comma-separated subset of {list(QUEUES)}")
    if concurrency < 1:
        raise ValueError(f"concurrency ({concurrency}) must be >= 1")
    from rnncast.worker.devices import check_device  # torch: loaded by the worker, never by the client commands

    settings = get_settings()
    check_device(settings.device)  # no such device here: one line, and no worker
    warning = check_store_agrees(settings)
    if warning:
        log.warning("%s", warning)
    from rnncast.worker.app import app

    app.worker_main([
        "worker", f"--queues={','.join(wanted)}", f"--concurrency={concurrency}", f"--pool={pool}",
        f"--loglevel={loglevel}", f"--hostname=rnncast-{os.getpid()}@%h",
        "--without-gossip", "--without-mingle",
    ])
