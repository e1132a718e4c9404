"""The client's plumbing (`Transport`): one httpx connection pool, retries of what is safe to repeat, and HTTP
errors as the client's exceptions. Every group of calls (`Client`'s bases) is a `Transport`."""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel

from rnncast.client.errors import (
    ApiUnavailable,
    AuthError,
    Conflict,
    InvalidRequest,
    NoAnswer,
    NotFound,
    RateLimited,
    RnncastError,
    describe,
)

DEFAULT_URL = "http://127.0.0.1:8000"
T = TypeVar("T", bound=BaseModel)
_BY_STATUS: dict[int, type[RnncastError]] = {
    401: AuthError, 404: NotFound, 409: Conflict, 413: InvalidRequest, 422: InvalidRequest,
    429: RateLimited, 503: ApiUnavailable,
}


def error_for(status: int, content: bytes | str) -> RnncastError:
    """The client's exception for an error answer (its status and body), by status, with the server's words."""
    body = None
    try:
        body = json.loads(content)
        detail = body.get("detail")
    except (ValueError, AttributeError):
        body = None
        detail = (content.decode("utf-8", "replace") if isinstance(content, bytes) else content)[:200]
    kind = _BY_STATUS.get(status, RnncastError)
    return kind(f"{status}: {describe(detail)}", status=status, detail=detail,
                body=body if isinstance(body, dict) else None)


def json_body(value: Any) -> bytes:
    """`value` as a request's JSON; a value JSON cannot carry is the caller's error, said as one."""
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":")).encode()
    except ValueError:
        raise InvalidRequest("the request holds NaN or an infinity, which JSON cannot carry: the API takes "
                             "finite numbers only") from None


class Transport:
    """An rnncast API connection; use it as a context manager to close its connections.

    Args:
        base_url: defaults to RNNCAST_URL, else http://127.0.0.1:8000.
        api_key: defaults to RNNCAST_API_KEY; sent as a Bearer token.
        retries: extra tries after a connection error, for calls safe to repeat
            (reads, deletes, and submits, which carry an Idempotency-Key).
        transport: an httpx transport (tests use httpx.MockTransport).
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        retries: int = 2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = (base_url or os.environ.get("RNNCAST_URL") or DEFAULT_URL).rstrip("/")
        key = api_key if api_key is not None else os.environ.get("RNNCAST_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.retries, self.timeout = retries, timeout
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, *, retry: bool, **kwargs: Any) -> httpx.Response:
        if "json" in kwargs:  # encoded here (json_body)
            kwargs["content"] = json_body(kwargs.pop("json"))
            kwargs["headers"] = {"Content-Type": "application/json", **kwargs.get("headers", {})}
        attempts = 1 + (self.retries if retry else 0)
        for attempt in range(attempts):
            try:
                response = self._http.request(method, path, **kwargs)
                break
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt + 1 == attempts:
                    raise NoAnswer(f"cannot reach the rnncast API at {self.base_url}: {exc}") from None
                time.sleep(0.2 * 2**attempt)
            except httpx.TimeoutException as exc:
                raise ApiUnavailable(f"the rnncast API at {self.base_url} timed out: {exc}") from None
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                raise NoAnswer(f"the connection to the rnncast API at {self.base_url} went before its answer: "
                               f"{exc}") from None
            except httpx.TransportError as exc:
                raise ApiUnavailable(f"cannot talk to the rnncast API at {self.base_url}: {exc}") from None
        if response.status_code >= 400:
            raise self._error(response)
        return response

    @staticmethod
    def _error(response: httpx.Response) -> RnncastError:
        return error_for(response.status_code, response.content)

    def _get(self, path: str, model: type[T], **params: Any) -> T:
        clean = {k: v for k, v in params.items() if v is not None}
        return model.model_validate(self._request("GET", path, retry=True, params=clean).json())

    def _submit(self, path: str, body: dict[str, Any], key: str | None) -> dict[str, Any]:
        headers = {"Idempotency-Key": key or uuid.uuid4().hex}
        result: dict[str, Any] = self._request("POST", path, retry=True, json=body, headers=headers).json()
        return result
