"""A training job's resume checkpoints, written off the training loop."""

from __future__ import annotations

import logging
import threading
import time

from rnncast.common.artifacts import BACKOFF_S, ArtifactStore, StoreUnavailable
from rnncast.core.checkpoint import Packed, write_checkpoint

log = logging.getLogger(__name__)


class CheckpointWriter(threading.Thread):
    """Writes the checkpoints `submit` hands it to `folder`, one at a time, on its own thread.

    Only the newest matters: one submitted while another waits replaces it. A
    write the store refuses for now (StoreUnavailable) is tried again with
    backoff, or given up for a newer one, while training goes on. Any other
    failure is kept and raised to the trainer by its next `submit` or by `close`.
    """

    def __init__(self, folder: ArtifactStore, name: str) -> None:
        super().__init__(name=f"checkpoints-{name}", daemon=True)
        self.folder = folder
        self._cond = threading.Condition()
        self._pending: Packed | None = None
        self._busy = False
        self._closing = False
        self._error: BaseException | None = None
        self.written = 0  # checkpoints written

    def submit(self, packed: Packed) -> None:
        """Queue `packed` for writing (replacing one still waiting); raise an earlier write's failure."""
        with self._cond:
            self._raise()
            self._pending = packed
            self._cond.notify_all()

    def close(self, drain: bool, timeout: float) -> bool:
        """Stop the thread; with `drain`, first write what is waiting (for up to `timeout` seconds).

        Returns whether everything submitted was written; raises a write's failure.
        """
        with self._cond:
            deadline = time.monotonic() + (timeout if drain else 0.0)
            while (self._pending is not None or self._busy) and self._error is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            done = self._pending is None and not self._busy
            self._closing, self._pending = True, None
            self._cond.notify_all()
        self.join()
        with self._cond:
            self._raise()
        return done

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closing:
                    self._cond.wait()
                if self._closing or self._pending is None:
                    return
                packed, self._pending, self._busy = self._pending, None, True
            try:
                self._write(packed)
            except BaseException as exc:  # kept for the trainer: the job fails with it
                with self._cond:
                    self._error = exc
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _write(self, packed: Packed) -> None:
        delay = BACKOFF_S[0]
        while True:
            try:
                write_checkpoint(self.folder, packed)
                self.written += 1
                return
            except StoreUnavailable as exc:
                log.warning("checkpoint write to %s failed for now (%s); retrying in %.2g s", self.folder.url, exc,
                            delay)
            with self._cond:
                self._cond.wait(delay)  # a newer checkpoint, or closing, ends the wait
                if self._closing:
                    return
                if self._pending is not None:
                    packed, self._pending = self._pending, None
            delay = min(delay * 2, BACKOFF_S[1])
