"""JSON bodies: a route that reads one answers 415 to another content type (curl's default form encoding
among them), where FastAPI would read the bytes and answer a 422 about a dictionary; the OpenAPI document
says so on those operations. Routes that read their body themselves (dataset uploads: JSON, CSV or
multipart) judge its type themselves."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.routing import APIRoute

from rnncast.service.gate import route_path

UNSUPPORTED = "send Content-Type: application/json"


def is_json(content_type: str) -> bool:
    """application/json or an application/*+json type, parameters (charset) aside."""
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def json_bodies(request: Request) -> None:
    """415 for a request to a route with a JSON body whose Content-Type is not JSON (a body sent without one
    too). Run as a dependency: FastAPI has read the body by then, and judges it after."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None:
        return
    content_type = request.headers.get("content-type")
    if content_type is not None and is_json(content_type):
        return
    if content_type is None and not await request.body():
        return  # nothing sent: the route says what it lacks
    raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                        f"{UNSUPPORTED} (this request's is {content_type or 'missing'!r}; "
                        f"{request.method} {route_path(request.scope)} reads a JSON body)")


def document_json_bodies(document: dict[str, Any]) -> None:
    """Add the 415 to every operation whose request body is JSON only."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {})
            if content and set(content) == {"application/json"}:
                operation.setdefault("responses", {}).setdefault("415", {
                    "description": f"Unsupported Media Type: {UNSUPPORTED}",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                })
