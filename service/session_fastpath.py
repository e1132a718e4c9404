"""A session's observe, answered in front of FastAPI's routing (as service.fastpath answers forecasts).

An observe comes once per value of every open session, and FastAPI's per-request machinery would cost
several times what the validation and the lane do. A well-formed `POST /v1/sessions/{id}/observe` with a
JSON body is validated here by the route's own model (`SessionObserve`; a refusal in the route's exact
shape) and answered through the same lane as the route (`routes.sessions.ask`); anything else (a bad id,
JSON that does not parse, another content type) goes on to FastAPI with its body replayed. It sits inside the
Gate and the body limit, as the forecast fast path does.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

import orjson
import redis
from fastapi import FastAPI, HTTPException
from fastapi.encoders import jsonable_encoder
from pydantic import TypeAdapter, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rnncast.common.values import is_id
from rnncast.service.errors import validation_detail
from rnncast.service.fastpath import _media, _read_body, _respond, _respond_error
from rnncast.service.forecast_ask import ask_lane as ask
from rnncast.service.gate import route_path
from rnncast.service.schemas.sessions import SessionObserve
from rnncast.service.session_calls import batch_header, observe_message

log = logging.getLogger(__name__)
OBSERVE = re.compile(r"/v1/sessions/([^/]+)/observe")
REQUEST: TypeAdapter[SessionObserve] = TypeAdapter(SessionObserve)


@dataclass(frozen=True)
class _Route:
    """What the Metrics middleware reads to label the request (as FastAPI's routes carry it)."""

    path: str = "/v1/sessions/{session_id}/observe"


ROUTE = _Route()


class SessionFastPath:
    """Answers well-formed observes without FastAPI's routing; hands every other request on."""

    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app, self.api = app, api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = OBSERVE.fullmatch(route_path(scope)) if scope["type"] == "http" and scope["method"] == "POST" else None
        if match is None or not is_id(match.group(1)) or _media(scope) != b"application/json":
            await self.app(scope, receive, send)
            return
        body, messages = await _read_body(receive)
        try:
            parsed = orjson.loads(body)  # what orjson refuses (NaN), the route judges
        except orjson.JSONDecodeError:
            async def replay() -> Message:
                return messages.pop(0) if messages else await receive()

            await self.app(scope, replay, send)
            return
        scope["route"] = ROUTE
        try:
            request = REQUEST.validate_python(parsed)
        except ValidationError as exc:  # the route's 422, word for word
            detail = jsonable_encoder(validation_detail(exc.errors(include_url=False), ("body",)))
            await _respond(send, 422, json.dumps({"detail": detail}).encode())
            return
        try:
            answer = await ask(self.api.state.lane, self.api.state.settings, observe_message(match.group(1), request))
        except HTTPException as exc:
            await _respond_error(send, exc)
            return
        except redis.RedisError as exc:
            log.warning("Redis error on an observe: %s", exc)
            await _respond(send, 503, json.dumps({"detail": "Redis (the job store) is unavailable; retry shortly"})
                           .encode(), {"Retry-After": "5"})
            return
        await _respond(send, answer.status, answer.body.encode(), batch_header(answer))
