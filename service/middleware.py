"""Pure ASGI middleware: request-body size limit and Prometheus request metrics."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rnncast.service.gate import route_path

REQUESTS = Counter("rnncast_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "rnncast_http_request_duration_seconds", "HTTP request latency", ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


async def _send_413(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"request body is larger than {limit} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """413 for a body over `limit` bytes, declared or streamed, before any handler runs.

    A declared length is checked from the headers. A body without one (chunked)
    is read here, up to the limit, before the app sees it: the app's own body
    parsing would turn an error raised mid-read into a 400.
    """

    def __init__(self, app: ASGIApp, limit: int, paths: list[tuple[str, str, int]] | None = None) -> None:
        """Args:
            paths: (method, path pattern, limit): another limit for the paths that match (whole), e.g. a
                larger one for uploads, a smaller one for forecasts.
        """
        self.app, self.default = app, limit
        self.paths = [(method, re.compile(pattern), size) for method, pattern, size in paths or []]

    def limit_for(self, scope: Scope) -> int:
        path = route_path(scope).rstrip("/")
        return next((size for method, pattern, size in self.paths
                     if method == scope["method"] and pattern.fullmatch(path)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.strip().isdigit() or int(declared) > limit:
                await _send_413(send, limit)
                return
            await self.app(scope, receive, send)
            return
        if b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > limit:
                await _send_413(send, limit)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
]


class SecureHeaders:
    """Adds a Content-Security-Policy (no inline script, no other origin) and related headers to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, secured)


class Metrics:
    """Counts requests and their latency by method, route template and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            # FastAPI keeps the full template (with router prefixes) in its
            # effective route context; plain Starlette routes carry it themselves.
            context: Any = scope.get("fastapi", {}).get("effective_route_context")
            path = getattr(context, "path", None) or getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            REQUESTS.labels(method, path, str(status)).inc()
            LATENCY.labels(method, path).observe(time.perf_counter() - began)
