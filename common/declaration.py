"""How an option is declared: the markers a field's `Annotated` metadata carries, the field's spec read from
them, and the `Options` base that checks every field on construction (messages quote the value).

Standard library and `annotated_types` only: core, the store, the service and the client may all import it.
The declarations themselves are in `common.options`.
"""

from __future__ import annotations

import math
import types
from dataclasses import MISSING, asdict, dataclass, fields, is_dataclass
from typing import Annotated, Any, Literal, TypeVar, Union, cast, get_args, get_origin, get_type_hints

from annotated_types import Ge, Gt, Le, Lt

__all__ = [
    "AnyCase", "Help", "Limit", "NullMeans", "Options", "Spec", "check", "check_value", "leaf_names", "leaves", "spec",
]


@dataclass(frozen=True)
class Help:
    """A field's description (the API's, the CLI's and the docs')."""

    text: str


@dataclass(frozen=True)
class Limit:
    """A running server also bounds this field by its `Settings` field `setting` (e.g. max_epochs)."""

    setting: str

    @property
    def env(self) -> str:
        return f"RNNCAST_{self.setting.upper()}"


@dataclass(frozen=True)
class NullMeans:
    """The API accepts null or absence here and resolves it as `text` says; core needs a value."""

    text: str


@dataclass(frozen=True)
class AnyCase:
    """A choice given in any case (`lstm`, `Lstm`) means the declared one (`LSTM`), which is what is answered and
    stored; the API and the CLI take it so (`Spec.canonical`)."""


# What a recipe may set; in a request, null or absence leaves it to the recipe.

_O = TypeVar("_O", bound="Options")


@dataclass(frozen=True)
class Spec:
    """One declared field, its metadata read apart."""

    name: str
    type: Any  # the bare type (Annotated stripped; may be a union with None)
    default: Any
    bounds: tuple[Any, ...]  # annotated_types Ge/Gt/Le/Lt
    help: str
    limit: Limit | None
    null_means: NullMeans | None
    nested: type[Options] | None  # a nested options dataclass (possibly optional)
    any_case: bool = False  # marked AnyCase

    def canonical(self, value: Any) -> Any:
        """The declared choice that `value` names in another case, for an AnyCase field; else `value`."""
        if self.any_case and isinstance(value, str):
            return next((c for c in self.choices or () if isinstance(c, str) and c.casefold() == value.casefold()),
                        value)
        return value

    @property
    def optional(self) -> bool:
        return _admits_none(self.type)

    @property
    def choices(self) -> tuple[Any, ...] | None:
        """A Literal's values."""
        for arg in (self.type, *get_args(self.type)):
            if get_origin(arg) is Literal:
                return get_args(arg)
        return None

    @property
    def base(self) -> Any:
        """The type without None."""
        args = [a for a in get_args(self.type) if a is not type(None)] if _is_union(self.type) else [self.type]
        return args[0] if len(args) == 1 else Union[tuple(args)]  # noqa: UP007


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _admits_none(tp: Any) -> bool:
    return tp is type(None) or (_is_union(tp) and type(None) in get_args(tp))


_SPECS: dict[type, tuple[Spec, ...]] = {}


def spec(cls: type[Options]) -> tuple[Spec, ...]:
    """The declared fields of an options dataclass, in order (read once per class)."""
    if cls not in _SPECS:
        _SPECS[cls] = _read_spec(cls)
    return _SPECS[cls]


def _read_spec(cls: type[Options]) -> tuple[Spec, ...]:
    hints = get_type_hints(cls, include_extras=True)
    out = []
    for f in fields(cast(Any, cls)):
        hint = hints[f.name]
        meta: tuple[Any, ...] = ()
        if get_origin(hint) is Annotated:
            hint, *rest = get_args(hint)
            meta = tuple(rest)
        nested = next((a for a in (hint, *get_args(hint)) if isinstance(a, type) and is_dataclass(a)), None)
        default = f.default if f.default is not MISSING else (
            f.default_factory() if f.default_factory is not MISSING else MISSING)
        out.append(Spec(
            name=f.name, type=hint, default=default,
            bounds=tuple(m for m in meta if isinstance(m, Ge | Gt | Le | Lt)),
            help=next((m.text for m in meta if isinstance(m, Help)), ""),
            limit=next((m for m in meta if isinstance(m, Limit)), None),
            null_means=next((m for m in meta if isinstance(m, NullMeans)), None),
            nested=cast("type[Options] | None", nested),
            any_case=any(isinstance(m, AnyCase) for m in meta),
        ))
    return tuple(out)


