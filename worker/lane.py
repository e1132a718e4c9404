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

from rnncast.common.forecasts import INBOX_TTL_S, Answer, Queued, encode_answer, error_answer
from rnncast.common.rollout_work import forecast_work, rows_within, work_refusal
from rnncast.common.settings import Settings
from rnncast.common.store.session_ops import SessionSave
from rnncast.common.store.sync import JobStore
from rnncast.common.values import is_id, now_ms
from rnncast.common.verdict import losing, warning
from rnncast.core.forecast import RolloutStopped, rollout_numpy
from rnncast.worker.deadlines import deadline_passed, failure_detail
from rnncast.worker.guard import baseline_forecast, fallback_history, forecast_timestamps
from rnncast.worker.predict import (
    LoadedModel,
    ModelCache,
    ModelUnavailable,
    forecast_payload,
    intervals_refusal,
    model_window,
    request_bands,
    request_features,
    request_forecast,
    request_observed,
)
from rnncast.worker.sessions import Deliver, SessionBatch

log = get_task_logger(__name__)
BLOCK_S = 1.0  # how long one pop waits before the thread checks whether to stop
STALL_S = 2 * BLOCK_S + 5.0  # a lane's turn beyond a request's timeout: a pop, loading a model


def _loads(text: str) -> Any:
    """orjson (several times faster) for what the API sends; json for what orjson refuses (a NaN: a request's
    own checks then answer it 422, a diverged run's record holds one), so what the lane reads is unchanged."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


@dataclass(frozen=True)
class _Request:
    id: str
    inbox: str
    model_id: str
    horizon: int
    deadline_ms: int  # the API gives up on it then
    body: dict[str, Any]
    record: str | None  # the model's record as the API admitted the request with it (JSON), if it came along

    @classmethod
    def parse(cls, queued: Queued) -> _Request | None:
        """None for anything malformed (logged) or expired (the API has given up on it)."""
        try:
            msg = _loads(queued.request)
        except ValueError:
            msg = None
        return cls.of(msg, queued.record, queued.request)

    @classmethod
    def of(cls, msg: Any, record: str | None, raw: str | None = None) -> _Request | None:
        """A parsed request message (a session's comes so, from worker.sessions): as `parse`."""
        try:
            req = cls(str(msg["id"]), str(msg["inbox"]), str(msg["model_id"]), int(msg["horizon"]),
                      int(msg["deadline_ms"]), msg, record)
            ok = all(is_id(v) for v in (req.id, req.inbox, req.model_id)) and req.horizon >= 1
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            log.error("malformed forecast request dropped: %.200r", raw or msg)
            return None
        return req if req.deadline_ms > now_ms() else None


def _addressed(raw: str) -> tuple[str, str] | None:
    """(request id, inbox) of a raw lane request, a forecast's or a session's, if it names them well; None else."""
    try:
        msg = _loads(Queued.of(raw).request)
        rid, inbox = str(msg["id"]), str(msg["inbox"])
    except (ValueError, KeyError, TypeError):
        return None
    return (rid, inbox) if is_id(rid) and is_id(inbox) else None


@dataclass
class _Group:
    """Live requests for one model and horizon, and how many rows one rollout of them may take."""

    model_id: str
    horizon: int
    loaded: LoadedModel
    record: dict[str, Any]
    reqs: list[_Request]
    observed: list[np.ndarray]  # per request, what it continues in the series' units (request_observed)
    windows: list[np.ndarray]
    features: list[np.ndarray | None]  # a covariate model's, per request (core.transform.rollout_features)
    work: float  # of all the group's rows
    rows: int  # per rollout, within RNNCAST_MAX_FORECAST_WORK


def serve(
    cache: ModelCache, store: JobStore, settings: Settings, requests: list[_Request], deliver: Deliver,
) -> None:
    """Answer a batch of requests (`_Request.parse`'s), handing answers to `deliver` as they are ready.

    Cheap groups run first, and each rollout is at most RNNCAST_MAX_FORECAST_WORK
    (a group above it runs in chunks of rows; a request above it alone is 422):
    a large model's forecasts cannot hold a small one's back for long. A rollout
    stops at the last deadline of its requests (the API has given up on all of
    them then), and requests whose deadline passed between chunks are dropped
    unanswered. A group that fails in any way is answered 503 with the reason;
    the others go on.
    """
    by_key: dict[tuple[str, int], list[_Request]] = defaultdict(list)
    for req in requests:
        by_key[(req.model_id, req.horizon)].append(req)
    records = _records(store, by_key)
    groups: list[_Group] = []
    for (model_id, horizon), reqs in by_key.items():
        try:
            errors, group = _prepare(cache, settings, records.get(model_id), model_id, horizon, reqs)
        except Exception as exc:  # any failure is answered; the lane serves on
            log.exception("forecast requests for model %s failed", model_id)
            detail = failure_detail("the forecast", exc)
            errors, group = [(r.inbox, error_answer(r.id, 503, detail)) for r in reqs], None
        if errors:
            deliver(errors)
        if group is not None:
            groups.append(group)
    for group in sorted(groups, key=lambda g: g.work):
        for i in range(0, len(group.reqs), group.rows):
            live = [j for j in range(i, min(i + group.rows, len(group.reqs))) if group.reqs[j].deadline_ms > now_ms()]
            if live:
                deliver(_rollout(group, live))


def _records(store: JobStore, by_key: dict[tuple[str, int], list[_Request]]) -> dict[str, dict[str, Any]]:
    """The records of the requests' models: as they came with the requests, else read (one round trip for all)."""
    records: dict[str, dict[str, Any]] = {}
    for (model_id, _), reqs in by_key.items():
        if model_id not in records and (raw := next((r.record for r in reqs if r.record), None)) is not None:
            records[model_id] = _loads(raw)  # a diverged run's record holds NaN: json reads it
    missing = sorted({model_id for model_id, _ in by_key} - set(records))
    return records | (store.model_records(missing) if missing else {})


def _prepare(
    cache: ModelCache, settings: Settings, record: dict[str, Any] | None, model_id: str, horizon: int,
    reqs: list[_Request],
) -> tuple[list[tuple[str, Answer]], _Group | None]:
    """Error answers for requests that cannot run, and the group of those that can."""
    try:
        if record is None:
            raise ModelUnavailable(404, f"model {model_id!r} not found")
        loaded = cache.get(model_id, record["checkpoint"]["sha256"])
    except ModelUnavailable as exc:
        return [(r.inbox, error_answer(r.id, exc.status, exc.detail)) for r in reqs], None
    cfg, seq = loaded.checkpoint.model, loaded.checkpoint.train.sequence_length
    shape = (seq, horizon, cfg.hidden_size, cfg.num_layers, cfg.cell, cfg.output_steps)
    detail = work_refusal("this forecast", forecast_work(1, *shape), settings.max_forecast_work,
                          "ask for a shorter horizon")
    if detail is not None:
        return [(r.inbox, error_answer(r.id, 422, detail)) for r in reqs], None
    errors, ready, observed, windows, features = [], [], [], [], []
    for req in reqs:
        try:
            seen = request_observed(loaded, req.body)
            window = model_window(loaded, seen)
            feature = request_features(loaded, req.body, horizon)
        except ValueError as exc:
            errors.append((req.inbox, error_answer(req.id, 422, str(exc))))
            continue
        if (refused := intervals_refusal(loaded, req.body.get("intervals"))) is not None:
            errors.append((req.inbox, error_answer(req.id, *refused)))
            continue
        observed.append(seen)
        windows.append(window)
        features.append(feature)
        ready.append(req)
    if not ready:
        return errors, None
    rows = rows_within(settings.max_forecast_work, *shape)
    work = forecast_work(len(ready), *shape)
    return errors, _Group(model_id, horizon, loaded, record, ready, observed, windows, features, work, rows)


def _rollout(group: _Group, rows: list[int]) -> list[tuple[str, Answer]]:
    """One batched rollout of the group's `rows`, as answers; it stops at the last of their deadlines."""
    reqs = [group.reqs[j] for j in rows]
    try:
        windows = np.stack([group.windows[j] for j in rows])
        feats = [group.features[j] for j in rows]
        features = np.stack(feats) if feats[0] is not None else None  # type: ignore[arg-type]
        preds = rollout_numpy(group.loaded.model, windows, group.horizon,
                              deadline_passed(max(r.deadline_ms for r in reqs)), features)
        out = []
        for j, req, row in zip(rows, reqs, preds, strict=True):
            payload = _payload(group, req.body, row, group.observed[j])
            # orjson: several times faster than json here, and NaN/inf also become null.
            out.append((req.inbox, Answer(req.id, 200, len(reqs), orjson.dumps(payload).decode())))
        return out
    except Exception as exc:  # the API is waiting: answer rather than let it time out
        if not isinstance(exc, RolloutStopped):
            log.exception("forecast batch for model %s failed", group.model_id)
        return [(r.inbox, error_answer(r.id, 503, failure_detail("the forecast", exc))) for r in reqs]


def _payload(group: _Group, body: dict[str, Any], row: np.ndarray, observed: np.ndarray) -> dict[str, Any]:
    """A request's answer: the model's forecast (with the intervals asked for), with timestamps where the dataset
    has a time axis, and a warning when the model lost its last backtest (then, with `fallback`, the better
    baseline's forecast instead, in the series' units: no model transform, no model intervals)."""
    loaded, lost = group.loaded, losing(group.record)
    series = loaded.checkpoint.series
    source, bands, steps = None, None, None
    if lost is not None and body.get("fallback") == "baseline":
        history = fallback_history(series, body, observed)
        base, source = baseline_forecast(history, group.horizon, lost["best_baseline"], int(lost["season"]))
        fc = request_forecast(loaded, body, base, observed, with_context=False, in_units=True)
    else:
        fc = request_forecast(loaded, body, row, observed, with_context=False)
        bands = request_bands(loaded, body, fc)
        steps = loaded.calibration.steps if bands is not None and loaded.calibration else None
    fields = body.get("fields")
    payload = forecast_payload(group.model_id, group.horizon, fc, fields, bands, steps)
    stamps = forecast_timestamps(series, loaded.checkpoint.data, body, group.horizon)
    if stamps is not None and (fields is None or "timestamps" in fields):
        payload["timestamps"] = stamps
    if lost is not None:
        payload["warning"] = warning(lost)
    if source is not None:
        payload["source"] = source
    return payload


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
            requests = [r for r in map(_Request.parse, plain) if r is not None]
            requests += [r for msg, record in asked if (r := _Request.of(msg, record)) is not None]
            serve(self.cache, self.store, self.settings, requests, sessions.wrap(deliver))
        except redis.RedisError:
            raise
        except Exception as exc:
            log.exception("forecast lane: a batch failed")
            left = [a for a in map(_addressed, raws) if a is not None and a[0] not in answered]
            detail = failure_detail("the forecast", exc)
            self._deliver([(inbox, error_answer(rid, 503, detail)) for rid, inbox in left])
