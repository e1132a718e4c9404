"""The client's streaming-session calls and result types (`Client` has them through `SessionCalls`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Self

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.protocol import State
from websockets.sync.client import ClientConnection, connect

from rnncast.client.errors import ApiUnavailable, InvalidRequest, NotFound, RnncastError
from rnncast.client.transport import Transport, error_for, json_body
from rnncast.client.types import Forecast, _Result
from rnncast.common.defaults import FORECAST_HORIZON
from rnncast.common.sessions import STREAM_GONE, STREAM_IDLE, STREAM_PATH, STREAM_TOO_BIG


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
    of messages, or restarting) is opened again by the next observe, which it had not read. Use it as a context
    manager to close it."""

    def __init__(self, session_id: str, opener: Callable[[], ClientConnection], timeout: float) -> None:
        self.session_id, self._opener, self._timeout = session_id, opener, timeout
        self._socket: ClientConnection | None = opener()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def observe(self, values: Sequence[float], *, horizon: int | None = None) -> SessionForecast:
        """As `SessionCalls.observe`, on the stream; raises as it does for the answer's status (NotFound also ends
        the stream). A stream that fails (no answer within the client's timeout, a connection lost) is closed:
        this observe may or may not have been applied, so read the session's `observed` before sending its
        values again; a later observe raises ApiUnavailable."""
        message = json_body(_observe_body(values, horizon)).decode()
        for again in (True, False):
            if self._socket is None:
                raise ApiUnavailable(f"session {self.session_id}'s stream is closed")
            if self._socket.protocol.state is not State.OPEN:  # the server closed it while it was idle (a restart,
                self._socket.close()  # an idle close): nothing of this observe has gone out, so a new one is safe
                self._socket = None
                self._socket = self._opener()
            try:
                self._socket.send(message)
                text = self._socket.recv(timeout=self._timeout)
                break
            except TimeoutError:
                self.close()  # its answer may still come: no later observe may take it for its own
                raise ApiUnavailable(f"no answer on session {self.session_id}'s stream in {self._timeout:g} s; "
                                     "the stream is closed") from None
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else None
                self.close()
                if again and code == STREAM_IDLE:
                    self._socket = self._opener()
                    continue
                raise _closed(self.session_id, code, exc) from None
        answer = json.loads(text)
        status = answer.pop("status")
        if status != 200:
            raise error_for(status, json.dumps(answer))
        return SessionForecast.model_validate(answer)


def _observe_body(values: Sequence[float], horizon: int | None) -> dict[str, Any]:
    """An observe's body, over HTTP or on a stream."""
    body: dict[str, Any] = {"values": list(values)}
    if horizon is not None:
        body["horizon"] = horizon
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
    """`/v1/models/{id}/sessions` and `/v1/sessions` as methods. Opening and observing are not retried: a
    repeated observe would append its values twice."""

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
        self, session_id: str, values: Sequence[float], *, horizon: int | None = None
    ) -> SessionForecast:
        """Append `values` to the session; its forecast from there (a 409 Conflict: another observe won a race)."""
        answer = self._request("POST", f"/v1/sessions/{session_id}/observe", retry=False,
                               json=_observe_body(values, horizon))
        return SessionForecast.model_validate(answer.json())

    def stream_session(self, session_id: str) -> SessionStream:
        """Open the session's stream: its observes as messages on one WebSocket (`SessionStream.observe`). Raises
        as a request does for a refused upgrade (404: the session is gone; 429: the API holds its most streams)."""
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

        return SessionStream(session_id, opener, self.timeout)

    def session(self, session_id: str) -> Session:
        return self._get(f"/v1/sessions/{session_id}", Session)

    def end_session(self, session_id: str) -> None:
        self._request("DELETE", f"/v1/sessions/{session_id}", retry=True)
