"""The client's streaming-session calls and result types (`Client` has them through `SessionCalls`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rnncast.client.transport import Transport
from rnncast.client.types import Forecast, _Result
from rnncast.common.defaults import FORECAST_HORIZON


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

    def session(self, session_id: str) -> Session:
        return self._get(f"/v1/sessions/{session_id}", Session)

    def end_session(self, session_id: str) -> None:
        self._request("DELETE", f"/v1/sessions/{session_id}", retry=True)
