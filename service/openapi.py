"""What the OpenAPI document says beyond the routes themselves: operation ids, links, figures and security."""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI, Security
from fastapi.params import Depends
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPBearer
from fastapi.utils import generate_unique_id

from rnncast.common.settings import Settings
from rnncast.service.limits import state_limits
from rnncast.service.media import document_json_bodies

# A route outside /v1 belongs to this resource (its router's tag).
HEALTH = "health"
# A figure: what a generated client returns as a file.
PNG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}, "description": "a PNG image"},
}
API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="RNNCAST_API_KEY")
BEARER = HTTPBearer(auto_error=False, description="RNNCAST_API_KEY as a Bearer token")


def operation_id(resource: str, name: str) -> str:
    """`resource_action`: the resource (a router's tag, e.g. `jobs`) and its handler's name less the resource's
    own word, e.g. ("jobs", "create_job") -> "jobs_create", ("models", "forecast_png") -> "models_forecast_png"."""
    words = {resource, resource.removesuffix("s")}
    action = "_".join(word for word in name.split("_") if word not in words)
    if not action:
        raise ValueError(f"handler {name!r} names no action on {resource!r}")
    return f"{resource}_{action}"


def route_operation_id(route: APIRoute) -> str:
    """FastAPI's `generate_unique_id_function`: every operation's id, from its router's tag and handler."""
    if not route.include_in_schema:  # no operation: the redirect to the dashboard, /docs
        return generate_unique_id(route)
    if len(route.tags) != 1:
        raise ValueError(f"route {route.path} needs one tag, its resource, not {route.tags}")
    return operation_id(str(route.tags[0]), route.name)


def links(resource: str, param: str, **handlers: str) -> dict[str, dict[str, Any]]:
    """OpenAPI links from a created resource (its `id`) to the handlers on `resource` that take it as `param`."""
    return {name: {"operationId": operation_id(resource, handler), "parameters": {param: "$response.body#/id"}}
            for name, handler in handlers.items()}


def security(settings: Settings) -> list[Depends]:
    """What a keyed instance declares on its guarded operations: the key as X-API-Key or as a Bearer token.
    An instance without a key asks for none, and its document says so. (The Gate middleware checks the key,
    before any body is read; these dependencies only declare it, for generated clients and /docs' Authorize.)"""
    return [Security(API_KEY_HEADER), Security(BEARER)] if settings.api_key is not None else []


def add_components(app: FastAPI, schemas: dict[str, Any], settings: Settings) -> None:
    """Schemas that request bodies read by hand refer to, added to the generated OpenAPI document; the
    document states this server's limits (service.limits) and the 415 of JSON bodies (service.media)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            document.setdefault("components", {}).setdefault("schemas", {}).update(
                {k: copy.deepcopy(v) for k, v in schemas.items() if k not in document["components"]["schemas"]})
            state_limits(document, settings)
            document_json_bodies(document)
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]
