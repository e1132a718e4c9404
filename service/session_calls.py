"""What the session routes and the observe fast path (service.session_fastpath) share: a session request on the
forecast lane."""

from __future__ import annotations

from typing import Any

from rnncast.common.sessions import AFTER, OBSERVE, SESSION
from rnncast.service.schemas.sessions import SessionObserve


def observe_message(session_id: str, body: SessionObserve) -> dict[str, Any]:
    session: dict[str, Any] = {"op": OBSERVE, "id": session_id}
    if body.after is not None:
        session[AFTER] = body.after
    message: dict[str, Any] = {"values": body.values, SESSION: session}
    if body.horizon is not None:
        message["horizon"] = body.horizon
    return message
