"""What the session routes and the observe fast path (service.session_fastpath) share: a session request on the
forecast lane, and its answer's headers."""

from __future__ import annotations

from typing import Any

from rnncast.common.forecasts import Answer
from rnncast.common.sessions import OBSERVE, SESSION
from rnncast.common.settings import Settings
from rnncast.service.lane import ForecastLane, LaneFull
from rnncast.service.rpc import lane_full, no_worker
from rnncast.service.schemas.sessions import SessionObserve


async def ask(lane: ForecastLane, settings: Settings, message: dict[str, Any]) -> Answer:
    """The worker's answer to a session request; raises HTTPException (429: the lane is full, 503: no worker)."""
    try:
        answer = await lane.ask(message, settings.forecast_timeout)
    except LaneFull:
        raise lane_full("forecast", "RNNCAST_MAX_QUEUED_FORECASTS") from None
    if answer is None:
        raise no_worker(settings)
    return answer


def batch_header(answer: Answer) -> dict[str, str] | None:
    return {"X-Rnncast-Batch": str(answer.batch)} if answer.status == 200 else None


def observe_message(session_id: str, body: SessionObserve) -> dict[str, Any]:
    message: dict[str, Any] = {"values": body.values, SESSION: {"op": OBSERVE, "id": session_id}}
    if body.horizon is not None:
        message["horizon"] = body.horizon
    return message
