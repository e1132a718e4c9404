"""One forecast asked of the lane, and its failures as HTTP errors: the route's and the fast path's one body."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, status

from rnncast.common.forecasts import Answer
from rnncast.common.sessions import SESSION, gone_detail
from rnncast.common.settings import Settings
from rnncast.service.ids import missing_model
from rnncast.service.lane import ForecastLane, LaneFull, NoModel, SessionGone
from rnncast.service.rpc import lane_full, no_worker


def session_gone(session_id: str) -> HTTPException:
    """The 404 of a session that is not there, whichever call finds it gone (the worker's says the same)."""
    return HTTPException(status.HTTP_404_NOT_FOUND, gone_detail(session_id))


def batch_header(answer: Answer) -> dict[str, str] | None:
    """A lane answer's header: how many requests shared its rollout (a 200's only)."""
    return {"X-Rnncast-Batch": str(answer.batch)} if answer.status == 200 else None


async def ask_forecast(lane: ForecastLane, settings: Settings, model_id: str, request: dict[str, Any]) -> Answer:
    """The worker's answer to `request` for `model_id` (its 200 or its own error). Raises HTTPException: 429 when
    the lane is full, 404 or 409 when the model has no record (`ids.missing_model`), 503 when no worker answered
    in time; redis.RedisError when Redis could not be reached."""
    return await ask_lane(lane, settings, {"model_id": model_id, **request})


async def ask_lane(lane: ForecastLane, settings: Settings, message: dict[str, Any]) -> Answer:
    """The worker's answer to any lane `message` (a forecast, a session's), its failures as ask_forecast's."""
    try:
        answer = await lane.ask(message, settings.forecast_timeout)
    except LaneFull:
        raise lane_full("forecast", "RNNCAST_MAX_QUEUED_FORECASTS") from None
    except NoModel as exc:
        raise missing_model(str(message.get("model_id")), exc.job) from None
    except SessionGone:
        raise session_gone(message[SESSION]["id"]) from None
    if answer is None:
        raise no_worker(settings)
    return answer
