"""The predict worker's forecast server: dynamic batching over the forecast lane (common.forecasts).

Each forecast thread of a predict worker process (RNNCAST_FORECAST_THREADS)
pops every queued request at once (up to `max_batch`), runs the requests
for the same model and horizon as one batched rollout, and pushes each
answer to the inbox of the API process that asked. With no window (the
default) a lone request runs at once and requests that arrive while a batch
computes form the next batch, so batching adds no latency at low load;
`batch_window_ms` > 0 also waits that long for company. Rows are exact:
core's rollout gives a window the same numbers alone or batched.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import redis
import torch
from celery.utils.log import get_task_logger

from rnncast.common.forecasts import INBOX_TTL_S, Answer, encode_answer, error_answer
from rnncast.common.settings import Settings
from rnncast.common.store.session_ops import SessionSave
from rnncast.common.store.sync import JobStore
from rnncast.worker.batch import LaneRequest, addressed, serve
from rnncast.worker.deadlines import failure_detail
from rnncast.worker.predict import ModelCache
from rnncast.worker.sessions import SessionBatch

log = get_task_logger(__name__)
BLOCK_S = 1.0  # how long one pop waits before the thread checks whether to stop
STALL_S = 2 * BLOCK_S + 5.0  # a lane's turn beyond a request's timeout: a pop, loading a model


class LaneServer(threading.Thread):
    """A thread serving one lane until `stop()`: it rides out Redis outages (the API answers 503
    meanwhile), and an exception in one turn is logged and the lane serves on (each request was answered
    where it failed). `beat` is the loop's last turn, read by the Supervisor."""

    lane = "lane"

    def __init__(
        self, settings: Settings, cache: ModelCache, store: JobStore | None = None, name: str | None = None,
    ) -> None:
        super().__init__(name=name or f"rnncast-{self.lane}", daemon=True)
        self.settings, self.cache = settings, cache
        self.store = store or JobStore.from_url(settings.redis_url)
        self.stopped = threading.Event()
        self.beat = time.monotonic()

    def stop(self) -> None:
        self.stopped.set()

    def serve_once(self) -> None:
        """Wait up to BLOCK_S for requests and answer them."""
        raise NotImplementedError

    def fresh(self) -> LaneServer:
        """A new thread serving the same lane, to replace this one once it died."""
        return type(self)(self.settings, self.cache, self.store, self.name)

    def serving(self) -> bool:
        """Alive, and its loop turned within a request's timeout (a rollout stops at its deadline) and a pop."""
        limit = self.settings.forecast_timeout + STALL_S
        return self.is_alive() and not self.stopped.is_set() and time.monotonic() - self.beat < limit

    def run(self) -> None:
        # OpenMP's thread count and the FPU's denormal mode belong to each
        # thread: set them here, or this thread runs with the defaults (slower).
        torch.set_num_threads(self.settings.torch_threads)
        torch.set_flush_denormal(self.settings.flush_denormal)
        while not self.stopped.is_set():
            self.beat = time.monotonic()
            try:
                self.serve_once()
            except redis.RedisError as exc:  # Redis away: try again
                log.warning("%s lane: %s", self.lane, exc)
                self.stopped.wait(1.0)
            except Exception:  # a fault in one turn must not end the lane: serve on
                log.exception("%s lane: a turn failed; serving on", self.lane)
                self.stopped.wait(0.1)


class ForecastServer(LaneServer):
    """Pops forecast requests in batches and answers them."""

    lane = "forecasts"

    def _deliver(
        self, answers: list[tuple[str, Answer]], saves: list[tuple[SessionSave, str, Answer]] | None = None,
    ) -> list[int]:
        """Push `answers`, and save sessions' states each with its answer (worker.sessions), in one round trip."""
        by_inbox: dict[str, list[str]] = defaultdict(list)
        for inbox, answer in answers:
            by_inbox[inbox].append(encode_answer(answer))
        if not saves:
            self.store.push_answers(by_inbox, INBOX_TTL_S)
            return []
        saving = [(save, inbox, encode_answer(answer)) for save, inbox, answer in saves]
        return self.store.save_sessions(saving, by_inbox, INBOX_TTL_S)

    def serve_once(self) -> None:
        limit, window_s = self.settings.max_batch, self.settings.batch_window_ms / 1000
        raws = self.store.pop_forecasts(limit, BLOCK_S)
        if raws and window_s > 0 and len(raws) < limit:
            time.sleep(window_s)
            raws += self.store.more_forecasts(limit - len(raws))
        if raws:
            self._serve(raws)

    def _serve(self, raws: list[str]) -> None:
        """`serve`, and whatever escapes it answers every request it had not answered yet (503, the reason)."""
        answered: set[str] = set()

        def deliver(
            answers: list[tuple[str, Answer]], saves: list[tuple[SessionSave, str, Answer]] | None = None,
        ) -> list[int]:
            saved = self._deliver(answers, saves)
            answered.update(answer.request_id for _, answer in answers)
            answered.update(answer.request_id for (_, _, answer), n in zip(saves or [], saved, strict=True) if n == 1)
            return saved

        sessions = SessionBatch(self.store, self.cache)  # session requests become forecasts (worker.sessions)
        try:
            self.cache.sweep(self.store)
            plain, asked = sessions.take(raws, deliver)
            requests = [r for r in map(LaneRequest.parse, plain) if r is not None]
            requests += [r for msg, record in asked if (r := LaneRequest.of(msg, record)) is not None]
            serve(self.cache, self.store, self.settings, requests, sessions.wrap(deliver))
        except redis.RedisError:
            raise
        except Exception as exc:
            log.exception("forecast lane: a batch failed")
            left = [a for a in map(addressed, raws) if a is not None and a[0] not in answered]
            detail = failure_detail("the forecast", exc)
            self._deliver([(inbox, error_answer(rid, 503, detail)) for rid, inbox in left])
