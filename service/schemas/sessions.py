"""Streaming sessions (common.sessions): open one with a window, observe values, read or delete it."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field
from pydantic.json_schema import SkipJsonSchema

from rnncast.common.defaults import FORECAST_HORIZON, MAX_SESSION_OBSERVED, MAX_SESSION_TTL_S, SESSION_TTL_S
from rnncast.service.limits import Limited
from rnncast.service.schemas.base import Context, Horizon, Strict, _whole, no_default
from rnncast.service.schemas.models import ForecastResponse

# Bounds first, then the whole-number coercion: the JSON schema states the bounds only then (as base's types).
TtlS = Annotated[int, Field(ge=1, le=MAX_SESSION_TTL_S, description=(
    "seconds the session lives after its last observe (then 404)")), BeforeValidator(_whole),
    Limited("max_session_ttl_s")]


class SessionOpen(Strict):
    """A session's first window (at least the values one forecast reads: the model's sequence_length, plus the
    lag a differenced model differences from), the horizon its forecasts take unless an observe says otherwise,
    and how long it lives."""

    window: Context
    horizon: Horizon = FORECAST_HORIZON
    ttl_s: TtlS = SESSION_TTL_S


After = Annotated[int, Field(ge=0, le=MAX_SESSION_OBSERVED, description=(
    "the session's `observed` count these values follow: applied only there (else 409, nothing saved), and, sent "
    "again after they were applied, answered as then with nothing applied twice: an observe with `after` is safe to "
    "resend")), BeforeValidator(_whole)]


class SessionObserve(Strict):
    """New values, in order; `horizon` for this answer only (default: the session's); `after`, the count they
    follow."""

    values: Context
    horizon: Horizon | SkipJsonSchema[None] = Field(None, description="this answer's horizon (default: the session's)",
                                                json_schema_extra=no_default)
    after: After | SkipJsonSchema[None] = Field(None, json_schema_extra=no_default)


class SessionForecast(BaseModel):
    """A session's answer: the forecast from every value it has seen (as a `context` forecast with all of them
    would answer it; `x` counts steps after the last value)."""

    session_id: str
    observed: int = Field(description="values seen so far (the window's and every observe's)")
    expires_at: str = Field(description="when the session goes unless observed again (ISO 8601 UTC)")
    forecast: ForecastResponse


class Session(BaseModel):
    session_id: str
    model_id: str
    horizon: int
    ttl_s: int
    observed: int
    window_size: int = Field(description="the last values kept: as many as one forecast reads")
    expires_at: str
