"""The forecast endpoint's hot path, as pure ASGI in front of FastAPI's routing.

A forecast is the one request that comes by the thousand per second, and under
load FastAPI's per-request machinery (route matching over every route,
dependency resolution, the security-scheme dependencies declared for the
OpenAPI schema) cost the API process several times what the validation and
the lane do. So a well-formed request to `POST /v1/models/{id}/forecast` with
a JSON body that the same pydantic model (`ForecastRequest`) accepts, within
the server's limits, is answered here: the same lane, the same answer bytes,
status and headers as the route. A body it parsed and refused (a bad field, a
limit exceeded) is answered here too, in the route's exact shape, so no body is
parsed twice; anything else (JSON that does not parse, an id that names no
record, another content type) goes on to FastAPI with its body replayed. A short
id (or an `@alias`) is resolved here as the routes resolve it (service.ids). It sits inside the
Gate and the body limit: auth and size checks come first, as for every request.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import orjson
import redis
from fastapi import FastAPI, HTTPException
from fastapi.encoders import jsonable_encoder
from pydantic import TypeAdapter, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rnncast.common.values import is_id
from rnncast.service.errors import AmbiguousId, validation_detail
from rnncast.service.forecast_ask import ask_forecast
from rnncast.service.gate import route_path
from rnncast.service.ids import resolve
from rnncast.service.schemas import ForecastRequest

log = logging.getLogger(__name__)
FORECAST = re.compile(r"/v1/models/([^/]+)/forecast")
REQUEST: TypeAdapter[ForecastRequest] = TypeAdapter(ForecastRequest)


@dataclass(frozen=True)
class _Route:
    """What the Metrics middleware reads to label the request (as FastAPI's routes carry it)."""

    path: str = "/v1/models/{model_id}/forecast"


ROUTE = _Route()


def _media(scope: Scope) -> bytes:
    return dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()


async def _read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    chunks, messages = [], []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks), messages


async def _respond(send: Send, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _respond_error(send: Send, error: HTTPException) -> None:
    """The route's answer for `error` (its status, detail and headers)."""
    await _respond(send, error.status_code, json.dumps({"detail": error.detail}).encode(), dict(error.headers or {}))


class ForecastFastPath:
    """Answers valid forecast requests without FastAPI's routing; hands every other request on."""

    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app, self.api = app, api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = FORECAST.fullmatch(route_path(scope)) if scope["type"] == "http" and scope["method"] == "POST" else None
        if match is None or _media(scope) != b"application/json":
            await self.app(scope, receive, send)
            return
        body, messages = await _read_body(receive)
        try:
            answered = await self._answer(scope, send, match.group(1), body)
        except redis.RedisError as exc:
            log.warning("Redis error on a forecast: %s", exc)
            await _respond(send, 503, json.dumps({"detail": "Redis (the job store) is unavailable; retry shortly"})
                           .encode(), {"Retry-After": "5"})
            return
        if not answered:  # FastAPI answers it (and its error) as the route always has
            async def replay() -> Message:
                return messages.pop(0) if messages else await receive()

            await self.app(scope, replay, send)

    async def _answer(self, scope: Scope, send: Send, given_id: str, body: bytes) -> bool:
        """Answer the request here; False for what only the route can answer."""
        try:
            model_id = await resolve(self.api.state.store, "model_id", given_id)  # a short id, as every route takes it
        except AmbiguousId as exc:
            await _respond(send, 409, json.dumps(exc.body()).encode())
            return True
        except HTTPException as exc:  # an alias misnamed or unknown, as the routes answer it
            await _respond_error(send, exc)
            return True
        request = self._accept(model_id, body)
        if request is None:
            return False
        if isinstance(request, _Refusal):
            await _respond(send, 422, json.dumps({"detail": request.detail}).encode())
            return True
        scope["route"] = ROUTE
        try:
            answer = await ask_forecast(self.api.state.lane, self.api.state.settings, model_id, request)
        except HTTPException as exc:  # the route's errors (a full lane, no model yet, no worker)
            await _respond_error(send, exc)
            return True
        await _respond(send, answer.status, answer.body.encode(),
                       {"X-Rnncast-Batch": str(answer.batch)} if answer.status == 200 else None)
        return True

    def _accept(self, model_id: str, body: bytes) -> dict[str, Any] | _Refusal | None:
        """The request as the lane takes it, if the route would accept it; the route's 422 if it would refuse
        it; None for what only the route can answer (a bad id, JSON that does not parse)."""
        if not is_id(model_id):
            return None
        try:
            parsed = orjson.loads(body)  # the route's parser (json) takes more (NaN): what orjson refuses, it judges
        except orjson.JSONDecodeError:
            return None
        try:  # validated as the route validates it (Python mode): the same errors, word for word
            request = REQUEST.validate_python(parsed)
        except ValidationError as exc:
            return _Refusal(jsonable_encoder(validation_detail(exc.errors(include_url=False), ("body",))))
        return request.model_dump(exclude_none=True)


@dataclass(frozen=True)
class _Refusal:
    """A 422's detail, as the route would give it."""

    detail: Any
