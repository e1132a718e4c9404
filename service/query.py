"""A query parameter given more than once where its route takes one value is refused (422), on every /v1 route.

FastAPI keeps the last of `?name=a&name=b` for a parameter declared as one value and says nothing, so a
client's mistake (or a confused proxy's) changes what was asked without a word. A route's single-valued query
parameters are read from its own declaration (its dependencies' included), once per route; a request with no
repeated key costs one comparison.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import field_annotation_is_sequence
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute


def _single_valued(route: APIRoute) -> frozenset[str]:
    """The names (as sent) of `route`'s query parameters that take one value, its dependencies' included; kept on
    the route (routes are not hashable, and live as long as their app)."""
    known: frozenset[str] | None = getattr(route, "_single_valued_query", None)
    if known is not None:
        return known
    names: set[str] = set()
    todo: list[Dependant] = [route.dependant]
    while todo:
        dependant = todo.pop()
        names |= {p.alias for p in dependant.query_params if not field_annotation_is_sequence(p.field_info.annotation)}
        todo += dependant.dependencies
    known = frozenset(names)
    route._single_valued_query = known  # type: ignore[attr-defined]
    return known


async def single_values(request: Request) -> None:
    """422 naming each single-valued query parameter the request repeats. Run as a /v1 router dependency."""
    query = request.query_params
    if len(query.keys()) == len(query.multi_items()):
        return  # no key given twice
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    given = {name: query.getlist(name) for name in sorted(query.keys()) if name in _single_valued(route)}
    errors = [{"type": "repeated", "loc": ("query", name), "input": values,
               "msg": f"given {len(values)} times; this parameter takes one value"}
              for name, values in given.items() if len(values) > 1]
    if errors:
        raise RequestValidationError(errors)
