"""The client's streaming-session calls and result types (`Client` has them through `SessionCalls`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any, Self

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from rnncast.client.errors import ApiUnavailable
from rnncast.client.transport import Transport, error_for, json_body
from rnncast.client.types import Forecast, _Result
from rnncast.common.defaults import FORECAST_HORIZON
from rnncast.common.sessions import STREAM_PATH


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
    order, at a fraction of a request's cost to the server. Use it as a context manager to close it."""

    def __init__(self, opened: ExitStack, socket: ClientConnection, session_id: str, timeout: float) -> None:
        self._opened, self._socket, self.session_id, self._timeout = opened, socket, session_id, timeout

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._opened.close()

    def observe(self, values: Sequence[float], *, horizon: int | None = None) -> SessionForecast:
        """As `SessionCalls.observe`, on the stream; raises as it does for the answer's status (a 404 also ends the
        stream), ApiUnavailable when the stream has closed."""
        body: dict[str, Any] = {"values": list(values)}
        if horizon is not None:
            body["horizon"] = horizon
        message = json_body(body)
        try:
            self._socket.send(message.decode())
            text = self._socket.recv(timeout=self._timeout)
        except TimeoutError:
            raise ApiUnavailable(f"no answer on session {self.session_id}'s stream in {self._timeout:g} s") from None
        except ConnectionClosed as exc:
            raise ApiUnavailable(f"session {self.session_id}'s stream closed: {exc}") from None
        answer = json.loads(text)
        status = answer.pop("status")
        if status != 200:
            raise error_for(status, json.dumps(answer))
        return SessionForecast.model_validate(answer)


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
        body: dict[str, Any] = {"values": list(values)}
        if horizon is not None:
            body["horizon"] = horizon
        answer = self._request("POST", f"/v1/sessions/{session_id}/observe", retry=False, json=body)
        return SessionForecast.model_validate(answer.json())

    def stream_session(self, session_id: str) -> SessionStream:
        """Open the session's stream: its observes as messages on one WebSocket (`SessionStream.observe`). Raises
        as a request does for a refused upgrade (404: the session is gone; 429: the API holds its most streams)."""
        scheme, _, rest = self.base_url.partition("://")
        url = f"{'wss' if scheme == 'https' else 'ws'}://{rest}{STREAM_PATH.format(session_id=session_id)}"
        auth = self._http.headers.get("Authorization")
        opened = ExitStack()
        try:
            socket = opened.enter_context(connect(url, additional_headers={"Authorization": auth} if auth else None,
                                                  open_timeout=self.timeout, compression=None, max_size=16 * 2**20))
        except InvalidStatus as exc:
            raise error_for(exc.response.status_code, bytes(exc.response.body or b"")) from None
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise ApiUnavailable(f"cannot open session {session_id}'s stream at {self.base_url}: {exc}") from None
        return SessionStream(opened, socket, session_id, self.timeout)

    def session(self, session_id: str) -> Session:
        return self._get(f"/v1/sessions/{session_id}", Session)

    def end_session(self, session_id: str) -> None:
        self._request("DELETE", f"/v1/sessions/{session_id}", retry=True)
