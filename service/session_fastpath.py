"""A session's observe, answered in front of FastAPI's routing (service.fastpath.JsonFastPath, as forecasts are).

An observe comes once per value of every open session. A well-formed `POST /v1/sessions/{id}/observe` with a
JSON body is validated here by the route's own model (`SessionObserve`) and answered through the same lane as
the route (`routes.sessions`); a session id that is not one goes on to the route, which answers its 404.
"""

from __future__ import annotations

from rnncast.common.values import is_id
from rnncast.service.fastpath import Answered, JsonFastPath
from rnncast.service.forecast_ask import ask_lane, batch_header
from rnncast.service.schemas.sessions import SessionObserve
from rnncast.service.session_calls import observe_message


class SessionFastPath(JsonFastPath):
    WHAT = "an observe"

    async def target(self, given_id: str) -> str | None:
        return given_id if is_id(given_id) else None

    async def answer(self, target: str, request: SessionObserve) -> Answered:
        state = self.api.state
        answer = await ask_lane(state.lane, state.settings, observe_message(target, request))
        return Answered(answer.status, answer.body.encode(), batch_header(answer))
