"""THE declaration of a training job's options: each field once, with its type, bounds, default and help.

Standard library and `annotated_types` only, so that every part may import it: `core` validates
its configs with `check` (messages quote the value), the API builds its request models from the
same fields (`service.schemas.base.api_model`: bounds, defaults and help become the OpenAPI
document), the CLI makes one flag per leaf field (`client.options.option_flags`), the Python
client checks names against `leaf_names`, and the docs' reference is generated from the API's
document. The defaults reproduce the reference tutorial.

Markers in a field's `Annotated` metadata:
- `Help(text)`: its description.
- `Limit(setting)`: a running server bounds it by that `Settings` field too (checked once by
  `service.limits`; the OpenAPI document states the server's value).
- `NullMeans(text)`: the API accepts null (or absence) and resolves it, as the text says, before
  `core` sees it (a recipe's value, a random seed); `core` needs a value.
"""

from __future__ import annotations

import math
import types
from dataclasses import MISSING, asdict, dataclass, fields, is_dataclass
from typing import Annotated, Any, Literal, TypeVar, Union, cast, get_args, get_origin, get_type_hints

from annotated_types import Ge, Gt, Le, Lt

from rnncast.common.defaults import (
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    MAX_HIDDEN_SIZE,
    MAX_NUM_LAYERS,
    MAX_POINTS,
    MAX_SEED,
    MAX_SEQUENCE_LENGTH,
    MICRO_BATCH_SIZE,
    MIN_POINTS,
    STACKED_DROPOUT,
    Cell,
)

__all__ = [
    "RECIPES", "AnyData", "DatasetData", "EarlyStopping", "Help", "JobOptions", "Limit", "ModelOptions",
    "NullMeans", "Options", "Recipe", "RolloutFinetune", "SineData", "TrainOptions", "check", "data_options",
    "effective_options", "from_params", "leaf_names", "recipe_fields", "resolved_dropout",
    "resolved_micro_batch", "spec",
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


# What a recipe may set; in a request, null or absence leaves it to the recipe.
RECIPE_VALUE = NullMeans("left out or null: the recipe's value for the cell")

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


# --- the model --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelOptions(Options):
    """A recurrent layer (RNN, LSTM or GRU) followed by Linear(hidden, 1)."""

    cell: Annotated[Cell, Help("the recurrent cell")] = "LSTM"
    hidden_size: Annotated[int, Ge(1), Le(MAX_HIDDEN_SIZE), Help("hidden units per layer")] = 20
    num_layers: Annotated[int, Ge(1), Le(MAX_NUM_LAYERS), Help("stacked recurrent layers")] = 1
    dropout: Annotated[float | None, Ge(0), Lt(1), Help(
        f"dropout between stacked layers (null: 0 for one layer, else {STACKED_DROPOUT})")] = None

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "dropout", resolved_dropout(self.dropout, self.num_layers))


def resolved_dropout(dropout: float | None, num_layers: int) -> float:
    """Dropout between stacked layers: as given, else none for one layer and STACKED_DROPOUT for more."""
    if dropout is not None:
        return dropout
    return 0.0 if num_layers == 1 else STACKED_DROPOUT


def resolved_micro_batch(micro_batch_size: int | None, cell: str) -> int:
    """Rows per training pass: as given, else the cell's default (MICRO_BATCH_SIZE)."""
    return micro_batch_size if micro_batch_size is not None else MICRO_BATCH_SIZE[cell]


# --- the data ---------------------------------------------------------------------------------

TrainFraction = Annotated[float, Gt(0), Lt(1), Help("share of the windows (in time order) used for training")]


@dataclass(frozen=True)
class SineData(Options):
    """The training signal: y = amplitude * sin(2*pi*t/period + phase) + N(0, noise_std), `points` samples
    on t in [0, stop]."""

    kind: Literal["sine"] = "sine"
    amplitude: Annotated[float, Ge(-1e6), Le(1e6)] = 1.0
    period: Annotated[float, Gt(0), Le(1e9)] = 20.0
    phase: Annotated[float, Ge(-1e6), Le(1e6)] = 0.0
    noise_std: Annotated[float, Ge(0), Le(1e6), Help("Gaussian noise on the signal")] = 0.0
    points: Annotated[int, Ge(MIN_POINTS), Le(MAX_POINTS), Help("samples of the signal")] = 2000
    stop: Annotated[float, Gt(0), Le(1e9), Help("the last t")] = 1000.0
    train_fraction: TrainFraction = 0.8

    @property
    def step(self) -> float:
        return self.stop / (self.points - 1)


@dataclass(frozen=True)
class DatasetData(Options):
    """A stored dataset (a user's own series), identified by id and pinned by its digest."""

    dataset_id: Annotated[str, Help("a dataset's id")]
    sha256: str
    length: Annotated[int, Ge(MIN_POINTS)]
    step: Annotated[float, Gt(0)] = 1.0
    train_fraction: TrainFraction = 0.8
    name: str | None = None
    kind: Literal["dataset"] = "dataset"


