"""Dynamic batching: concurrent forecasts for one model run as one batched rollout.

Request threads (Celery's `threads` pool) hand in a window and wait; one
batching thread per worker process runs the requests for the same model and
horizon together, one forward per step, and hands each request its own row.
With no window (the default) a lone request runs at once and requests that
arrive while a batch computes form the next batch, so batching adds no
latency at low load; `window_s` > 0 also waits that long for company. Rows
are exact: core's rollout gives a window the same numbers alone or batched.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np
import torch

from core.forecast import rollout_numpy

Key = tuple[str, str, int]  # model id, checkpoint digest, horizon


@dataclass
class _Pending:
    model: torch.nn.Module
    window: np.ndarray  # (T,)
    future: Future[tuple[np.ndarray, int]] = field(default_factory=Future)
    since: float = field(default_factory=time.monotonic)


class Batcher:
    """Gathers rollouts per (model, horizon) for a few milliseconds and runs them together.

    Args:
        window_s: how long the first request of a batch waits for company.
        max_batch: a batch this large runs at once.
        torch_threads, flush_denormal: torch settings for the batching thread.
    """

    def __init__(self, window_s: float, max_batch: int, torch_threads: int = 1, flush_denormal: bool = True) -> None:
        self.window_s, self.max_batch = window_s, max_batch
        self._threads, self._flush = torch_threads, flush_denormal
        self._pending: dict[Key, list[_Pending]] = defaultdict(list)
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="rnncast-batcher", daemon=True)
        self._thread.start()

    def rollout(
        self, key: Key, model: torch.nn.Module, window: np.ndarray, timeout: float = 600
    ) -> tuple[np.ndarray, int]:
        """This window's `horizon` predictions, and how many requests shared the batch."""
        item = _Pending(model, window)
        with self._cond:
            self._pending[key].append(item)
            self._cond.notify()
        return item.future.result(timeout=timeout)

    def _take(self) -> tuple[Key, list[_Pending]]:
        """Wait for the oldest batch to be full or old enough; remove and return it."""
        with self._cond:
            while True:
                ready = [k for k, items in self._pending.items() if items]
                if ready:
                    key = min(ready, key=lambda k: self._pending[k][0].since)
                    items = self._pending[key]
                    wait = items[0].since + self.window_s - time.monotonic()
                    if len(items) >= self.max_batch or wait <= 0:
                        batch, self._pending[key] = items[: self.max_batch], items[self.max_batch :]
                        return key, batch
                    self._cond.wait(timeout=wait)
                else:
                    self._cond.wait()

    def _run(self) -> None:
        # OpenMP's thread count and the FPU's denormal mode belong to each
        # thread: set them here, or this thread runs with the defaults (slower).
        torch.set_num_threads(self._threads)
        torch.set_flush_denormal(self._flush)
        while True:
            key, batch = self._take()
            try:
                preds = rollout_numpy(batch[0].model, np.stack([item.window for item in batch]), key[2])
            except Exception as exc:  # hand the failure to every waiting request
                for item in batch:
                    item.future.set_exception(exc)
                continue
            for item, row in zip(batch, preds, strict=True):
                item.future.set_result((row, len(batch)))