def _bound_error(name: str, value: Any, bound: Any) -> str | None:
    if isinstance(bound, Ge) and not value >= bound.ge:
        return f"{name} ({value}) must be >= {bound.ge}"
    if isinstance(bound, Gt) and not value > bound.gt:
        return f"{name} ({value}) must be > {bound.gt}"
    if isinstance(bound, Le) and not value <= bound.le:
        return f"{name} ({value}) must be <= {bound.le}"
    if isinstance(bound, Lt) and not value < bound.lt:
        return f"{name} ({value}) must be < {bound.lt}"
    return None


def check_value(s: Spec, value: Any, where: str = "") -> None:
    """Raise ValueError, quoting the value, when `value` breaks the field's declaration."""
    name = f"{where}{s.name}"
    if value is None:
        if not s.optional:
            raise ValueError(f"{name} must be given (not null)")
        return
    if s.nested is not None:
        if not isinstance(value, s.nested):
            raise ValueError(f"{name} ({value!r}) must be {s.nested.__name__}")
        return  # it checked itself
    choices = s.choices
    if choices is not None:
        if value not in choices:
            raise ValueError(f"{name} ({value!r}) must be one of {list(choices)}")
        return
    base = s.base
    if base is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name} ({value!r}) must be true or false")
        return
    if base is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"{name} ({value!r}) must be an integer")
    if base is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} ({value!r}) must be a number")
        if not math.isfinite(value):
            raise ValueError(f"{name} ({value}) must be finite")
    if base is str and not isinstance(value, str):
        raise ValueError(f"{name} ({value!r}) must be a string")
    for bound in s.bounds:
        error = _bound_error(name, value, bound)
        if error:
            raise ValueError(error)


def check(options: Options) -> None:
    """Every field of `options` against its declaration."""
    for s in spec(type(options)):
        check_value(s, getattr(options, s.name))


class Options:
    """Validation on construction, and (de)serialisation, for the declared options."""

    def __post_init__(self) -> None:
        check(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(cast(Any, self))

    @classmethod
    def from_dict(cls: type[_O], raw: dict[str, Any]) -> _O:
        """The options a JSON dict gives; unknown fields are an error, nested dicts become their options."""
        specs = {s.name: s for s in spec(cls)}
        unknown = sorted(set(raw) - set(specs))
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields: {unknown}")
        values = {}
        for name, value in raw.items():
            nested = specs[name].nested
            values[name] = nested.from_dict(value) if nested is not None and isinstance(value, dict) else value
        return cls(**values)

    @classmethod
    def pick(cls: type[_O], params: dict[str, Any]) -> _O:
        """The options among a job's flat params (others ignored; absent ones take their defaults)."""
        return cls.from_dict({s.name: params[s.name] for s in spec(cls) if s.name in params})


def leaves(cls: type[Options], skip: frozenset[str] = frozenset(), prefix: str = "") -> list[tuple[str, Spec]]:
    """Every leaf field with its dotted name (nested options expanded: `early_stopping.patience`), but the
    top-level fields in `skip`."""
    out: list[tuple[str, Spec]] = []
    for s in spec(cls):
        if s.name in skip:
            continue
        if s.nested is not None:
            out += leaves(s.nested, prefix=f"{prefix}{s.name}.")
        else:
            out.append((prefix + s.name, s))
    return out


def leaf_names(cls: type[Options]) -> list[str]:
    """Dotted names of every leaf field."""
    return [name for name, _ in leaves(cls)]
