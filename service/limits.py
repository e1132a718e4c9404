"""A running server's limits (RNNCAST_MAX_EPOCHS, _HORIZON, _CONTEXT, _SEEDS, _DATASET_POINTS), checked in one place.

A field (a declared option's `Limit`, or `Limited(...)` in a schema or a query parameter) is
validated against the Settings of the app serving the request: `BindSettings` puts them in a
context variable for the request's validation, wherever it happens (FastAPI's routing, the
forecast fast path, an upload's parser). A list is measured before any of its items is
validated. The OpenAPI document states the same values (`state_limits`): the schema's static
bounds are the hard ceilings, the document the server's own limits.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, status
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, ValidationError, core_schema
from starlette.types import ASGIApp, Receive, Scope, Send

from rnncast.common.settings import Settings, get_settings

SERVING: ContextVar[Settings | None] = ContextVar("rnncast_serving_settings", default=None)
OVER = frozenset({"less_than_equal", "less_than"})  # pydantic's errors for a number over a bound
MARK = "x-rnncast-limit"  # the OpenAPI extension naming the setting that bounds a value


def env_name(setting: str) -> str:
    return f"RNNCAST_{setting.upper()}"


def refusal(name: str, value: Any, setting: str, settings: Settings) -> str | None:
    """Why `value` (a number, or a list by its length) is over this server's `setting`, else None."""
    limit = getattr(settings, setting)
    if isinstance(value, list | tuple | str):
        if len(value) <= limit:
            return None
        return f"{name} ({len(value)} values) exceeds this server's limit {env_name(setting)} ({limit})"
    if isinstance(value, int | float) and value > limit:
        return f"{name} ({value}) exceeds this server's limit {env_name(setting)} ({limit})"
    return None


@dataclass(frozen=True)
class Limited:
    """`Annotated` metadata: the value is bounded by the serving app's Settings field `setting` too."""

    setting: str

    def _refuse(self, name: str | None, value: Any) -> None:
        # Outside a request (a script, a test), the process's own settings bound it.
        reason = refusal(name or self.setting.removeprefix("max_"), value, self.setting,
                         SERVING.get() or get_settings())
        if reason is not None:
            raise PydanticCustomError("over_limit", reason)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        def check(value: Any, inner: core_schema.ValidatorFunctionWrapHandler,
                  info: core_schema.ValidationInfo) -> Any:
            name = info.field_name
            if isinstance(value, list):  # before its items are validated
                self._refuse(name, value)
            try:
                out = inner(value)
            except ValidationError as exc:
                # Over the type's own ceiling is over this server's limit too (a server's limits lie within the
                # ceilings): said as the limit, naming the setting a user can look up.
                if isinstance(value, int | float) and all(e["type"] in OVER for e in exc.errors()):
                    self._refuse(name, value)
                raise
            if not isinstance(out, list):
                self._refuse(name, out)
            return out

        return core_schema.with_info_wrap_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        out = handler(schema)
        out[MARK] = self.setting
        return out


class BindSettings:
    """ASGI middleware: the app's Settings are the limits of every validation within a request."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = SERVING.set(self.settings)
        try:
            await self.app(scope, receive, send)
        finally:
            SERVING.reset(token)


def check(name: str, value: Any, setting: str, settings: Settings) -> None:
    """422 when `value` is over this server's `setting`: for a value no model validates, such as a query
    parameter left at its default (FastAPI does not validate defaults)."""
    reason = refusal(name, value, setting, settings)
    if reason is not None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, reason)


def state_limits(node: Any, settings: Settings) -> None:
    """Write the server's limits into an OpenAPI document, in place: each marked value's maximum or
    maxItems becomes the setting's value."""
    if isinstance(node, dict):
        setting = node.get(MARK)
        if isinstance(setting, str):
            limit = getattr(settings, setting)
            said = node.get("description", "").rstrip(". ")
            node["description"] = f"{said}{'. ' if said else ''}At most {env_name(setting)} ({limit}) on this server."
            node["maxItems" if node.get("type") == "array" else "maximum"] = limit
        for value in node.values():
            state_limits(value, settings)
    elif isinstance(node, list):
        for value in node:
            state_limits(value, settings)
