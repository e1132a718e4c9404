"""The predict worker's forecast server: dynamic batching over the forecast lane (common.forecasts).

One thread per predict worker process pops every queued request at once (up
to `max_batch`), runs the requests for the same model and horizon as one
batched rollout, and pushes each answer to the inbox of the API process
that asked. With no window (the default) a lone request runs at once and
requests that arrive while a batch computes form the next batch, so batching
adds no latency at low load; `batch_window_ms` > 0 also waits that long for
company. Rows are exact: core's rollout gives a window the same numbers
alone or batched.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import redis
import torch
from celery.utils.log import get_task_logger

from common.forecasts import INBOX_TTL_S, Answer, encode_answer, error_answer
from common.settings import Settings
from common.store import is_id
from common.store.clock import now_ms
from common.store.sync import JobStore
from core.forecast import rollout_numpy
from worker.predict import ModelCache, ModelUnavailable, forecast_payload, request_forecast, request_window

log = get_task_logger(__name__)
BLOCK_S = 1.0  # how long one pop waits before the thread checks whether to stop


@dataclass(frozen=True)
class _Request:
    id: str
    inbox: str
    model_id: str
    horizon: int
    body: dict[str, Any]

    @classmethod
    def parse(cls, raw: str) -> _Request | None:
        """None for anything malformed (logged) or expired (the API has given up on it)."""
        try:
            msg = json.loads(raw)
            req = cls(str(msg["id"]), str(msg["inbox"]), str(msg["model_id"]), int(msg["horizon"]), msg)
            ok = all(is_id(v) for v in (req.id, req.inbox, req.model_id)) and req.horizon >= 1
            deadline = int(msg["deadline_ms"])
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            log.error("malformed forecast request dropped: %.200r", raw)
            return None
        return req if deadline > now_ms() else None


def serve(cache: ModelCache, store: JobStore, data_dir: Any, raws: list[str]) -> list[tuple[str, Answer]]:
    """Answer a batch of raw requests: (inbox, answer) for every live, well-formed one."""
    groups: dict[tuple[str, int], list[_Request]] = defaultdict(list)
    for raw in raws:
        req = _Request.parse(raw)
        if req is not None:
            groups[(req.model_id, req.horizon)].append(req)
    records = store.model_records(sorted({model_id for model_id, _ in groups}))
    out: list[tuple[str, Answer]] = []
    for (model_id, horizon), reqs in groups.items():
        try:
            record = records.get(model_id)
            if record is None:
                raise ModelUnavailable(404, f"model {model_id!r} not found")
            loaded = cache.get(data_dir, model_id, record["checkpoint"]["sha256"])
        except ModelUnavailable as exc:
            out += [(r.inbox, error_answer(r.id, exc.status, exc.detail)) for r in reqs]
            continue
        ready, windows = [], []
        for req in reqs:
            try:
                windows.append(request_window(loaded, req.body))
                ready.append(req)
            except ValueError as exc:
                out.append((req.inbox, error_answer(req.id, 422, str(exc))))
        if not ready:
            continue
        try:
            preds = rollout_numpy(loaded.model, np.stack(windows), horizon)  # (B, horizon)
            for req, row in zip(ready, preds, strict=True):
                payload = forecast_payload(model_id, horizon, request_forecast(loaded, req.body, row),
                                           with_exact=req.body.get("context") is None)
                # orjson: several times faster than json here, and NaN/inf also become null.
                out.append((req.inbox, Answer(req.id, 200, len(ready), orjson.dumps(payload).decode())))
        except Exception:  # the API is waiting: answer rather than let it time out
            log.exception("forecast batch for model %s failed", model_id)
            out += [(r.inbox, error_answer(r.id, 503, "the forecast failed on the worker; see its log"))
                    for r in ready]
    return out


class ForecastServer(threading.Thread):
    """Pops forecast requests in batches, answers them, until `stop()`."""

    def __init__(self, settings: Settings, cache: ModelCache, store: JobStore | None = None) -> None:
        super().__init__(name="rnncast-forecasts", daemon=True)
        self.settings, self.cache = settings, cache
        self.store = store or JobStore.from_url(settings.redis_url)
        self.stopped = threading.Event()

    def stop(self) -> None:
        self.stopped.set()

    def run(self) -> None:
        # OpenMP's thread count and the FPU's denormal mode belong to each
        # thread: set them here, or this thread runs with the defaults (slower).
        torch.set_num_threads(self.settings.torch_threads)
        torch.set_flush_denormal(self.settings.flush_denormal)
        limit, window_s = self.settings.max_batch, self.settings.batch_window_ms / 1000
        while not self.stopped.is_set():
            try:
                raws = self.store.pop_forecasts(limit, BLOCK_S)
                if raws and window_s > 0 and len(raws) < limit:
                    time.sleep(window_s)
                    raws += self.store.more_forecasts(limit - len(raws))
                if not raws:
                    continue
                self.cache.sweep(self.store)
                by_inbox: dict[str, list[str]] = defaultdict(list)
                for inbox, answer in serve(self.cache, self.store, self.settings.data_dir, raws):
                    by_inbox[inbox].append(encode_answer(answer))
                if by_inbox:
                    self.store.push_answers(by_inbox, INBOX_TTL_S)
            except redis.RedisError as exc:  # Redis away: the API answers 503 meanwhile; try again
                log.warning("forecast lane: %s", exc)
                self.stopped.wait(1.0)
