"""Dependency failures as clear 503s, never a 500 or a hang."""

from __future__ import annotations

import logging
import math
from typing import Any

import redis
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError

log = logging.getLogger(__name__)
RETRY_AFTER_S = "5"


def unavailable(detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": RETRY_AFTER_S})


def _json_safe(value: Any) -> Any:
    """Echoed input made JSON-safe: NaN and infinities become strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def install(app: FastAPI) -> None:
    """422s that can always be encoded; Redis and broker outages as 503 with Retry-After."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _json_safe(jsonable_encoder(exc.errors()))
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(redis.RedisError)
    async def _redis_down(request: Request, exc: redis.RedisError) -> JSONResponse:
        log.warning("Redis error on %s %s: %s", request.method, request.url.path, exc)
        return unavailable("Redis (the job store) is unavailable; retry shortly")

    @app.exception_handler(OperationalError)
    async def _broker_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.warning("broker error on %s %s: %s", request.method, request.url.path, exc)
        return unavailable("the task broker is unavailable; retry shortly")
