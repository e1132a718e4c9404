"""What the session routes and the observe fast path (service.session_fastpath) share: a session request on the
forecast lane, and its answer's headers."""

from __future__ import annotations

from typing import Any

from rnncast.common.forecasts import Answer
from rnncast.common.sessions import OBSERVE, SESSION
from rnncast.service.schemas.sessions import SessionObserve


def batch_header(answer: Answer) -> dict[str, str] | None:
    return {"X-Rnncast-Batch": str(answer.batch)} if answer.status == 200 else None


def observe_message(session_id: str, body: SessionObserve) -> dict[str, Any]:
    message: dict[str, Any] = {"values": body.values, SESSION: {"op": OBSERVE, "id": session_id}}
    if body.horizon is not None:
        message["horizon"] = body.horizon
    return message
