"""One lane turn's forecasts (worker.lane): the requests grouped by model and horizon, each group rolled out in
batches within RNNCAST_MAX_FORECAST_WORK, each request answered (its forecast, or why not).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from celery.utils.log import get_task_logger

from rnncast.common.forecasts import Answer, Queued, error_answer
from rnncast.common.rollout_work import forecast_work, rows_within, work_refusal
from rnncast.common.settings import Settings
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
from rnncast.worker.sessions import Deliver

log = get_task_logger(__name__)


def _loads(text: str) -> Any:
    """orjson (several times faster) for what the API sends; json for what orjson refuses (a NaN: a request's
    own checks then answer it 422, a diverged run's record holds one), so what the lane reads is unchanged."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


@dataclass(frozen=True)
class LaneRequest:
    id: str
    inbox: str
    model_id: str
    horizon: int
    deadline_ms: int  # the API gives up on it then
    body: dict[str, Any]
    record: str | None  # the model's record as the API admitted the request with it (JSON), if it came along

    @classmethod
    def parse(cls, queued: Queued) -> LaneRequest | None:
        """None for anything malformed (logged) or expired (the API has given up on it)."""
        try:
            msg = _loads(queued.request)
        except ValueError:
            msg = None
        return cls.of(msg, queued.record, queued.request)

    @classmethod
    def of(cls, msg: Any, record: str | None, raw: str | None = None) -> LaneRequest | None:
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


def addressed(raw: str) -> tuple[str, str] | None:
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
    reqs: list[LaneRequest]
    observed: list[np.ndarray]  # per request, what it continues in the series' units (request_observed)
    windows: list[np.ndarray]
    features: list[np.ndarray | None]  # a covariate model's, per request (core.transform.rollout_features)
    work: float  # of all the group's rows
    rows: int  # per rollout, within RNNCAST_MAX_FORECAST_WORK


def serve(
    cache: ModelCache, store: JobStore, settings: Settings, requests: list[LaneRequest], deliver: Deliver,
) -> None:
    """Answer a batch of requests (`LaneRequest.parse`'s), handing answers to `deliver` as they are ready.

    Cheap groups run first, and each rollout is at most RNNCAST_MAX_FORECAST_WORK
    (a group above it runs in chunks of rows; a request above it alone is 422):
    a large model's forecasts cannot hold a small one's back for long. A rollout
    stops at the last deadline of its requests (the API has given up on all of
    them then), and requests whose deadline passed between chunks are dropped
    unanswered. A group that fails in any way is answered 503 with the reason;
    the others go on.
    """
    by_key: dict[tuple[str, int], list[LaneRequest]] = defaultdict(list)
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


def _records(store: JobStore, by_key: dict[tuple[str, int], list[LaneRequest]]) -> dict[str, dict[str, Any]]:
    """The records of the requests' models: as they came with the requests, else read (one round trip for all)."""
    records: dict[str, dict[str, Any]] = {}
    for (model_id, _), reqs in by_key.items():
        if model_id not in records and (raw := next((r.record for r in reqs if r.record), None)) is not None:
            records[model_id] = _loads(raw)  # a diverged run's record holds NaN: json reads it
    missing = sorted({model_id for model_id, _ in by_key} - set(records))
    return records | (store.model_records(missing) if missing else {})


def _prepare(
    cache: ModelCache, settings: Settings, record: dict[str, Any] | None, model_id: str, horizon: int,
    reqs: list[LaneRequest],
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
