"""The hot paths, as pure ASGI in front of FastAPI's routing: a forecast, and a session's observe
(service.session_fastpath).

These are the requests that come by the thousand per second, and under load FastAPI's per-request machinery
(route matching over every route, dependency resolution, the security-scheme dependencies declared for the
OpenAPI schema) cost the API process several times what the validation and the lane do. `JsonFastPath` is
what both share: a `POST` to its path with a JSON body that the route's own pydantic model accepts is answered
here, through the same lane, with the same answer bytes, status and headers as the route. A body it parsed and
refused (a bad field, a limit exceeded) is answered here too, in the route's exact shape, so no body is parsed
twice; anything else (JSON that does not parse, an id the route must judge, another content type) goes on to
FastAPI with its body replayed. Both sit inside the Gate and the body limit: auth and size checks come first,
as for every request.

The forecast's (`routes.models.forecast`'s): a short id (or an `@alias`) is resolved here as the routes resolve it
(service.ids).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
import redis
from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rnncast.common.values import is_id
from rnncast.service.errors import REDIS_DOWN, RETRY_AFTER_S, AmbiguousId, body_errors
from rnncast.service.forecast_ask import ask_forecast, batch_header
from rnncast.service.gate import route_path
from rnncast.service.ids import resolve
from rnncast.service.route_paths import body_model, path_pattern
from rnncast.service.schemas import ForecastRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RouteLabel:
    """What the Metrics middleware reads to label the request (as FastAPI's routes carry it)."""

    path: str


@dataclass(frozen=True)
class Answered:
    """A fast path's answer: status, body, headers."""

    status: int
    body: bytes
    headers: dict[str, str] | None = None


def _media(scope: Scope) -> bytes:
    return dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()


async def _read_body(receive: Receive) -> tuple[bytes, list[Message]] | None:
    """The whole body and the messages that brought it; None when it ended before its last byte (the client left,
    or the body guard cut it off and answered 413 or 408): what came is not the request, and nothing answers it."""
    chunks, messages = [], []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), messages


async def _respond(send: Send, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _json(content: Any) -> bytes:
    """`content` as the routes' errors render it (Starlette's JSONResponse): the same bytes either way."""
    return bytes(JSONResponse(content).body)


def _error(error: HTTPException) -> Answered:
    """The route's answer for `error` (its status, detail and headers)."""
    return Answered(error.status_code, _json({"detail": error.detail}), dict(error.headers or {}))


class JsonFastPath:
    """Answers a route's well-formed requests without FastAPI's routing; hands every other request on.

    It is given the route it answers for (by service.main, which alone imports routers): its path and its body's
    model are read from that route (service.route_paths), so the two cannot drift apart. A subclass says how it
    names its target (`target`) and answers (`answer`), and `WHAT` it answers (for the log)."""

    WHAT: ClassVar[str]

    def __init__(self, app: ASGIApp, api: FastAPI, route: APIRoute, prefix: str) -> None:
        self.app, self.api = app, api
        self.request = body_model(route)
        self.pattern = re.compile(path_pattern(prefix, route))  # its one path parameter, captured
        self.label = RouteLabel(prefix + route.path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        post = scope["type"] == "http" and scope["method"] == "POST"
        match = self.pattern.fullmatch(route_path(scope)) if post else None
        if match is None or _media(scope) != b"application/json":
            await self.app(scope, receive, send)
            return
        scope["route"] = self.label  # for Metrics, whether or not the body comes whole
        read = await _read_body(receive)
        if read is None:
            return
        body, messages = read
        try:
            answered = await self._answer(scope, match.group(1), body)
        except redis.RedisError as exc:
            log.warning("Redis error on %s: %s", self.WHAT, exc)
            answered = Answered(503, _json({"detail": REDIS_DOWN}), {"Retry-After": RETRY_AFTER_S})
        if answered is None:  # FastAPI answers it (and its error) as the route always has
            async def replay() -> Message:
                return messages.pop(0) if messages else await receive()

            await self.app(scope, replay, send)
            return
        await _respond(send, answered.status, answered.body, answered.headers)

    async def _answer(self, scope: Scope, given_id: str, body: bytes) -> Answered | None:
        """The answer, or None for what only the route can answer."""
        try:
            target = await self.target(given_id)
        except AmbiguousId as exc:
            return Answered(409, _json(exc.body()))
        except HTTPException as exc:
            return _error(exc)
        if target is None:
            return None
        try:
            parsed = orjson.loads(body)  # the route's parser (json) takes more (NaN): what orjson refuses, it judges
        except orjson.JSONDecodeError:
            return None
        try:  # validated as the route validates it (Python mode): the same errors, word for word
            request = self.request.validate_python(parsed)
        except ValidationError as exc:
            detail = body_errors(exc)
            return Answered(422, _json({"detail": detail}))
        try:
            return await self.answer(target, request)
        except HTTPException as exc:  # the route's errors (a full lane, no model yet, no worker)
            return _error(exc)

    async def target(self, given_id: str) -> str | None:
        """The path's id as the route reads it; None to leave the request to the route. May raise AmbiguousId or
        HTTPException, answered as the route answers them."""
        raise NotImplementedError

    async def answer(self, target: str, request: Any) -> Answered:
        raise NotImplementedError


class ForecastFastPath(JsonFastPath):
    WHAT = "a forecast"

    async def target(self, given_id: str) -> str | None:
        model_id = await resolve(self.api.state.store, "model_id", given_id)  # a short id, as every route takes it
        return model_id if is_id(model_id) else None

    async def answer(self, target: str, request: ForecastRequest) -> Answered:
        state = self.api.state
        answer = await ask_forecast(state.lane, state.settings, target, request.model_dump(exclude_none=True))
        return Answered(answer.status, answer.body.encode(), batch_header(answer))
