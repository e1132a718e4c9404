"""A route's path, read from the route itself for the code in front of FastAPI's routing (the fast paths, the
body limits, the upload slots), so that none of them restates a path the route declares."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from pydantic import TypeAdapter


def route_of(router: APIRouter, endpoint: Callable[..., Any]) -> APIRoute:
    """The route of `router` that `endpoint` answers."""
    return next(r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is endpoint)


def path_pattern(prefix: str, route: APIRoute) -> str:
    """The route's path under `prefix` as a regular expression for a whole path, each path parameter a group."""
    return template_pattern(prefix + route.path)


def template_pattern(template: str) -> str:
    """A path template (`/v1/sessions/{session_id}/stream`) as a regular expression, each parameter a group."""
    return re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(template))


def body_model(route: APIRoute) -> TypeAdapter[Any]:
    """The validator of the route's body, its own model (for code that validates a body as the route does)."""
    (body,) = route.dependant.body_params
    assert body.field_info.annotation is not None  # a route's body has its model
    return TypeAdapter(body.field_info.annotation)
