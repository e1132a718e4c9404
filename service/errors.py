"""The API's error answers: the responses every route documents, 404s, ambiguous short ids' 409s, 422s, and
dependency failures as clear 503s, never a 500 or a hang."""

from __future__ import annotations

import errno
import json
import logging
import math
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis
from fastapi import FastAPI, HTTPException, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

from rnncast.common.artifacts import ArtifactError, StoreFull
from rnncast.common.store.admission import DatasetGone, IdempotencyConflict, QueueFull
from rnncast.common.values import is_id
from rnncast.service.schemas import ErrorBody

log = logging.getLogger(__name__)
RETRY_AFTER_S = "5"
REDIS_DOWN = "Redis (the job store) is unavailable; retry shortly"

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 409, 413, 421, 422, 429, 503, 507)
}

MAX_CANDIDATES = 10  # an ambiguous short id's answer lists at most this many ids


class AmbiguousId(Exception):
    """A short id that starts more than one record's id."""

    def __init__(self, kind: str, prefix: str, candidates: list[str]) -> None:
        self.kind, self.prefix, self.candidates = kind, prefix, candidates[:MAX_CANDIDATES]
        more = " (and more)" if len(candidates) > MAX_CANDIDATES else ""
        super().__init__(f"{kind} id {prefix!r} is ambiguous: it starts {', '.join(self.candidates)}{more}; "
                         f"give more characters")

    def body(self) -> dict[str, Any]:
        """The 409's JSON: the message, and the whole ids it could mean."""
        return {"detail": str(self), "candidates": self.candidates}


