"""A session's stream: `/v1/sessions/{id}/stream`, a WebSocket whose messages are observes (pure ASGI).

An observe over HTTP pays for a request each point: uvicorn's HTTP machinery and every middleware layer
(bench/transport_floor.py, bench/api_layers.py). On a stream the upgrade pays for them once: it passes the Gate
(the key, the Host, and the cross-site check, a WebSocket counting as a state-changing request: browsers send
any page's upgrade), and then each message (text, or bytes holding the same JSON) is an observe's body
(`{"values": [...], "horizon": n, "after": n}`), validated by the observe route's own model and asked of the
same lane, answered by one message: the observe's answer with its HTTP status first, `{"status": 200, "session_id": ...,
"forecast": ...}` or `{"status": 422, "detail": ...}`, the route's errors word for word (a failure the route would
answer 500 is a 500 here, and the stream goes on). A session found gone is answered 404 and the stream closed
(4404: common.sessions' close codes).

Messages are served one at a time, in order: the next is read only once the last answer is written, so a client
that sends without reading stops being read (uvicorn pauses reading until a message is taken, a write waits
while the socket's buffer is full, and service.websocket reads nothing then, pings included). Every wait (for a
message, an answer's write, a close) is under one deadline, RNNCAST_SESSION_STREAM_IDLE_S: a stream with no
message for as long is closed (4408: nothing of it was read, so a client may open it again and go on), one whose
client takes no answer for as long just ends (service.websocket aborts its connection). A message over
RNNCAST_MAX_BODY_BYTES closes it (1009: uvicorn's `ws_max_size`, set from it by `rnncast api`, refuses it before
it is read whole; the stream checks it again under a server started otherwise). At most
RNNCAST_MAX_SESSION_STREAMS are open per API process: the upgrade beyond is answered 429.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from typing import Any

import orjson
import redis
from fastapi import FastAPI, HTTPException
from fastapi.routing import APIRoute
from prometheus_client import Counter
from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from rnncast.common.sessions import STREAM_GONE as GONE
from rnncast.common.sessions import STREAM_IDLE as IDLE
from rnncast.common.sessions import STREAM_PATH, gone_detail
from rnncast.common.sessions import STREAM_TOO_BIG as TOO_BIG
from rnncast.common.values import is_id
from rnncast.service.errors import REDIS_DOWN, RETRY_AFTER_S, NotJson, body_errors, json_body
from rnncast.service.forecast_ask import ask_lane
from rnncast.service.gate import refuse, route_path
from rnncast.service.route_paths import body_model, template_pattern
from rnncast.service.session_calls import observe_message
from rnncast.service.websocket import CLOSE_GRACE_S

log = logging.getLogger(__name__)
MESSAGES = Counter("rnncast_session_stream_messages_total", "Messages answered on session streams, by status",
                   ["status"])


def _answer(status: int, body: str) -> str:
    """A stream's answer: the HTTP answer's body (a JSON object) with its status first."""
    return f'{{"status":{status},{body[1:]}'


def _error(status: int, detail: Any) -> str:
    return _answer(status, json.dumps({"detail": detail}, separators=(",", ":")))  # as the route's JSONResponse


async def _sent(send: Send, message: dict[str, Any]) -> bool:
    """Whether `message` went out: False when the connection closed under it (uvicorn raises then: OSError once
    its client is gone, RuntimeError once it has closed the connection itself)."""
    try:
        await send(message)
    except (OSError, RuntimeError):
        return False
    return True


class SessionStream:
    """Serves `STREAM_PATH`'s WebSockets; hands every other scope on. `route` is the observe's (its body's model
    validates each message, as the observe's fast path does)."""

    def __init__(self, app: ASGIApp, api: FastAPI, route: APIRoute) -> None:
        self.app, self.api = app, api
        self.request = body_model(route)
        self.pattern = re.compile(template_pattern(STREAM_PATH))
        self.open = 0
        self._counted: dict[int, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        match = self.pattern.fullmatch(route_path(scope))
        if match is None:  # the only WebSocket there is: a typo's answer is a 404 that names it
            await refuse(scope, send, 404, f"no WebSocket at this path; a session's stream is at {STREAM_PATH}")
            return
        settings, session_id = self.api.state.settings, match.group(1)
        if self.open >= settings.max_session_streams:
            await refuse(scope, send, 429, f"this API process holds {self.open} session streams, its limit "
                                           "(RNNCAST_MAX_SESSION_STREAMS); retry later or observe over HTTP",
                         {"Retry-After": RETRY_AFTER_S})
            return
        self.open += 1  # taken before any await: two upgrades cannot both take the last place
        try:
            try:
                found = is_id(session_id) and await self.api.state.store.get_session(session_id) is not None
            except redis.RedisError as exc:
                log.warning("Redis error on a session stream's upgrade: %s", exc)
                await refuse(scope, send, 503, REDIS_DOWN, {"Retry-After": RETRY_AFTER_S})
                return
            if not found:
                await refuse(scope, send, 404, gone_detail(session_id))
                return
            if (await receive())["type"] != "websocket.connect":
                return
            await send({"type": "websocket.accept"})
            await self._serve(session_id, receive, send)
        finally:
            self.open -= 1

    async def _serve(self, session_id: str, receive: Receive, send: Send) -> None:
        """Each message answered in turn, until the client leaves or the stream is closed. A wait for a message or
        for an answer's write is under the idle deadline, a close's under CLOSE_GRACE_S, and an observe under the
        lane's own (RNNCAST_FORECAST_TIMEOUT): none holds the stream's place longer."""
        settings = self.api.state.settings
        idle_s, limit = settings.session_stream_idle_s, settings.max_body_bytes
        loop = asyncio.get_running_loop()
        close: tuple[int, str] | None = None
        try:
            async with asyncio.timeout(None) as idle:  # one deadline, moved on at each wait
                while close is None:
                    idle.reschedule(loop.time() + idle_s)
                    close = (IDLE, f"no message for {idle_s:g} s (RNNCAST_SESSION_STREAM_IDLE_S)")
                    message = await receive()  # cancelled by the deadline, it leaves a message unread
                    close = None
                    idle.reschedule(None)
                    if message["type"] != "websocket.receive":
                        return  # websocket.disconnect: the client left
                    data = message.get("text")
                    if data is None:
                        data = message.get("bytes") or b""
                    if len(data) > limit // 4 and len(data.encode() if isinstance(data, str) else data) > limit:
                        close = (TOO_BIG, f"a message over RNNCAST_MAX_BODY_BYTES ({limit} bytes)")
                        break
                    status, text = await self._observe(session_id, data)
                    self._count(status)
                    idle.reschedule(loop.time() + idle_s)
                    if not await _sent(send, {"type": "websocket.send", "text": text}):
                        return
                    if status == 404:
                        close = (GONE, "session gone")
        except TimeoutError:
            if close is None:  # an answer its client did not take in time: no close frame can go out either
                return  # (service.websocket aborts the connection)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_GRACE_S):
                await _sent(send, {"type": "websocket.close", "code": close[0], "reason": close[1]})

    async def _observe(self, session_id: str, data: str | bytes) -> tuple[int, str]:
        """A message's answer: (its status, its text); any failure is answered, as the route would (500 at worst)."""
        try:
            return await self._answered(session_id, data)
        except Exception:  # the route's 500; the stream goes on
            log.exception("a session stream's observe failed")
            return 500, _error(500, "Internal Server Error")

    async def _answered(self, session_id: str, data: str | bytes) -> tuple[int, str]:
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            try:  # what orjson refuses (NaN, a JSON error), read as the route reads it, for its errors
                parsed = json_body(data.encode() if isinstance(data, str) else data)
            except NotJson as exc:
                return 422, _error(422, exc.detail)
        try:  # the observe route's validation: the same errors, word for word
            request = self.request.validate_python(parsed)
        except ValidationError as exc:
            return 422, _error(422, body_errors(exc))
        state = self.api.state
        try:
            answer = await ask_lane(state.lane, state.settings, observe_message(session_id, request))
        except HTTPException as exc:  # the lane's refusals: full, no worker, the session gone
            return exc.status_code, _error(exc.status_code, exc.detail)
        except redis.RedisError as exc:
            log.warning("Redis error on a session stream: %s", exc)
            return 503, _error(503, REDIS_DOWN)
        return answer.status, _answer(answer.status, answer.body)

    def _count(self, status: int) -> None:
        child = self._counted.get(status)
        if child is None:
            child = self._counted[status] = MESSAGES.labels(str(status))
        child.inc()
