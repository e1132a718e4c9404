"""Finding lost jobs and handing them on: no accepted job is lost, none runs twice at once.

Every worker runs `recover_once` at start-up and then every heartbeat
interval (the `Liveness` thread). A running job whose heartbeat is older than RNNCAST_HEARTBEAT_TIMEOUT
lost its worker: it is queued again (the next attempt resumes from its latest
checkpoint) or, after RNNCAST_MAX_ATTEMPTS, failed with the reason. The
atomic RECOVER script makes sure one worker acts on each job.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from rnncast.common.artifacts import ArtifactError, ArtifactStore, open_store
from rnncast.common.artifacts.layout import job_prefix
from rnncast.common.queue import TRAIN_QUEUE
from rnncast.common.settings import Settings
from rnncast.common.store.sync import JobStore

log = logging.getLogger(__name__)


@dataclass
class Recovered:
    requeued: list[str]
    failed: list[str]
    cancelled: list[str]
    resent: list[str]


def recover_once(
    store: JobStore, settings: Settings, send: Callable[[str], None], check_queued: bool = True,
) -> Recovered:
    """One pass: requeue, fail or (if asked) cancel stale running jobs; re-send tasks of queued jobs the broker lost.

    Ages are measured by Redis's clock, so hosts whose clocks disagree still agree on them.

    Args:
        send: enqueues a train task for a job id.
        check_queued: also look for queued jobs whose task message vanished
            (a broker that lost a write, a worker killed between taking a task
            and starting it). A duplicate task is harmless: only one start wins.
    """
    timeout = settings.heartbeat_timeout
    done = Recovered([], [], [], [])
    for job_id in store.stale_running(timeout):
        error = (f"the job lost its worker {settings.max_attempts} time(s) (no heartbeat for "
                 f"{timeout:g}s); giving up after RNNCAST_MAX_ATTEMPTS={settings.max_attempts}")
        answer = store.recover(job_id, timeout, settings.max_attempts, error)
        if answer == 1:
            send(job_id)
            done.requeued.append(job_id)
        elif answer in (2, 3):
            done.failed.append(job_id)
        elif answer in (4, 5):
            done.cancelled.append(job_id)
    if check_queued:
        old = store.queued_before(timeout)
        if old:
            messages = store.broker_messages(TRAIN_QUEUE, within_s=timeout)
            for job_id in old:
                # A search's refit waits without a task until the search has chosen (worker.search).
                if job_id not in messages and not (store.job_raw(job_id) or {}).get("awaiting"):
                    send(job_id)
                    done.resent.append(job_id)
    for kind in ("requeued", "failed", "cancelled", "resent"):
        if getattr(done, kind):
            log.warning("recovery %s jobs %s", kind, getattr(done, kind))
    return done


SWEEP_LIMIT = 200  # jobs and comparisons deleted per pass at most


def expire_once(store: JobStore, settings: Settings, artifacts: ArtifactStore) -> list[str]:
    """Delete jobs and comparisons that ended more than RNNCAST_RETENTION_DAYS ago, with their
    checkpoint files (models stay until deleted); the ids of the jobs deleted."""
    store.index_ended_before_retention()  # once per Redis: records from before retention existed
    deleted = store.sweep_expired(settings.retention_days * 86_400, SWEEP_LIMIT)
    for job_id in deleted:
        try:
            artifacts.delete_prefix(job_prefix(job_id))
        except ArtifactError as exc:  # the record is gone; its files stay until an operator sweeps them
            log.warning("retention could not delete job %s's checkpoint files: %s", job_id, exc)
    if deleted:
        log.info("retention deleted %d ended jobs", len(deleted))
    return deleted


class Liveness(threading.Thread):
    """Tells the job store every heartbeat interval that this worker is alive, and runs
    `recover_once` and `expire_once`."""

    def __init__(self, name: str, settings: Settings, send: Callable[[str], None],
                 info: Callable[[], dict[str, Any]] | None = None) -> None:
        super().__init__(name="rnncast-liveness", daemon=True)
        self.worker_name, self.settings, self.send = name, settings, send
        self.info = info  # what this worker says of itself at each beat (queues, device)
        self.stopped = threading.Event()

    def run(self) -> None:
        store = JobStore.from_url(self.settings.redis_url)
        artifacts = open_store(self.settings)
        last_queued_check = 0.0
        while True:
            try:
                store.register_worker(self.worker_name, self._described())
                check_queued = time.monotonic() - last_queued_check > self.settings.heartbeat_timeout
                recover_once(store, self.settings, self.send, check_queued=check_queued)
                if self.settings.retention_days > 0:
                    expire_once(store, self.settings, artifacts)
                if check_queued:
                    last_queued_check = time.monotonic()
            except redis.RedisError as exc:  # Redis away: try again next beat
                log.warning("liveness/recovery pass failed: %s", exc)
            if self.stopped.wait(self.settings.heartbeat_interval):
                break
        try:
            store.unregister_worker(self.worker_name)
        except redis.RedisError as exc:
            log.warning("could not unregister worker: %s", exc)

    def _described(self) -> dict[str, Any] | None:
        """What this worker says of itself; a report that fails never stops the heartbeat."""
        if self.info is None:
            return None
        try:
            return self.info()
        except Exception as exc:  # e.g. NVML gone away: the heartbeat goes on without it
            log.warning("could not describe this worker's device: %s", exc)
            return None

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)
