"""Pure ASGI middleware: request-body size and rate limits, slots for costly requests, security headers and
Prometheus request metrics."""

from __future__ import annotations

import asyncio
import json
import re
import time
import weakref
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rnncast.service.gate import route_path

CLIENT_LEFT = 499  # the status Metrics records for a request that ended unanswered (nginx's "client closed request")
REQUESTS = Counter(
    "rnncast_http_requests_total", f"HTTP requests (status {CLIENT_LEFT}: ended unanswered, its client gone)",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "rnncast_http_request_duration_seconds", "HTTP request latency", ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


async def _refuse(send: Send, code: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """An answer that ends the connection: its body may be half read."""
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": code,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class _Read:
    """One body read waiting for bytes: its task, when it is overdue, and whether the watcher cut it off. Each read
    has its own, so two reads of one body (a handler's and a disconnect listener's) neither unwatch nor cut off
    each other."""

    __slots__ = ("due", "expired", "task")

    def __init__(self, task: asyncio.Task[Any], due: float) -> None:
        self.task, self.due, self.expired = task, due, False

    def expire(self) -> None:
        """Cut the read off (its deadline passed): its guard answers 408."""
        if not self.expired:
            self.expired = True
            self.task.cancel()


class _LoopReads:
    """The reads waiting on one event loop, and the task that watches them."""

    def __init__(self) -> None:
        self.reads: set[_Read] = set()
        self.watcher: asyncio.Task[None] | None = None


class _Deadlines:
    """The body reads now waiting for bytes, each with the moment it is overdue, watched by one task per event
    loop that wakes every TICK_S while any wait and cancels an overdue read, which its guard then answers 408.
    A read whose bytes are already in never waits, so a request costs a small object and two set operations, not
    a timer armed and disarmed (asyncio.timeout's: about a tenth of an observe's CPU in the API). Each tick looks
    at every waiting read of its loop: as many as the connections whose bodies are arriving."""

    TICK_S = 0.05  # how late past its deadline a read may be cut off

    def __init__(self) -> None:
        # By loop (weakly: a loop that ends takes its reads with it); the last one looked up kept at hand (a
        # server runs one loop).
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopReads] = weakref.WeakKeyDictionary()
        self._last: tuple[weakref.ref[asyncio.AbstractEventLoop], _LoopReads] | None = None

    def _of(self, loop: asyncio.AbstractEventLoop) -> _LoopReads:
        last = self._last
        if last is not None and last[0]() is loop:
            return last[1]
        waiting = self._loops.get(loop)
        if waiting is None:
            waiting = self._loops[loop] = _LoopReads()
        self._last = (weakref.ref(loop), waiting)
        return waiting

    def watch(self, task: asyncio.Task[Any], due: float) -> _Read:
        """`task`'s read, watched until `unwatch`: cut off once it waits past `due` (monotonic seconds)."""
        loop = task.get_loop()
        waiting, read = self._of(loop), _Read(task, due)
        waiting.reads.add(read)
        if waiting.watcher is None or waiting.watcher.done():
            waiting.watcher = loop.create_task(self._watch(waiting), name="rnncast-body-deadlines")
        return read

    def unwatch(self, read: _Read) -> None:
        self._of(read.task.get_loop()).reads.discard(read)

    def waiting(self) -> int:
        """Reads waiting on the running loop."""
        return len(self._of(asyncio.get_running_loop()).reads)

    async def _watch(self, waiting: _LoopReads) -> None:
        reads = waiting.reads
        try:
            while True:  # a tick first: a read whose bytes were in is unwatched before the watcher first looks
                await asyncio.sleep(self.TICK_S)
                if not reads:
                    return  # idle for a tick: the next read that waits starts another (at most one a tick)
                now = time.monotonic()
                for read in [r for r in reads if r.due <= now]:
                    reads.discard(read)
                    read.expire()
        finally:  # a task holds its loop: an ended watcher kept would keep its loop, and the loop's entry, alive
            if waiting.watcher is asyncio.current_task():
                waiting.watcher = None


class _Guard:
    """The app's receive and send for one request body: its bytes are counted against `limit` (413) and must
    keep arriving at `rate` bytes a second after `grace_s` (408: `deadlines` cuts a read off when it is
    overdue). Either refusal is answered here, once; the app then reads a disconnect and whatever it sends is
    dropped."""

    def __init__(self, receive: Receive, send: Send, limit: int, grace_s: float, rate: float,
                 deadlines: _Deadlines) -> None:
        self._receive, self._send, self.limit, self.grace_s, self.rate = receive, send, limit, grace_s, rate
        self.deadlines = deadlines
        self.began, self.seen = time.monotonic(), 0
        self.done = self.refused = self.started = False

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        if self.done:  # the body is in: what follows (a disconnect) may come whenever it comes
            return await self._receive()
        # A message already waiting is taken even when the client is behind: the read returns before any check.
        task = asyncio.current_task()
        assert task is not None
        cancelling = task.cancelling()
        read = self.deadlines.watch(task, self.began + self.grace_s + self.seen / self.rate)
        try:
            message = await self._receive()
        except asyncio.CancelledError:
            # Ours only if nobody else cancelled the task too (as asyncio.timeout judges it).
            if not read.expired or task.uncancel() > cancelling:
                raise
            await self.refuse(408, f"the request body arrived slower than {self.rate:g} bytes a second "
                                   f"(after {self.grace_s:g} s); send it faster")
            return {"type": "http.disconnect"}
        finally:
            self.deadlines.unwatch(read)
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            self.done = not message.get("more_body", False)
            if self.seen > self.limit:
                await self.refuse(413, f"request body is larger than {self.limit} bytes")
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return
        self.started = self.started or message["type"] == "http.response.start"
        await self._send(message)

    async def refuse(self, code: int, detail: str) -> None:
        if self.refused:  # two reads cut off at once: one answer
            return
        self.refused = True
        if not self.started:
            await _refuse(self._send, code, detail)


class BodyLimit:
    """413 for a body over `limit` bytes, declared or streamed; 408 for one that arrives too slowly.

    A declared length is checked from the headers, before any handler runs. A
    body's bytes are counted as the app reads them, and must arrive at
    `min_rate` bytes a second once `grace_s` has passed: an idle or trickling
    client cannot hold a connection, a buffer or an upload slot for long.
    """

    def __init__(self, app: ASGIApp, limit: int, paths: list[tuple[str, str, int]] | None = None,
                 grace_s: float = 10.0, min_rate: float = 64 * 1024) -> None:
        """Args:
            paths: (method, path pattern, limit): another limit for the paths that match (whole), e.g. a
                larger one for uploads, a smaller one for forecasts.
            grace_s, min_rate: RNNCAST_BODY_GRACE_S and RNNCAST_MIN_BODY_RATE.
        """
        self.app, self.default, self.grace_s, self.min_rate = app, limit, grace_s, min_rate
        self.paths = [(method, re.compile(pattern), size) for method, pattern, size in paths or []]
        self.deadlines = _Deadlines()

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
        if declared is not None and (not declared.strip().isdigit() or int(declared) > limit):
            await _refuse(send, 413, f"request body is larger than {limit} bytes")
            return
        if int(declared or 0) == 0 and b"transfer-encoding" not in headers:  # no body: nothing to guard
            await self.app(scope, receive, send)
            return
        guard = _Guard(receive, send, limit, self.grace_s, self.min_rate, self.deadlines)
        try:
            await self.app(scope, guard.receive, guard.send)
        except Exception:
            if not guard.refused:  # else the app only failed to read what was refused: answered already
                raise


class Slots:
    """At most `slots` requests of one kind (a method and a path pattern) at once in this process; beyond,
    429 with Retry-After before the body is read (e.g. uploads, whose buffers grow with their bodies)."""

    def __init__(self, app: ASGIApp, method: str, pattern: str, slots: int, setting: str) -> None:
        self.app, self.method, self.pattern, self.free, self.setting = app, method, re.compile(pattern), slots, setting

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] != self.method
                or not self.pattern.fullmatch(route_path(scope).rstrip("/"))):
            await self.app(scope, receive, send)
            return
        if self.free <= 0:
            await _refuse(send, 429, f"too many requests of this kind at once (this server's limit "
                                     f"{self.setting}); retry shortly", [(b"retry-after", b"1")])
            return
        self.free -= 1  # one event loop: no lock needed between the check and the take
        try:
            await self.app(scope, receive, send)
        finally:
            self.free += 1


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
        # Each label set's counter and histogram, looked up once (prometheus_client's `labels` takes a lock and
        # builds its key on every call); as many as the metrics themselves keep.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 0

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        except BaseException:
            status = status or 500  # failed before it answered: the error handler's 500
            raise
        finally:
            status = status or CLIENT_LEFT  # it ended unanswered: its client left before it could be
            # FastAPI keeps the full template (with router prefixes) in its
            # effective route context; plain Starlette routes carry it themselves.
            context: Any = scope.get("fastapi", {}).get("effective_route_context")
            path = str(getattr(context, "path", None) or getattr(scope.get("route"), "path", "unmatched"))
            method: str = scope["method"]
            key = (method, path, status)
            children = self._children.get(key)
            if children is None:
                children = self._children[key] = (REQUESTS.labels(method, path, str(status)),
                                                  LATENCY.labels(method, path))
            children[0].inc()
            children[1].observe(time.perf_counter() - began)
