"""Who may make the API work, decided before anything reads a request's body (pure ASGI).

With an API key set, every `/v1` request and `/metrics` (unless
RNNCAST_METRICS_PUBLIC) must carry it (a job's event stream: it, or a
short-lived token for that stream, see `stream_token`); a request without it is
answered 401 from its headers alone, so an unauthenticated client cannot make
the API parse or even receive a large body. Paths are judged as the app routes
them (under any root_path), and every path needs the key but the open ones
(health, docs, the dashboard's files). An address that keeps presenting a wrong
key is answered 429 for a while, unless it presents the right key (or stream token): the right
credentials are never refused for other clients' mistakes. Without a key the API listens on loopback
only, and a `Host` other than a loopback name is answered 421: a web page
reaching it through a rebound DNS name gets nothing. With or without a key, a
state-changing request that a browser sends from another site (its `Origin`
or `Sec-Fetch-Site` says so) is answered 403, and so is any request, a GET
too, of a route that makes a worker compute (a figure, a backtest: the routes
service.deps.computing_paths finds): no page can make the API work. A WebSocket's upgrade (a session's stream:
service.session_stream) is judged as a state-changing request and refused with the same answers, as the HTTP
answer that refuses the upgrade.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
import time
from collections import OrderedDict
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
KEY_HINT = "missing or wrong API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
STREAM_TOKEN_TTL_S = 600
_EVENTS_PATH = re.compile(r"/v1/jobs/([0-9a-f]{32})/events")
OPEN_PATHS = frozenset({"/", "/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/openapi.json"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FAILURE_WINDOW_S = 60.0  # RNNCAST_AUTH_FAILURES_PER_MINUTE wrong keys from one address, then it waits
_TRACKED_ADDRESSES = 10_000


def route_path(scope: Scope) -> str:
    """The path the app routes: the request's path less the root_path it carries (as Starlette strips it)."""
    path, root = scope["path"], scope.get("root_path", "")
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root):] or "/"
    return path


@functools.lru_cache(maxsize=8)  # one API key per process: derived once, not per stream request
def token_key(api_key: bytes) -> bytes:
    """The stream tokens' MAC key, derived from the API key (HKDF-SHA256, RFC 5869, one block):
    a token never signs with the key itself."""
    prk = hmac.new(b"rnncast", api_key, hashlib.sha256).digest()
    return hmac.new(prk, b"rnncast stream token v1\x01", hashlib.sha256).digest()


def stream_token(key: bytes, job_id: str, expires: int) -> str:
    """A token that lets its holder read one job's event stream until `expires` (epoch seconds).

    Browsers' EventSource cannot send headers, so a page gets this from an
    authenticated call and puts it in the stream's URL: the key itself never
    appears in a URL or a log line, and the token opens nothing else.

    Args:
        key: the API key (the MAC is keyed with `token_key` of it).
    """
    signature = hmac.new(token_key(key), f"events:{job_id}:{expires}".encode(), hashlib.sha256).hexdigest()
    return f"{expires}.{signature}"


def token_opens(key: bytes, path: str, query: bytes) -> bool:
    """Whether the request's `token` query parameter opens this path (a job's event stream) now."""
    match = _EVENTS_PATH.fullmatch(path)
    if match is None:
        return False
    tokens = parse_qs(query.decode("latin-1")).get("token") or []
    if len(tokens) != 1:
        return False
    expires, _, _ = tokens[0].partition(".")
    # ASCII digits only ("²".isdigit() is true), and few of them: int() of 5,000 digits raises.
    if not (expires.isascii() and expires.isdigit() and len(expires) <= 12) or int(expires) < time.time():
        return False
    return hmac.compare_digest(tokens[0].encode(), stream_token(key, match.group(1), int(expires)).encode())


async def send_json(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    """A complete JSON error response."""
    body = json.dumps({"detail": detail}).encode()
    extra = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *extra]})
    await send({"type": "http.response.body", "body": body})


async def refuse(scope: Scope, send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    """`send_json`'s answer to a request, or to a WebSocket's upgrade (as the HTTP answer that refuses it, where
    the server can send one: ASGI's `websocket.http.response`; else a close before the handshake, a 403)."""
    if scope["type"] == "http":
        await send_json(send, status, detail, headers)
        return
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})
        return

    def http(message: Any) -> Any:
        return send({**message, "type": f"websocket.{message['type']}"})

    await send_json(http, status, detail, headers)


