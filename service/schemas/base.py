"""What every request model shares, and `api_model`: a request model derived from a declared options dataclass."""

from __future__ import annotations

import json
from dataclasses import MISSING
from typing import Annotated, Any, cast

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from rnncast.common.defaults import (
    MAX_CONTEXT,
    MAX_HORIZON,
    MAX_INTERVAL_LEVELS,
    MAX_POINTS,
    MAX_SEED,
    MAX_START,
    MIN_POINTS,
)
from rnncast.common.options import RECIPE_VALUE, Options, Spec, spec
from rnncast.service.limits import Limited


def _whole(value: Any) -> Any:
    """A JSON number written 3.0 is an integer too (the schema's `integer` admits it)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Whole = Annotated[int, BeforeValidator(_whole)]


# Value types several resources share (bounds first: the JSON schema states them only then).
Seed = Annotated[int, Field(ge=0, le=MAX_SEED), BeforeValidator(_whole)]
Position = Annotated[int, Field(ge=0, le=MAX_POINTS), BeforeValidator(_whole)]
Season = Annotated[int, Field(ge=1, le=MAX_POINTS), BeforeValidator(_whole)]
Points = Annotated[int, Field(ge=MIN_POINTS, le=MAX_POINTS), BeforeValidator(_whole)]
Horizon = Annotated[int, Field(ge=1, le=MAX_HORIZON, description="steps to predict"), BeforeValidator(_whole),
                    Limited("max_horizon")]
Start = Annotated[float, Field(ge=-MAX_START, le=MAX_START)]
Levels = Annotated[list[Annotated[float, Field(gt=0, lt=1)]], Field(
    min_length=1, max_length=MAX_INTERVAL_LEVELS, description="prediction-interval levels in (0, 1), e.g. "
    "[0.8, 0.95]: split-conformal intervals from the model's calibration residuals (docs: forecasts guide)")]
# Arrays are measured against the server's limit before any item is validated (service.limits), and
# their validation stops at the first bad item (fail_fast): a million bad values cost one error, not a million.
Context = Annotated[list[float], Field(min_length=1, max_length=MAX_CONTEXT, fail_fast=True), Limited("max_context")]
SeriesValues = Annotated[list[float], Field(min_length=MIN_POINTS, max_length=MAX_POINTS, fail_fast=True),
                         Limited("max_dataset_points")]


class Strict(BaseModel):
    """Rejects unknown fields, NaN and infinities, and strings posing as numbers."""

    # Defaults are validated too: a default above the serving app's limit (say, 500 epochs on a server whose
    # RNNCAST_MAX_EPOCHS is 100) is refused as if it had been sent.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True, validate_default=True)


# A forecast's window comes from at most one of these; the document says so in an extension a generator ignores
# (a `oneOf` of `required` makes generated clients type the body as Any) and the dashboard reads.
SOURCES = ("start", "origin", "context")
AT_MOST_ONE_OF = ConfigDict(json_schema_extra={"x-rnncast-at-most-one-of": list(SOURCES)})


class ErrorBody(BaseModel):
    detail: Any


def no_default(schema: dict[str, Any]) -> None:
    """An optional field whose absence means something: no `null` default in the schema."""
    schema.pop("default", None)


_MODELS: dict[tuple[type[Options], str], type[Strict]] = {}


def api_type(s: Spec) -> Any:
    """A declared field's type for a request: bounds kept (before the whole-number validator, or the JSON
    schema loses them), a nested declaration as its own model, the server's limit checked, null accepted
    where the declaration admits it or says what null means."""
    base = api_model(s.nested) if s.nested is not None else s.base
    meta: list[Any] = list(s.bounds)
    if s.any_case:  # the document keeps the declared choices; a request may name them in any case
        meta.append(BeforeValidator(s.canonical))
    if base is int:
        meta.append(BeforeValidator(_whole))
    if s.limit is not None:
        meta.append(Limited(s.limit.setting))
    typed = Annotated[tuple([base, *meta])] if meta else base
    return typed | None if s.optional or s.null_means is not None else typed


def api_field(s: Spec) -> tuple[Any, FieldInfo]:
    """(type, Field) of a declared field: its default and its help as the description."""
    text = "; ".join(t for t in (s.help, s.null_means.text if s.null_means is not None else "") if t)
    if s.null_means is RECIPE_VALUE:
        # Left out, a recipe decides: the request's default is "not given" (a generated client then sends
        # nothing), and the tutorial's value is said in words.
        tutorial = "off" if s.default is None else json.dumps(s.default)
        return api_type(s), cast(FieldInfo, Field(None, description=f"{text} (the tutorial's: {tutorial})",
                                                  json_schema_extra=no_default))
    default = ... if s.default is MISSING else s.default
    return api_type(s), Field(default, description=text or None)


def api_fields(cls: type[Options], *, only: set[str] | None = None,
               exclude: frozenset[str] = frozenset()) -> dict[str, tuple[Any, FieldInfo]]:
    """The request fields of a declaration, in its order."""
    return {s.name: api_field(s) for s in spec(cls) if (only is None or s.name in only) and s.name not in exclude}


def derived_model(model_name: str, base: type[Strict], /, **fields: Any) -> Any:
    """A model built from declared fields: typed Any, since a type checker cannot see the fields it gets."""
    return create_model(model_name, __base__=base, **fields)


def api_model(cls: type[Options], name: str | None = None) -> type[Strict]:
    """The strict request model of a declared options dataclass (named `<Class>Spec` unless given)."""
    key = (cls, name or f"{cls.__name__}Spec")
    if key not in _MODELS:
        _MODELS[key] = derived_model(key[1], Strict, __doc__=cls.__doc__, **api_fields(cls))
    return _MODELS[key]
