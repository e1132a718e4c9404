"""A training job's resume checkpoints, written off the training loop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from rnncast.common.artifacts import BACKOFF_S, ArtifactStore, StoreUnavailable
from rnncast.core.checkpoint import Packed, write_checkpoint

log = logging.getLogger(__name__)
# The job's hash fields that pin its resume checkpoint (the tensor file's sha256): the one written last, and
# the one being written (a crash between the write and the pin leaves either in the store).
PINNED, WRITING = "checkpoint_sha256", "checkpoint_writing_sha256"

Pin = Callable[[str, str], bool]  # (field, digest) -> whether the job is still ours


def pinned_digests(job: dict[str, str]) -> set[str]:
    """The checkpoint digests a job's hash pins (none for a job that never wrote one)."""
    return {digest for digest in (job.get(PINNED), job.get(WRITING)) if digest}


class CheckpointWriter(threading.Thread):
    """Writes the checkpoints `submit` hands it to `folder`, one at a time, on its own thread.

    Only the newest matters: one submitted while another waits replaces it. A
    write the store refuses for now (StoreUnavailable) is tried again, as it is,
    with backoff while training goes on; the newest checkpoint submitted meanwhile
    is written once it has landed. Any other failure is kept and raised to the
    trainer by its next `submit` or by `close`.
    With `pin`, each checkpoint's digest is recorded on the job (WRITING before
    the write, PINNED after): a resume loads only a checkpoint its job pinned.
    A failed write may still have landed (the store took it, its answer was
    lost), so WRITING is moved on only once its write is known to have landed:
    whatever the store holds is always one of the two pins.
    A write whose pin finds the job no longer ours is dropped.
    """

    def __init__(self, folder: ArtifactStore, name: str, pin: Pin | None = None) -> None:
        super().__init__(name=f"checkpoints-{name}", daemon=True)
        self.folder, self.pin = folder, pin
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
                if self.pin is not None and not self.pin(WRITING, packed.sha256):
                    return  # the job is no longer ours: its new holder's checkpoint is left alone
                write_checkpoint(self.folder, packed)
                if self.pin is not None:
                    self.pin(PINNED, packed.sha256)
                self.written += 1
                return
            except StoreUnavailable as exc:
                log.warning("checkpoint write to %s failed for now (%s); retrying in %.2g s", self.folder.url, exc,
                            delay)
            with self._cond:
                self._cond.wait_for(lambda: self._closing, delay)
                if self._closing:
                    return
            delay = min(delay * 2, BACKOFF_S[1])
