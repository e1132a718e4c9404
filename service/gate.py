"""Who may make the API work, decided before anything reads a request's body (pure ASGI).

With an API key set, every `/v1` request and `/metrics` (unless
RNNCAST_METRICS_PUBLIC) must carry it (a job's event stream: it, or a
short-lived token for that stream, see `stream_token`); a request without it is
answered 401 from its headers alone, so an unauthenticated client cannot make
the API parse or even receive a large body. Without a key the API listens on
loopback only, and a `Host` other than a loopback name is answered 421: a web
page reaching it through a rebound DNS name gets nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
KEY_HINT = "missing or wrong API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
STREAM_TOKEN_TTL_S = 600
_EVENTS_PATH = re.compile(r"/v1/jobs/([0-9a-f]{32})/events")


def stream_token(key: bytes, job_id: str, expires: int) -> str:
    """A token that lets its holder read one job's event stream until `expires` (epoch seconds).

    Browsers' EventSource cannot send headers, so a page gets this from an
    authenticated call and puts it in the stream's URL: the key itself never
    appears in a URL or a log line, and the token opens nothing else.
    """
    signature = hmac.new(key, f"events:{job_id}:{expires}".encode(), hashlib.sha256).hexdigest()
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
    if not expires.isdigit() or int(expires) < time.time():
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


class Gate:
    """401 without the key where one is needed; 421 for a foreign Host where none is set."""

    def __init__(self, app: ASGIApp, api_key: str | None, metrics_public: bool) -> None:
        self.app, self.metrics_public = app, metrics_public
        self.key = api_key.encode() if api_key else None

    def needs_key(self, path: str) -> bool:
        return path == "/v1" or path.startswith("/v1/") or (path == "/metrics" and not self.metrics_public)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if self.key is None:
            host = headers.get(b"host")
            if host is not None and host_name(host.decode("latin-1")) not in LOOPBACK_HOSTS:
                await send_json(send, 421, "this API has no key and answers only to localhost, 127.0.0.1 or [::1]; "
                                           "set RNNCAST_API_KEY to serve other names")
                return
        elif self.needs_key(scope["path"]):
            given = presented_key(headers)
            opened = given is None and token_opens(self.key, scope["path"], scope.get("query_string", b""))
            if not opened and (given is None or not hmac.compare_digest(given.encode(), self.key)):
                refusal = {"WWW-Authenticate": "Bearer"}
                if b"content-length" in headers or b"transfer-encoding" in headers:
                    # Close rather than read and discard a body nobody will use.
                    refusal["Connection"] = "close"
                await send_json(send, 401, KEY_HINT, refusal)
                return
        await self.app(scope, receive, send)
