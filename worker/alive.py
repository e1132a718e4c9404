"""`rnncast worker-alive`: a container healthcheck that reads the worker's heartbeat in Redis.

Cheap on purpose (no torch, no Celery app, no broadcast to the workers): the worker's liveness thread
records its node name every RNNCAST_HEARTBEAT_INTERVAL seconds, which is what `/readyz` counts too.
"""

from __future__ import annotations

import socket

import redis

from rnncast.common.settings import get_settings
from rnncast.common.store.sync import JobStore


def container_worker() -> str:
    """The node name of the `rnncast worker` that is PID 1 on this host (a container's entrypoint)."""
    return f"rnncast-1@{socket.gethostname()}"


def worker_alive(name: str) -> str | None:
    """Why the worker `name` is not alive (None when it beat within RNNCAST_HEARTBEAT_TIMEOUT)."""
    settings = get_settings()
    try:
        age = JobStore.from_url(settings.redis_url).worker_beat_age(name)
    except redis.RedisError as exc:
        return f"Redis does not answer: {exc}"
    if age is None:
        return f"worker {name} has no heartbeat in Redis (not started yet, or stopped)"
    if age > settings.heartbeat_timeout:
        return f"worker {name} last beat {age:.0f}s ago (RNNCAST_HEARTBEAT_TIMEOUT={settings.heartbeat_timeout:g})"
    return None
