"""THE declaration of a training job's options: each field once, with its type, bounds, default and help.

Standard library and `annotated_types` only, so that every part may import it: `core` validates
its configs with `check` (messages quote the value), the API builds its request models from the
same fields (`service.schemas.base.api_model`: bounds, defaults and help become the OpenAPI
document), the CLI makes one flag per leaf field (`client.options.training_flags`), the Python
client checks names against `leaf_names`, and the docs' reference is generated from the API's
document. The defaults reproduce the reference tutorial.

The markers (`Help`, `Limit`, `NullMeans`) and the checking are in `common.declaration`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from annotated_types import Ge, Gt, Le, Lt

from rnncast.common.declaration import (
    AnyCase,
    Help,
    Limit,
    NullMeans,
    Options,
    Spec,
    check,
    check_value,
    leaf_names,
    leaves,
    spec,
)
from rnncast.common.defaults import (
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    MAX_HIDDEN_SIZE,
    MAX_NUM_LAYERS,
    MAX_OUTPUT_STEPS,
    MAX_POINTS,
    MAX_SEASON,
    MAX_SEED,
    MAX_SEQUENCE_LENGTH,
    MICRO_BATCH_SIZE,
    MIN_POINTS,
    STACKED_DROPOUT,
    Cell,
)

__all__ = [
    "RECIPES",
    "AnyCase",
    "AnyData",
    "DatasetData",
    "EarlyStopping",
    "Help",
    "JobOptions",
    "Limit",
    "ModelOptions",
    "NullMeans",
    "Options",
    "Recipe",
    "RolloutFinetune",
    "SineData",
    "Spec",
    "TrainOptions",
    "check",
    "check_value",
    "data_options",
    "effective_options",
    "from_params",
    "leaf_names",
    "leaves",
    "recipe_fields",
    "resolved_dropout",
    "resolved_micro_batch",
    "spec",
]


RECIPE_VALUE = NullMeans("left out or null: the recipe's value for the cell")

# --- the model --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelOptions(Options):
    """A recurrent layer (RNN, LSTM or GRU) followed by Linear(hidden, output_steps)."""

    cell: Annotated[Cell, AnyCase(), Help("the recurrent cell (any case)")] = "LSTM"
    hidden_size: Annotated[int, Ge(1), Le(MAX_HIDDEN_SIZE), Help("hidden units per layer")] = 20
    num_layers: Annotated[int, Ge(1), Le(MAX_NUM_LAYERS), Help("stacked recurrent layers")] = 1
    dropout: Annotated[float | None, Ge(0), Lt(1), Help(
        f"dropout between stacked layers (null: 0 for one layer, else {STACKED_DROPOUT})")] = None
    output_steps: Annotated[int, Ge(1), Le(MAX_OUTPUT_STEPS), Help(
        "values the head emits at once: each window predicts its next output_steps values, and a forecast "
        "rolls out in chunks of that many (1: one step at a time, the tutorial's)")] = 1

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
TRAIN_FRACTION = 0.8  # the tutorial's, for the sine and a dataset alike


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
    train_fraction: TrainFraction = TRAIN_FRACTION

    @property
    def step(self) -> float:
        return self.stop / (self.points - 1)


@dataclass(frozen=True)
class DatasetData(Options):
    """A stored dataset (a user's own series), identified by id and pinned by its digest."""

    dataset_id: Annotated[str, Help("a dataset's id")]
    sha256: str
    length: Annotated[int, Ge(MIN_POINTS), Help(
        "the values the job uses: the dataset's first `length` (all of them, but for a search's candidates, "
        "which use only the first part of the train part)")]
    step: Annotated[float, Gt(0)] = 1.0
    train_fraction: TrainFraction = TRAIN_FRACTION
    name: str | None = None
    frequency: str | None = None  # the dataset's time axis (common.timeaxis.TimeAxis), when its upload had one
    start: str | None = None
    month_end: bool = False
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
LossOn = Literal["last", "all"]
Difference = Literal["none", "first", "seasonal"]
Scaling = Literal["standard", "minmax", "none"]
Covariates = Literal["none", "calendar", "calendar+trend", "trend", "month", "day_of_week", "hour", "day_of_year",
                     "week_of_year"]


@dataclass(frozen=True)
class TrainOptions(Options):
    """Optimisation: the tutorial's loop by default, and the options beyond it. `seed` makes a CPU run
    reproducible to the bit."""

    epochs: Annotated[int, Ge(1), Le(MAX_EPOCHS), Limit("max_epochs"), RECIPE_VALUE, Help(
        "epochs of the main training")] = 500
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
    loss_on: Annotated[LossOn, Help(
        "last: the loss is on each window's prediction after its last value (the tutorial's); all: the "
        "output at every step of the window predicts the values after that step, all in the loss "
        "(seq2seq training)")] = "last"
    # How a dataset's values become the model's (core.transform): a sine job leaves them as they are.
    difference: Annotated[Difference, Help(
        "a dataset's values as the model sees them: none; first: y[t] - y[t-1]; seasonal: y[t] - "
        "y[t-season]. Forecasts are integrated back from the last observed values, so a trend "
        "continues past the values the model saw")] = "none"
    season: Annotated[int | None, Ge(2), Le(MAX_SEASON), NullMeans(
        "null: the season the train part's autocorrelation shows"), Help(
        "the seasonal difference's lag")] = None
    scaling: Annotated[Scaling | None, NullMeans("null: standard for a dataset, none for the sine"), Help(
        "a dataset's (differenced) values scaled with the train part's statistics: standard: "
        "(y - mean) / std; minmax: (y - min) / (max - min); none: as they are")] = None
    covariates: Annotated[Covariates, Help(
        "known-future inputs from a dataset's time axis, fed to the cell beside each value (sin/cos of the "
        "period's phase; trend: the position over the train part's length): none; calendar: those that vary "
        "at the series' frequency (hourly: hour, day_of_week; daily: day_of_week, day_of_year; weekly: "
        "week_of_year; monthly, quarterly: month); calendar+trend; trend; or one of month, day_of_week, "
        "hour, day_of_year, week_of_year. Needs a dataset uploaded with a time column")] = "none"

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
        raw = {"micro_batch_size": 0, **raw}  # a manifest always states it since it was added
        legacy = {k: raw.pop(k) for k in _LEGACY if k in raw}
        if legacy.get("early_stopping_patience") is not None:
            raw["early_stopping"] = {"patience": legacy["early_stopping_patience"]} | (
                {"min_delta": legacy["early_stopping_min_delta"]} if "early_stopping_min_delta" in legacy else {})
        if legacy.get("rollout_epochs"):
            raw["rollout_finetune"] = {k: legacy[f"rollout_{k}"] for k in ("epochs", "horizon", "lr")
                                       if f"rollout_{k}" in legacy}
        return super().from_dict(raw)


_LEGACY = ("early_stopping_patience", "early_stopping_min_delta", "rollout_epochs", "rollout_horizon", "rollout_lr")

Recipe = Literal["tutorial", "accurate", "fast", "auto"]


@dataclass(frozen=True)
class JobOptions(Options):
    """How the service runs a job (not the training itself)."""

    recipe: Annotated[Recipe, Help(
        "tutorial: the reference loop; accurate: the per-cell options bench/accuracy.py found best (fields "
        "given here override it; `params` shows what was used); fast: the tutorial's 500-epoch accuracy in the "
        "fewest epochs per cell that bench/accuracy.py found (a comparison reports each cell's time to it); auto "
        "(a dataset job): a search (POST /v1/searches) picks the cell, window, head, differencing, scaling and "
        "rate by backtest on the train part, and this job trains the best on it (its `search_id`; `params` shows "
        "the choice once made)")] = "tutorial"
    max_seconds: Annotated[float | None, Gt(0), Le(1e9), Help(
        "stop and fail the job after this many seconds of running (its last checkpoint is kept); the "
        "server's RNNCAST_MAX_JOB_SECONDS applies too")] = None


# Recipes: named sets of the options beyond the tutorial, per cell. `tutorial` is the reference loop;
# `accurate` is what bench/accuracy.py found best per cell; `fast` the fewest epochs per cell at which it reaches
# the tutorial's 500-epoch accuracy (bench/accuracy.py --fast; see the docs' performance page).
RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "tutorial": {"RNN": {}, "LSTM": {}, "GRU": {}},
    "auto": {"RNN": {}, "LSTM": {}, "GRU": {}},  # a search chooses (common.search); a refit's params say what
    "accurate": {
        "RNN": {"lr_schedule": "onecycle", "max_lr": 3e-3, "min_lr": 1e-6, "warmup_fraction": 0.1, "grad_clip": 1.0},
        "LSTM": {"lr_schedule": "onecycle", "max_lr": 1e-2, "min_lr": 1e-5, "warmup_fraction": 0.3},
        "GRU": {"lr_schedule": "onecycle", "max_lr": 1e-2, "min_lr": 1e-5, "warmup_fraction": 0.3},
    },
    "fast": {
        "RNN": {"epochs": 500},  # the tutorial's loop: no schedule tried reached its accuracy sooner
        "LSTM": {"epochs": 100, "lr_schedule": "onecycle", "max_lr": 1e-2, "min_lr": 1e-5, "warmup_fraction": 0.3},
        "GRU": {"epochs": 200, "lr_schedule": "onecycle", "max_lr": 1e-2, "min_lr": 1e-5, "warmup_fraction": 0.3},
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
    """The model, data and training options of a job's stored (flat) params (read as `from_dict` reads a
    manifest: params written before `micro_batch_size` existed trained whole batches)."""
    return ModelOptions.pick(params), data_options(params["data"]), TrainOptions.pick(params)