def host_name(host: str) -> str:
    """The name part of a Host header: `[::1]:8000` -> `[::1]`, `localhost:8000` -> `localhost`."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.partition(":")[0]


def presented_key(headers: dict[bytes, bytes]) -> str | None:
    """The key a request carries: `X-API-Key`, else a Bearer token."""
    if b"x-api-key" in headers:
        return headers[b"x-api-key"].decode("latin-1")
    auth = headers.get(b"authorization", b"").decode("latin-1")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


def _netloc(value: str) -> str:
    value = value.strip().lower()
    for default in (":80", ":443"):
        value = value.removesuffix(default)
    return value


def cross_site(headers: dict[bytes, bytes], trusted: frozenset[str]) -> bool:
    """Whether a browser sent this request from a page of another origin than the API's own."""
    site = headers.get(b"sec-fetch-site")
    if site is not None and site not in (b"same-origin", b"none"):  # "none": the user's own navigation
        return True
    origin = headers.get(b"origin")
    if origin is None:  # not a browser's cross-origin request (curl, the client, an old browser's GET)
        return False
    text = origin.decode("latin-1").strip().lower()
    if text in trusted:
        return False
    _, sep, netloc = text.partition("://")
    return not sep or _netloc(netloc) != _netloc(headers.get(b"host", b"").decode("latin-1"))


def client_address(scope: Scope) -> str:
    """The client's address as the server resolved it: uvicorn replaces the peer's with `X-Forwarded-For`'s
    only for the proxies it is told to trust (`forwarded_allow_ips`); no header is read here."""
    client = scope.get("client")
    return str(client[0]) if client else "?"


class Failures:
    """Wrong keys per client address in the current window; bounded in the addresses it tracks."""

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed  # 0: no limit
        self._seen: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def blocked_for(self, address: str) -> float:
        """Seconds `address` must wait (0: it may try)."""
        start, count = self._seen.get(address, (0.0, 0))
        left = start + FAILURE_WINDOW_S - time.monotonic()
        return left if self.allowed and count >= self.allowed and left > 0 else 0.0

    def add(self, address: str) -> None:
        now = time.monotonic()
        start, count = self._seen.pop(address, (now, 0))
        self._seen[address] = (start, count + 1) if now - start < FAILURE_WINDOW_S else (now, 1)
        while len(self._seen) > _TRACKED_ADDRESSES:
            self._seen.popitem(last=False)


class Gate:
    """401 without the key where one is needed (429 after many wrong ones), 421 for a foreign Host where
    none is set, 403 for a state-changing or computing (`computing`: path patterns) request from another site."""

    def __init__(self, app: ASGIApp, api_key: str | None, metrics_public: bool,
                 trusted_origins: frozenset[str] = frozenset(), failures_allowed: int = 20,
                 computing: tuple[re.Pattern[str], ...] = ()) -> None:
        self.app, self.metrics_public, self.trusted, self.computing = app, metrics_public, trusted_origins, computing
        self.key = api_key.encode() if api_key else None
        self.failures = Failures(failures_allowed)

    def needs_key(self, path: str) -> bool:
        """Every path but the open ones: health, docs, the dashboard's static files (and /metrics if public)."""
        if path in OPEN_PATHS or path == "/ui" or path.startswith(("/ui/", "/docs/static/")):
            return False
        return not (path == "/metrics" and self.metrics_public)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        path = route_path(scope)
        # A WebSocket's upgrade is a GET that no browser checks across sites: judged as a state-changing request.
        safe = scope.get("method") in SAFE_METHODS
        if cross_site(headers, self.trusted) and (not safe or any(p.match(path) for p in self.computing)):
            await refuse(scope, send, 403, "cross-site request refused: this API takes state-changing requests, and "
                                       "requests that make a worker compute, from its own pages and from "
                                       "non-browser clients only (RNNCAST_TRUSTED_ORIGINS adds origins)",
                            {"Connection": "close"})
            return
        if self.key is None:
            host = headers.get(b"host")
            if host is not None and host_name(host.decode("latin-1")) not in LOOPBACK_HOSTS:
                await refuse(scope, send, 421, "this API has no key and answers only to localhost, 127.0.0.1 or [::1]; "
                                           "set RNNCAST_API_KEY to serve other names")
                return
        elif self.needs_key(path):
            given = presented_key(headers)
            if given is None:
                opened = token_opens(self.key, path, scope.get("query_string", b""))
            else:
                opened = hmac.compare_digest(given.encode(), self.key)
            if not opened:
                # Judged only once the credentials have failed: an address that others share (a NAT, a
                # proxy) is throttled for their wrong keys, never the right key that comes from it.
                address = client_address(scope)
                wait = self.failures.blocked_for(address)
                if wait:
                    await refuse(scope, send, 429, "too many requests with a wrong API key from this address; retry "
                                               "later", {"Retry-After": str(int(wait) + 1), "Connection": "close"})
                    return
                if given is not None:  # a wrong key is a guess; a missing one is not
                    self.failures.add(address)
                refusal = {"WWW-Authenticate": "Bearer"}
                if b"content-length" in headers or b"transfer-encoding" in headers:
                    # Close rather than read and discard a body nobody will use.
                    refusal["Connection"] = "close"
                await refuse(scope, send, 401, KEY_HINT, refusal)
                return
        await self.app(scope, receive, send)