def not_found(kind: str, record_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{kind} {record_id!r} not found")


async def found_or_404(
    kind: str, get: Callable[[str], Awaitable[dict[str, Any] | None]], record_id: str,
) -> dict[str, Any]:
    """The record `get` finds for a well-formed id, else a 404 naming `kind`."""
    record = await get(record_id) if is_id(record_id) else None
    if record is None:
        raise not_found(kind, record_id)
    return record



def unprocessable(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


@contextmanager
def submit_refusals(dataset_field: str) -> Iterator[None]:
    """The refusals every submit (a job, a comparison, a search) answers alike: a reused Idempotency-Key with
    another body (409), a dataset deleted while it was admitted (422 at `dataset_field`), a full queue (429)."""
    try:
        yield
    except IdempotencyConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except DatasetGone as exc:
        raise unprocessable(f"{dataset_field}: {exc}") from None
    except QueueFull as exc:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, f"queue is full: {exc}",
                            headers={"Retry-After": "30"}) from None


def unavailable(detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": RETRY_AFTER_S})


EXCERPT_ITEMS, EXCERPT_CHARS, EXCERPT_DEPTH = 5, 100, 3
MAX_ERRORS = 5  # errors a 422 lists; the rest are counted, never encoded


def excerpt(value: Any, depth: int = 0) -> Any:
    """A short, JSON-safe stand-in for echoed input: a few items of a list or an object, a string's first
    characters, NaN and infinities as strings. An error never echoes a large input back (nor spends time
    encoding it)."""
    if isinstance(value, bytes | bytearray):
        value = bytes(value[: EXCERPT_CHARS * 4]).decode("utf-8", "replace")
    if isinstance(value, str):
        return value if len(value) <= EXCERPT_CHARS else f"{value[:EXCERPT_CHARS]}... ({len(value)} characters)"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        if depth >= EXCERPT_DEPTH:
            return f"{{... {len(value)} keys}}"
        shown = {str(k)[:EXCERPT_CHARS]: excerpt(v, depth + 1) for k, v in list(value.items())[:EXCERPT_ITEMS * 4]}
        return shown if len(value) <= EXCERPT_ITEMS * 4 else {**shown, "...": f"{len(value)} keys"}
    if isinstance(value, list | tuple):
        if depth >= EXCERPT_DEPTH:
            return f"[... {len(value)} items]"
        head = [excerpt(v, depth + 1) for v in value[:EXCERPT_ITEMS]]
        return head if len(value) <= EXCERPT_ITEMS else [*head, f"... ({len(value)} items)"]
    return value


def _given_values(errors: Sequence[Any]) -> list[Any]:
    """Pydantic's errors less what an optional field (`X | None`) adds to them: a value given for it that X refuses
    is reported once under a tag naming the X branch (`('horizon', 'function-wrap[check()]')`) and once as the None
    branch's "Input should be None". The caller gave a value: X's errors are the ones that speak to it, at the
    field's own location."""
    nulls = {tuple(e["loc"][:-1]) for e in errors if e["type"] == "none_required" and tuple(e["loc"][-1:]) == ("none",)}
    if not nulls:
        return list(errors)
    out = []
    for error in errors:
        loc = tuple(error["loc"])
        if error["type"] == "none_required" and loc[:-1] in nulls and loc[-1] == "none":
            continue
        field = next((p for p in nulls if loc[: len(p)] == p and len(loc) > len(p)), None)
        if field is not None:  # the one other branch's tag, after the field's location
            tags = {tuple(e["loc"])[len(field)] for e in errors
                    if tuple(e["loc"])[: len(field)] == field and len(e["loc"]) > len(field)} - {"none"}
            if len(tags) == 1:
                error = {**error, "loc": (*field, *loc[len(field) + 1 :])}
        out.append(error)
    return out


BODY_UNPARSABLE = [{"type": "body_unparsable", "loc": ["body"],
                    "msg": "the body could not be read as JSON (not UTF-8, not JSON, or nested too deep)"}]


def json_body(body: bytes) -> Any:
    """`body` read as a route reads a JSON body (FastAPI: the standard library's json on its bytes, which takes NaN
    and a byte-order mark); raises NotJson with the 422 detail the route answers for what it cannot read (an empty
    body: the body missing)."""
    if not body:
        raise NotJson(validation_detail([{"type": "missing", "loc": ("body",), "msg": "Field required",
                                          "input": None}]))
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:  # FastAPI's own error for it, as its routes report it
        raise NotJson(validation_detail([{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                                          "input": {}, "ctx": {"error": exc.msg}}])) from None
    except (ValueError, RecursionError):
        raise NotJson(BODY_UNPARSABLE) from None


class NotJson(Exception):
    def __init__(self, detail: list[dict[str, Any]]) -> None:
        super().__init__(detail)
        self.detail = detail


def body_errors(exc: ValidationError) -> Any:
    """A request body's validation errors as its 422's detail, JSON-ready (the fast paths' and streams' one form)."""
    return jsonable_encoder(validation_detail(exc.errors(include_url=False), ("body",)))


def validation_detail(errors: Sequence[Any], prefix: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Pydantic's errors as a 422's detail (FastAPI's shape; an optional field's given value judged once, by its
    type: `_given_values`), each echoing at most an excerpt of its input; the first MAX_ERRORS of them, then one
    item counting the rest."""
    errors = _given_values(errors)
    out = []
    for error in errors[:MAX_ERRORS]:
        item = {k: v for k, v in error.items() if k not in ("url", "input", "ctx")}
        item["loc"] = [*prefix, *error["loc"]]
        if "input" in error:
            item["input"] = excerpt(error["input"])
        if error.get("ctx"):
            item["ctx"] = {str(k): excerpt(v if isinstance(v, int | float | str | None) else str(v))
                           for k, v in error["ctx"].items()}
        out.append(item)
    if len(errors) > MAX_ERRORS:
        more = len(errors) - MAX_ERRORS
        out.append({"type": "more_errors", "loc": list(prefix), "msg": f"{more} more errors not listed",
                    "input": None})
    return out


METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """Every method some route of `app` answers at the request's path."""
    return [method for method in METHODS
            if any(route.matches({**scope, "method": method})[0] == Match.FULL for route in app.router.routes)]


def install(app: FastAPI) -> None:
    """422s that can always be encoded; Redis and broker outages as 503 with Retry-After;
    405s that list every method of the path; an unparsable body as 422 like any other bad body."""

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            allow = ", ".join(allowed_methods(app, request.scope))
            return JSONResponse({"detail": "Method Not Allowed"}, 405, headers={"Allow": allow})
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            return JSONResponse({"detail": BODY_UNPARSABLE}, 422)
        return await http_exception_handler(request, exc)

    @app.exception_handler(AmbiguousId)
    async def _ambiguous(request: Request, exc: AmbiguousId) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=409)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": jsonable_encoder(validation_detail(exc.errors()))}, status_code=422)

    @app.exception_handler(redis.RedisError)
    async def _redis_down(request: Request, exc: redis.RedisError) -> JSONResponse:
        log.warning("Redis error on %s %s: %s", request.method, request.url.path, exc)
        return unavailable(REDIS_DOWN)

    @app.exception_handler(ArtifactError)
    async def _artifacts_down(request: Request, exc: ArtifactError) -> JSONResponse:
        log.warning("artifact store error on %s %s: %s", request.method, request.url.path, exc)
        if isinstance(exc, StoreFull):
            return JSONResponse({"detail": exc.public}, status_code=507)
        # The log keeps the detail (endpoint, bucket, key); the answer names none of them.
        return unavailable("the artifact store (checkpoints, models, datasets) is unavailable; retry shortly")

    @app.exception_handler(OSError)
    async def _disk(request: Request, exc: OSError) -> JSONResponse:
        # A local write that failed is the host's trouble, never the client's: a full disk is 507, else 503.
        log.warning("OS error on %s %s: %s", request.method, request.url.path, exc)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return JSONResponse({"detail": "the server's disk is full; retry later"}, status_code=507)
        return unavailable("the server could not read or write its files; retry shortly")

    @app.exception_handler(OperationalError)
    async def _broker_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.warning("broker error on %s %s: %s", request.method, request.url.path, exc)
        return unavailable("the task broker is unavailable; retry shortly")
