"""The client's streaming-session calls and result types (`Client` has them through `SessionCalls`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any, Self, TypeVar

import httpx
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.protocol import State
from websockets.sync.client import ClientConnection, connect

from rnncast.client.errors import ApiUnavailable, InvalidRequest, NoAnswer, NotFound, RnncastError
from rnncast.client.transport import Transport, error_for, json_body
from rnncast.client.types import Forecast, _Result
from rnncast.common.defaults import FORECAST_HORIZON
from rnncast.common.sessions import STREAM_GONE, STREAM_IDLE, STREAM_PATH, STREAM_TOO_BIG

T = TypeVar("T")


class SessionForecast(_Result):
    """A session's answer: its forecast from every value seen so far (`observed` of them)."""

    session_id: str
    observed: int
    expires_at: str
    forecast: Forecast


class Session(_Result):
    session_id: str
    model_id: str
    horizon: int
    ttl_s: int
    observed: int
    window_size: int
    expires_at: str


class SessionStream:
    """A session's stream (`Client.stream_session`): each `observe` is a message on one WebSocket, answered in
    order, at a fraction of a request's cost to the server. A stream the server closed while it was idle (for want
    of messages, or restarting) is opened again by the next observe, which it had not read. Given the session's
    count (`observed`), each observe states it (`after`: docs, Streaming sessions) and is applied once, so one whose
    stream is lost under it (a connection dropped, the API restarting) is sent again on a new stream. Use it as a
    context manager to close it."""

    RESENDS = 1  # an observe's sends after its first, where it states the count and its stream was lost

    def __init__(self, session_id: str, opener: Callable[[], ClientConnection], timeout: float,
                 observed: int | None = None) -> None:
        self.session_id, self._opener, self._timeout = session_id, opener, timeout
        self.observed = observed  # the session's count as last answered, where it was given (None: not stated)
        self._ended: str | None = None  # why no observe may go out on it any more
        self._socket: ClientConnection | None = opener()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._end("it was closed")

    def _end(self, why: str) -> None:
        self._ended = self._ended or why
        self._drop()

    def _drop(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def observe(self, values: Sequence[float], *, horizon: int | None = None) -> SessionForecast:
        """As `SessionCalls.observe`, on the stream; raises as it does for the answer's status (NotFound also ends
        the stream). An observe that gets no answer within the client's timeout, or whose stream is lost (and,
        stating the count, lost again when sent again), raises ApiUnavailable and ends the stream: it may or may
        not have been applied, and its answer may still come, which no later observe may take for its own."""
        after = self.observed
        message = json_body(_observe_body(values, horizon, after)).decode()
        resends, reopen = self.RESENDS if after is not None else 0, False
        while True:
            try:
                socket = self._open(reopen)
            except RnncastError as exc:
                if not reopen:
                    raise
                self._end("it could not be opened again")  # after an idle close, or to send this observe again
                if resends < self.RESENDS and isinstance(exc, ApiUnavailable):
                    raise ApiUnavailable(f"{exc}{_resend_hint(after)}") from None
                raise
            try:
                socket.send(message)
                text = socket.recv(timeout=self._timeout)
                break
            except TimeoutError:
                self._end(f"no answer came in {self._timeout:g} s")
                raise ApiUnavailable(f"no answer on session {self.session_id}'s stream in {self._timeout:g} s; the "
                                     f"stream is closed{_resend_hint(after)}") from None
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else None
                self._drop()
                if code == STREAM_IDLE and not reopen:  # closed for idleness: it read nothing of this one
                    reopen = True
                elif resends and code not in (STREAM_GONE, STREAM_TOO_BIG):
                    resends, reopen = resends - 1, True  # applied or not, it is applied once: sent again
                else:
                    self._end("an observe failed on it")
                    error = _closed(self.session_id, code, exc)
                    if isinstance(error, ApiUnavailable):
                        error = ApiUnavailable(f"{error}{_resend_hint(after)}")
                    raise error from None
            except BaseException:  # an interrupt: an answer is owed on this stream, which no later observe may take
                self._end("an observe on it was interrupted")
                raise
        answer = json.loads(text)
        status = answer.pop("status")
        if status != 200:
            raise error_for(status, json.dumps(answer))
        result = SessionForecast.model_validate(answer)
        if after is not None:
            self.observed = result.observed
        return result

    def _open(self, reopen: bool) -> ClientConnection:
        """The stream, open: opened again where the server closed it while it was idle (for want of messages, or
        restarting: nothing of this observe has gone out on it), or where `reopen` says so (this observe's
        stream was closed idle, or lost under it); while the API restarts, tried until the client's timeout."""
        if self._ended is not None:
            raise ApiUnavailable(f"session {self.session_id}'s stream is closed: {self._ended}")
        if self._socket is not None and self._socket.protocol.state is not State.OPEN:
            self._drop()
        elif self._socket is None and not reopen:
            raise ApiUnavailable(f"session {self.session_id}'s stream is closed")
        if self._socket is None:
            try:
                opened = _tried_until(self._timeout, self._opener, ApiUnavailable)
            except NotFound:
                self._end("the session is gone")
                raise
            if self._ended is not None:  # closed meanwhile (another thread)
                opened.close()
                raise ApiUnavailable(f"session {self.session_id}'s stream is closed: {self._ended}")
            self._socket = opened
        return self._socket


def _tried_until(seconds: float, attempt: Callable[[], T], again_on: type[Exception]) -> T:
    """`attempt()`, tried again on `again_on` (paused 0.2 s, then twice as long, at most 2 s) for up to `seconds`
    (an API restarting)."""
    deadline, pause = time.monotonic() + seconds, 0.2
    while True:
        try:
            return attempt()
        except again_on:
            if time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(2 * pause, 2.0)


def _resend_hint(after: int | None) -> str:
    """How to send a failed observe's values again."""
    if after is None:
        return ("; it may or may not have been applied: read the session's `observed` before sending its values "
                "again")
    return (f"; to send its values again, applied once, open the session's stream with observed={after} (the count "
            f"they follow) and observe them as they were")


def _observe_body(values: Sequence[float], horizon: int | None, after: int | None = None) -> dict[str, Any]:
    """An observe's body, over HTTP or on a stream."""
    body: dict[str, Any] = {"values": list(values)}
    if horizon is not None:
        body["horizon"] = horizon
    if after is not None:
        body["after"] = after
    return body


def _closed(session_id: str, code: int | None, exc: ConnectionClosed) -> RnncastError:
    """What a stream closed under an observe says (its close code, common.sessions)."""
    if code == STREAM_GONE:
        return NotFound(f"session {session_id} is gone: its stream was closed", status=404)
    if code == STREAM_TOO_BIG:
        return InvalidRequest(f"the observe was over the server's message limit (RNNCAST_MAX_BODY_BYTES): {exc}",
                              status=413)
    return ApiUnavailable(f"session {session_id}'s stream closed: {exc}")


class SessionCalls(Transport):
    """`/v1/models/{id}/sessions` and `/v1/sessions` as methods. An observe that states its count (`after`) is
    sent again where it got no answer (the API unreachable, a connection dropped), until the client's timeout;
    opening, and an observe without it, are not."""

    def open_session(
        self,
        model_id: str,
        window: Sequence[float],
        *,
        horizon: int = FORECAST_HORIZON,
        ttl_s: int | None = None,
    ) -> SessionForecast:
        """Open a session with its first `window` (at least the values one forecast of the model reads)."""
        body: dict[str, Any] = {"window": list(window), "horizon": horizon}
        if ttl_s is not None:
            body["ttl_s"] = ttl_s
        answer = self._request("POST", f"/v1/models/{model_id}/sessions", retry=False, json=body)
        return SessionForecast.model_validate(answer.json())

    def observe(
        self, session_id: str, values: Sequence[float], *, horizon: int | None = None, after: int | None = None
    ) -> SessionForecast:
        """Append `values` to the session; its forecast from there (a 409 Conflict: another observe won a race).
        `after`: the session's count they follow (docs, Streaming sessions): applied once however often sent."""
        path, body = f"/v1/sessions/{session_id}/observe", _observe_body(values, horizon, after)

        def send() -> httpx.Response:
            return self._request("POST", path, retry=after is not None, json=body)

        # With `after`, one that got no answer (unreachable, or the connection went: an API restarting) is sent
        # again, applied once.
        answer = send() if after is None else _tried_until(self.timeout, send, NoAnswer)
        return SessionForecast.model_validate(answer.json())

    def stream_session(self, session_id: str, observed: int | None = None) -> SessionStream:
        """Open the session's stream: its observes as messages on one WebSocket (`SessionStream.observe`). Raises
        as a request does for a refused upgrade (404: the session is gone; 429: the API holds its most streams).
        `observed`: the session's count now (an open's or an observe's answer has it), so that every observe
        states it (`after`) and one whose stream is lost under it is sent again, applied once."""
        scheme, _, rest = self.base_url.partition("://")
        url = f"{'wss' if scheme == 'https' else 'ws'}://{rest}{STREAM_PATH.format(session_id=session_id)}"
        auth = self._http.headers.get("Authorization")

        def opener() -> ClientConnection:
            try:
                return connect(url, additional_headers={"Authorization": auth} if auth else None,
                               open_timeout=self.timeout, compression=None, max_size=16 * 2**20).__enter__()
            except InvalidStatus as exc:
                raise error_for(exc.response.status_code, bytes(exc.response.body or b"")) from None
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                raise ApiUnavailable(f"cannot open session {session_id}'s stream at {self.base_url}: {exc}") from None

        return SessionStream(session_id, opener, self.timeout, observed)

    def session(self, session_id: str) -> Session:
        return self._get(f"/v1/sessions/{session_id}", Session)

    def end_session(self, session_id: str) -> None:
        self._request("DELETE", f"/v1/sessions/{session_id}", retry=True)