AnyData = SineData | DatasetData


def data_options(raw: dict[str, Any]) -> AnyData:
    """The sine's or a dataset's options, by its `kind` (sine when absent)."""
    return DatasetData.from_dict(raw) if raw.get("kind") == "dataset" else SineData.from_dict(raw)


# --- training ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EarlyStopping(Options):
    """Stop the main training after `patience` epochs whose test loss is not `min_delta` below the best."""

    patience: Annotated[int, Ge(1), Le(MAX_EPOCHS), Help("epochs without a new best test loss")] = 20
    min_delta: Annotated[float, Ge(0), Le(1e6), Help("the improvement that counts")] = 0.0


@dataclass(frozen=True)
class RolloutFinetune(Options):
    """After the main training, fine-tune on the free-running loss: the model fed its own predictions for
    `horizon` steps from each training window, the MSE of that rollout against the series."""

    epochs: Annotated[int, Ge(1), Le(10_000), Help("fine-tuning epochs")] = 10
    horizon: Annotated[int, Ge(1), Le(1_000), Help("rollout steps")] = 10
    lr: Annotated[float, Gt(0), Le(1), Help("the fine-tuning rate")] = 1e-4


Schedule = Literal["constant", "cosine", "onecycle", "plateau"]


@dataclass(frozen=True)
class TrainOptions(Options):
    """Optimisation: the tutorial's loop by default, and the options beyond it. `seed` makes a CPU run
    reproducible to the bit."""

    epochs: Annotated[int, Ge(1), Le(MAX_EPOCHS), Limit("max_epochs"), Help("epochs of the main training")] = 500
    batch_size: Annotated[int, Ge(1), Le(MAX_BATCH_SIZE), Help("windows per optimizer step")] = 500
    lr: Annotated[float, Gt(0), Le(1), Help("Adam's learning rate")] = 1e-3
    sequence_length: Annotated[int, Ge(1), Le(MAX_SEQUENCE_LENGTH), Help(
        "window length: the values the model reads to predict the next")] = 80
    seed: Annotated[int, Ge(0), Le(MAX_SEED), NullMeans("null: a random seed, recorded in params"), Help(
        "makes a CPU run reproducible to the bit")] = 0
    checkpoint_every: Annotated[int, Ge(0), Le(MAX_EPOCHS), Help(
        "save a resume checkpoint every this many epochs (0: only at the end)")] = 10
    micro_batch_size: Annotated[int | None, Ge(0), Le(MAX_BATCH_SIZE), Help(
        "rows per forward/backward pass: a larger batch runs as passes whose gradients add up to the batch's "
        "(one optimizer step, the same update but for float rounding), bounding training memory. 0: the whole "
        "batch at once; null: " + ", ".join(f"{n} for {cell}" for cell, n in MICRO_BATCH_SIZE.items()))] = None
    # Beyond the tutorial: a recipe may set these (the defaults keep the tutorial's loop; see core.schedule).
    lr_schedule: Annotated[Schedule, RECIPE_VALUE, Help(
        "per epoch: constant; cosine from lr to min_lr; onecycle: linear warm-up from lr to max_lr over "
        "warmup_fraction of the epochs, then cosine to min_lr; plateau: divide by factor after patience epochs "
        "without a new best test loss (not below min_lr)")] = "constant"
    max_lr: Annotated[float | None, Gt(0), Le(1), RECIPE_VALUE, Help("onecycle's peak (unset: 10 x lr)")] = None
    min_lr: Annotated[float, Ge(0), Le(1), RECIPE_VALUE, Help(
        "cosine's and onecycle's end rate; plateau's floor")] = 0.0
    warmup_fraction: Annotated[float, Ge(0), Le(1), RECIPE_VALUE, Help(
        "onecycle: share of the epochs spent warming up")] = 0.3
    factor: Annotated[float, Ge(1), Le(1000), RECIPE_VALUE, Help("plateau: divide the rate by this")] = 2.0
    patience: Annotated[int, Ge(1), Le(MAX_EPOCHS), RECIPE_VALUE, Help(
        "plateau: epochs without a new best test loss before the rate drops")] = 10
    grad_clip: Annotated[float | None, Gt(0), Le(1e6), RECIPE_VALUE, Help(
        "max global gradient norm (unset: off)")] = None
    early_stopping: Annotated[EarlyStopping | None, RECIPE_VALUE, Help(
        "stop the main training when the test loss stops improving (unset: off)")] = None
    restore_best: Annotated[bool | None, RECIPE_VALUE, Help(
        "end with the best epoch's weights (unset: on exactly when early_stopping is)")] = None
    rollout_finetune: Annotated[RolloutFinetune | None, RECIPE_VALUE, Help(
        "fine-tune on the free-running loss after the main training (unset: off)")] = None
    input_noise_std: Annotated[float, Ge(0), Le(10), RECIPE_VALUE, Help(
        "Gaussian noise on training inputs")] = 0.0

    @property
    def keeps_best(self) -> bool:
        """Ends with the best epoch's weights: restore_best, which follows early stopping when left out."""
        return self.restore_best if self.restore_best is not None else self.early_stopping is not None

    @property
    def rollout_epochs(self) -> int:
        return self.rollout_finetune.epochs if self.rollout_finetune is not None else 0

    @property
    def total_epochs(self) -> int:
        """Main epochs plus rollout fine-tuning epochs (an early stop ends the main part sooner)."""
        return self.epochs + self.rollout_epochs

    def micro_batch(self, cell: str) -> int:
        """Rows per training pass: the given micro_batch_size, else the cell's default."""
        return resolved_micro_batch(self.micro_batch_size, cell)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainOptions:
        """Also reads manifests written before the options were declared once (flat early-stopping and
        rollout names; no micro_batch_size meant whole batches)."""
        raw = dict(raw)
        legacy = {k: raw.pop(k) for k in _LEGACY if k in raw}
        if legacy:
            raw.setdefault("micro_batch_size", 0)
            if legacy.get("early_stopping_patience") is not None:
                raw["early_stopping"] = {"patience": legacy["early_stopping_patience"],
                                         "min_delta": legacy.get("early_stopping_min_delta", 0.0)}
            if legacy.get("rollout_epochs"):
                raw["rollout_finetune"] = {"epochs": legacy["rollout_epochs"],
                                           "horizon": legacy.get("rollout_horizon", 10),
                                           "lr": legacy.get("rollout_lr", 1e-4)}
        return super().from_dict(raw)


