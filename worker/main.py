"""`rnncast worker`: a Celery worker on the named queues."""

from __future__ import annotations

import os

from rnncast.common.queue import QUEUES


def run_worker(queues: str, concurrency: int, pool: str = "prefork", loglevel: str = "INFO") -> None:
    """Consume `queues` (comma-separated) with `concurrency` processes; blocks until stopped."""
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(wanted) - set(QUEUES))
    if not wanted or unknown:
        raise ValueError(f"queues ({queues!r}) must be a comma-separated subset of {list(QUEUES)}")
    if concurrency < 1:
        raise ValueError(f"concurrency ({concurrency}) must be >= 1")
    from rnncast.worker.app import app  # torch: loaded by the worker, never by the CLI's client commands

    app.worker_main([
        "worker", f"--queues={','.join(wanted)}", f"--concurrency={concurrency}", f"--pool={pool}",
        f"--loglevel={loglevel}", f"--hostname=rnncast-{os.getpid()}@%h",
        "--without-gossip", "--without-mingle",
    ])
