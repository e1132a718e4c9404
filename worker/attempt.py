"""A running job's hold on it: the heartbeat watch, the store's answer to each epoch, and when to stop."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import redis
from celery.utils.log import get_task_logger

from rnncast.common.store.job_ops import Beat, EpochAnswer
from rnncast.common.store.sync import JobStore
from rnncast.core.train import EpochReport

log = get_task_logger(__name__)

# Set when this process must stop taking part in training (SIGTERM): the running
# job checkpoints at its next epoch and goes back to the queue.
HAND_BACK = threading.Event()

WATCH_S = 1.0  # a cancel or a lost lease stops training within this (plus one batch)


class Watch(threading.Thread):
    """Refreshes a running job's heartbeat and reads whether it was cancelled or lost, every second.

    The training loop reads only these events between batches: nothing per
    batch goes to Redis, and an epoch of any length stops within a second.
    """

    def __init__(self, store: JobStore, job_id: str, lease: str, interval: float) -> None:
        super().__init__(name=f"watch-{job_id[:8]}", daemon=True)
        self.store, self.job_id, self.lease, self.interval = store, job_id, lease, interval
        self.lost = threading.Event()
        self.cancelled = threading.Event()
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                answer = self.store.heartbeat(self.job_id, self.lease)
            except redis.RedisError as exc:  # transient: the next beat tries again
                log.warning("heartbeat for %s failed: %s", self.job_id, exc)
                continue
            if answer == Beat.CANCEL:
                self.cancelled.set()
            if answer == Beat.LOST:
                self.lost.set()
                return

    def stop(self) -> None:
        self._stop.set()


@dataclass
class Attempt:
    """This worker's attempt at a job: who holds it, when it must stop, and what the store answered."""

    store: JobStore
    job_id: str
    lease: str
    watch: Watch
    deadline: float  # the monotonic time at which the job's time is up
    limit: float = 0.0  # the seconds the job may run (for its error when they are up)
    answer: EpochAnswer = EpochAnswer.GO_ON  # to the last epoch recorded
    handoff: bool = False  # the job goes back to the queue (the store asked, or this process stops)

    @property
    def lost(self) -> bool:
        return self.answer == EpochAnswer.LOST or self.watch.lost.is_set()

    def interrupt(self) -> bool:
        return self.watch.cancelled.is_set() or self.watch.lost.is_set() or time.monotonic() > self.deadline

    def on_epoch_end(self, report: EpochReport, fields: dict[str, Any]) -> bool:
        """Record the epoch (with `fields`); True when training must stop."""
        self.answer = self.store.record_epoch(
            self.job_id, self.lease, report.epoch, report.epochs, report.train_loss, report.test_loss, report.lr,
            report.probe, **fields,
        )
        self.handoff = self.answer == EpochAnswer.HAND_BACK or HAND_BACK.is_set()
        return self.answer != EpochAnswer.GO_ON or self.handoff or self.interrupt()