_LEGACY = ("early_stopping_patience", "early_stopping_min_delta", "rollout_epochs", "rollout_horizon", "rollout_lr")

Recipe = Literal["tutorial", "accurate"]


@dataclass(frozen=True)
class JobOptions(Options):
    """How the service runs a job (not the training itself)."""

    recipe: Annotated[Recipe, Help(
        "tutorial: the reference loop; accurate: the per-cell options bench/accuracy.py found best (fields "
        "given here override it; `params` shows what was used)")] = "tutorial"
    max_seconds: Annotated[float | None, Gt(0), Le(1e9), Help(
        "stop and fail the job after this many seconds of running (its last checkpoint is kept); the "
        "server's RNNCAST_MAX_JOB_SECONDS applies too")] = None


# Recipes: named sets of the options beyond the tutorial, per cell. `tutorial` is the reference loop;
# `accurate` is what bench/accuracy.py found best per cell (see the docs' performance page).
RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "tutorial": {"RNN": {}, "LSTM": {}, "GRU": {}},
    "accurate": {
        "RNN": {"lr_schedule": "onecycle", "max_lr": 3e-3, "min_lr": 1e-6, "warmup_fraction": 0.1, "grad_clip": 1.0},
        "LSTM": {"lr_schedule": "onecycle", "max_lr": 1e-2, "min_lr": 1e-5, "warmup_fraction": 0.3},
        "GRU": {"lr_schedule": "onecycle", "max_lr": 1e-2, "min_lr": 1e-5, "warmup_fraction": 0.3},
    },
}


def recipe_fields() -> tuple[str, ...]:
    """The options a recipe may set."""
    return tuple(s.name for s in spec(TrainOptions) if s.null_means is RECIPE_VALUE)


def effective_options(cell: str, recipe: str, given: dict[str, Any]) -> dict[str, Any]:
    """A job's recipe options: what it gave (not null), else its recipe's for its cell, else the declared
    default; `restore_best` left out is on exactly when early stopping is."""
    defaults = {s.name: s.default for s in spec(TrainOptions) if s.null_means is RECIPE_VALUE}
    options = {**defaults, **RECIPES[recipe][cell], **{k: v for k, v in given.items() if v is not None}}
    if options["restore_best"] is None:
        options["restore_best"] = options["early_stopping"] is not None
    return options


def from_params(params: dict[str, Any]) -> tuple[ModelOptions, AnyData, TrainOptions]:
    """The model, data and training options of a job's stored (flat) params. Params written before
    `micro_batch_size` existed trained whole batches (0)."""
    return (ModelOptions.pick(params), data_options(params["data"]),
            TrainOptions.pick({"micro_batch_size": 0, **params}))


def leaf_names(cls: type[Options], prefix: str = "") -> list[str]:
    """Dotted names of every leaf field (nested options expanded): `early_stopping.patience`."""
    out: list[str] = []
    for s in spec(cls):
        if s.nested is not None:
            out += leaf_names(s.nested, f"{prefix}{s.name}.")
        else:
            out.append(prefix + s.name)
    return out


