"""A predict worker process's lane threads, supervised: restarted when one dies, reported to /readyz."""

from __future__ import annotations

import os
import socket
import threading

import redis
from celery.utils.log import get_task_logger

from rnncast.common.settings import Settings
from rnncast.common.store.sync import JobStore
from rnncast.worker.lane import LaneServer

log = get_task_logger(__name__)
LANE_FORGET_S = 86_400.0  # a lane silent this long is forgotten (its process is gone)


class Supervisor(threading.Thread):
    """Keeps a process's lane threads serving and says whether they do.

    Every heartbeat interval it replaces a lane thread that died (anything
    that escaped its loop) with a fresh one, and records in Redis whether each
    is serving (`LaneServer.serving`), which the API's /readyz reports.
    """

    def __init__(self, settings: Settings, servers: list[LaneServer], store: JobStore | None = None) -> None:
        super().__init__(name="rnncast-lane-supervisor", daemon=True)
        self.settings, self.servers = settings, servers
        self.store = store or JobStore.from_url(settings.redis_url)
        self.stopped = threading.Event()
        self.restarts = 0
        self.prefix = f"{socket.gethostname()}:{os.getpid()}"

    def names(self) -> list[str]:
        return [f"{self.prefix}/{server.name}" for server in self.servers]

    def check(self) -> dict[str, bool]:
        """Restart the lane threads that died; whether each is serving, by name."""
        for i, server in enumerate(self.servers):
            if not server.is_alive() and not server.stopped.is_set() and not self.stopped.is_set():
                log.error("lane thread %s died; starting a fresh one", server.name)
                self.servers[i] = server = server.fresh()
                server.start()
                self.restarts += 1
        return dict(zip(self.names(), (server.serving() for server in self.servers), strict=True))

    def run(self) -> None:
        for server in self.servers:
            if not server.is_alive():
                server.start()
        while True:
            states = self.check()
            try:
                self.store.beat_lanes(states, LANE_FORGET_S)
            except redis.RedisError as exc:
                log.warning("lane heartbeat: %s", exc)
            if self.stopped.wait(self.settings.heartbeat_interval):
                break
        try:
            self.store.end_lanes(self.names())
        except redis.RedisError as exc:
            log.warning("could not forget this process's lanes: %s", exc)

    def stop(self) -> None:
        """Stop supervising and serving (the lane threads finish their turn)."""
        self.stopped.set()
        for server in self.servers:
            server.stop()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=5)  # it forgets this process's lanes on its way out
