"""Streaming sessions on the forecast lane (common.sessions): each session request becomes the forecast it
asks for before the lane's turn (a message, parsed once: it is not encoded and read again), batched with every
other request for the same model and horizon; its answer goes back as the session's in the step that saves the
session's new state (only if no other observe was saved meanwhile), with the lane's other answers: one round
trip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import orjson
from celery.utils.log import get_task_logger

from rnncast.common.forecasts import Answer, Queued, error_answer
from rnncast.common.sessions import ADMITTED, AFTER, OBSERVE, OPEN, SESSION, SessionState, gone_detail
from rnncast.common.store.session_ops import SessionSave
from rnncast.common.store.sync import JobStore
from rnncast.common.values import is_id, iso_ms, now_ms
from rnncast.worker.deadlines import failure_detail
from rnncast.worker.predict import ModelCache, ModelUnavailable

log = get_task_logger(__name__)
Deliver = Callable[[list[tuple[str, Answer]]], object]
# Answers, and sessions' answers each pushed only once its state is saved: per session, 1 saved (answered), 0 it
# moved on, -1 it is gone (common.store.session_ops.save_sessions)
SavingDeliver = Callable[[list[tuple[str, Answer]], list[tuple[SessionSave, str, Answer]]], list[int]]
MARK = f'"{SESSION}"'  # a raw request that lacks it is a plain forecast (no JSON parse here)
DROP: dict[str, Any] = {}  # a session request to drop unanswered


class _Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def _gone(session_id: str) -> _Refused:
    return _Refused(404, gone_detail(session_id))


class SessionBatch:
    """The session requests of one lane turn."""

    def __init__(self, store: JobStore, cache: ModelCache) -> None:
        self.store, self.cache = store, cache
        self.pending: dict[str, SessionSave] = {}  # by request id
        self._sizes: dict[tuple[str, str], int | _Refused] = {}  # by model and digest: each model judged once

    def take(self, raws: list[str], deliver: Deliver) -> tuple[list[Queued], list[tuple[dict[str, Any], str | None]]]:
        """`raws` that are plain forecasts (split: common.forecasts.Queued), and the forecast each session request
        asks for (a message, with its model's record when the admission sent one); those that cannot run are
        answered now (404, 409, 422, 503), malformed or expired ones dropped. An observe comes with its session as
        the admission read it; one that came without (queued by an older API) has its session read here, all such
        in one command."""
        out: list[Queued] = []
        asks: list[tuple[dict[str, Any], Queued]] = []
        forecasts: list[tuple[dict[str, Any], str | None]] = []
        for raw in raws:
            queued = Queued.of(raw)
            msg = _session_message(queued.request) if MARK in queued.request else None
            if msg is None:
                out.append(queued)
            elif msg is not DROP:
                asks.append((msg, queued))
        if not asks:
            return out, forecasts
        unread = [m[SESSION]["id"] for m, _ in asks if m[SESSION]["op"] == OBSERVE and ADMITTED not in m]
        read = self.store.read_sessions(unread) if unread else {}
        errors = []
        for msg, queued in asks:
            try:
                state = _admitted(msg[ADMITTED]) if ADMITTED in msg else read.get(msg[SESSION]["id"])
                forecast, save = self._forecast(msg, state)
            except _Refused as exc:
                errors.append((msg["inbox"], error_answer(msg["id"], exc.status, exc.detail)))
                continue
            except Exception as exc:  # the API is waiting: answer rather than let it time out
                log.exception("session request %s failed", msg["id"])
                errors.append((msg["inbox"], error_answer(msg["id"], 503, failure_detail("the session", exc))))
                continue
            self.pending[msg["id"]] = save
            forecasts.append((forecast, queued.record))
        if errors:
            deliver(errors)
        return out, forecasts

    def _forecast(self, msg: dict[str, Any], old: SessionState | None) -> tuple[dict[str, Any], SessionSave]:
        """The forecast request a session request asks for, and the state to save once it is answered; `old`:
        an observe's session as it was read (None: gone)."""
        session = msg[SESSION]
        base = {k: msg[k] for k in ("id", "inbox", "deadline_ms")}
        if session["op"] == OPEN:
            state = SessionState(
                str(msg["model_id"]), str(msg["sha256"]), int(msg["horizon"]), int(session["ttl_s"]), 0, np.empty(0)
            )
            size = self._window_size(state)
            window = np.asarray(msg["window"], dtype=np.float64)
            if len(window) < size:
                raise _Refused(
                    422,
                    f"window has {len(window)} values; this model's forecast reads the last "
                    f"{size}: give at least that many",
                )
            new, expected = replace(state, observed=len(window), window=window[-size:]), None
            horizon = state.horizon
        else:
            if old is None:
                raise _gone(session["id"])
            self._window_size(old)  # the model is still the session's (its checkpoint verified)
            new, expected = _observed(session, old, msg["values"]), old.observed
            horizon = int(msg.get("horizon") or old.horizon)
        forecast = {**base, "model_id": new.model_id, "sha256": new.sha256, "horizon": horizon, "context": new.window}
        return forecast, SessionSave(session["id"], expected, new, stated=AFTER in session)

    def _window_size(self, state: SessionState) -> int:
        """Values one forecast of the session's model reads; refused for a model a session cannot serve (each
        model looked up once a turn)."""
        key = (state.model_id, state.sha256)
        size = self._sizes.get(key)
        if size is None:
            size = self._sizes[key] = self._judge(state)
        if isinstance(size, _Refused):
            raise _Refused(size.status, size.detail)  # a fresh one: a raise adds to its exception's traceback
        return size

    def _judge(self, state: SessionState) -> int | _Refused:
        try:
            loaded = self.cache.get(state.model_id, state.sha256)
        except ModelUnavailable as exc:
            return _Refused(exc.status, exc.detail)
        transform = loaded.transform
        if transform.width:
            return _Refused(
                422,
                f"this model reads covariates ({', '.join(transform.covariates)}) from its "
                f"dataset's timestamps, and a session's values carry none: forecast it with "
                f"POST /v1/models/{{id}}/forecast and a `context_start` instead",
            )
        return transform.context(loaded.checkpoint.train.sequence_length)

    def wrap(self, deliver: SavingDeliver) -> Deliver:
        """A `Deliver` for the lane's answers: each session's answer goes out as the session's, saving its state
        in the same step (only if no other observe was saved meanwhile: else a 409 or a 404 instead)."""

        def deliver_sessions(answers: list[tuple[str, Answer]]) -> None:
            if not self.pending:  # a turn of plain forecasts
                deliver(answers, [])
                return
            plain: list[tuple[str, Answer]] = []
            saving: list[tuple[SessionSave, str, Answer]] = []
            # when a saved session expires, by its time to live: formatted once a delivery
            now, expiries = now_ms(), dict[int, str]()
            for inbox, answer in answers:
                save = self.pending.pop(answer.request_id, None)
                if save is not None and answer.status == 200:
                    ttl = save.state.ttl_s
                    if (expires_at := expiries.get(ttl)) is None:
                        expires_at = expiries[ttl] = iso_ms(now + ttl * 1000)
                    saving.append((save, inbox, _session_answer(answer, save, expires_at)))
                else:
                    plain.append((inbox, answer))
            saved = deliver(plain, saving)
            refused = [(inbox, _refusal(answer.request_id, save.session_id, n))
                       for (save, inbox, answer), n in zip(saving, saved, strict=True) if n != 1]
            if refused:
                deliver(refused, [])

        return deliver_sessions


def _observed(session: dict[str, Any], old: SessionState, values: list[float]) -> SessionState:
    """The state an observe makes of `old`: with its values seen; with an `after` it states (common.sessions), `old`
    itself where they were already applied (it is answered as then, and saved unchanged: only if nothing moved
    on meanwhile), or refused where the session is at another count."""
    if AFTER not in session:
        return old.seen(values)
    after = int(session[AFTER])
    if old.observed == after:
        return old.seen(values)
    if old.applied(after, values):
        return old
    raise _Refused(409, f"session {session['id']!r} has seen {old.observed} values, not {after} (this observe's "
                        f"`after`); nothing of this observe was saved: read the session (GET /v1/sessions/"
                        f"{session['id']}) to see where it is")


def _session_answer(answer: Answer, save: SessionSave, expires_at: str) -> Answer:
    """A forecast's answer as its session's, once its state is saved."""
    head = orjson.dumps({"session_id": save.session_id, "observed": save.state.observed, "expires_at": expires_at})
    # The forecast's body goes in as the worker made it: no second parse and encode of the predictions.
    return Answer(answer.request_id, 200, answer.batch, f'{head.decode()[:-1]},"forecast":{answer.body}}}')


def _refusal(request_id: str, session_id: str, saved: int) -> Answer:
    """The answer to an observe whose state was not saved: its session is gone (-1) or moved on (0)."""
    if saved == -1:
        return error_answer(request_id, 404, gone_detail(session_id))
    return error_answer(
        request_id,
        409,
        (
            f"session {session_id!r} moved on while this request ran (another observe was saved first); nothing "
            f"of this one was saved: read the session (GET /v1/sessions/{session_id}) and send these values again"
        ),
    )


def _admitted(session: Any) -> SessionState | None:
    """A session as the admission read it ([observed, state]); None (answered as gone) for one that does not
    decode."""
    try:
        observed, state = session
        return SessionState.decode(str(observed), str(state))
    except (ValueError, KeyError, TypeError):
        return None


def _session_message(raw: str) -> dict[str, Any] | None:
    """A session request, None for a plain forecast, or DROP (malformed: logged; or expired)."""
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None  # the lane's parser drops (and logs) it
    session = msg.get(SESSION) if isinstance(msg, dict) else None
    if session is None:
        return None
    try:
        ok = _well_formed(msg, session)
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        log.error("malformed session request dropped: %.200r", raw)
        return DROP
    return msg if int(msg["deadline_ms"]) > now_ms() else DROP


def _well_formed(msg: dict[str, Any], session: dict[str, Any]) -> bool:
    """Raises KeyError, TypeError or ValueError for some of what is not."""
    if not all(is_id(str(v)) for v in (msg["id"], msg["inbox"], session["id"])) or int(msg["deadline_ms"]) <= 0:
        return False
    if session["op"] == OPEN:
        return (is_id(str(msg["model_id"])) and int(session["ttl_s"]) >= 1 and int(msg["horizon"]) >= 1
                and isinstance(msg["window"], list))
    return (session["op"] == OBSERVE and isinstance(msg["values"], list) and len(msg["values"]) >= 1
            and (AFTER not in session or (type(session[AFTER]) is int and session[AFTER] >= 0)))
