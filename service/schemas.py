"""Request and response models: every field bounded, no NaN/inf, no unknown fields."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from rnncast.common import defaults as D
from rnncast.common.defaults import CELLS, Cell
from rnncast.common.settings import get_settings

Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]


def _whole(value: Any) -> Any:
    """A JSON number written 3.0 is an integer too (the schema's `integer` admits it)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Whole = Annotated[int, BeforeValidator(_whole)]

# Bounded Wholes for list items and optional fields: the bounds must come before the
# validator, or the JSON schema does not state them.
Seed = Annotated[int, Field(ge=0, le=2**32 - 1), BeforeValidator(_whole)]
Position = Annotated[int, Field(ge=0, le=D.MAX_POINTS), BeforeValidator(_whole)]
Season = Annotated[int, Field(ge=1, le=D.MAX_POINTS), BeforeValidator(_whole)]
Points = Annotated[int, Field(ge=3, le=D.MAX_POINTS), BeforeValidator(_whole)]
Rows = Annotated[int, Field(ge=0, le=D.MAX_BATCH_SIZE), BeforeValidator(_whole)]


def _cap(what: str, setting: str, limit: int) -> WrapValidator:
    """Refuses a list of more than `limit` items (this server's `setting`) before any item is validated."""

    def check(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if isinstance(value, list) and len(value) > limit:
            raise PydanticCustomError(
                "too_long", "{what} has more than {limit} values; this server's limit is {setting} ({limit})",
                {"what": what, "limit": limit, "setting": setting})
        return handler(value)

    return WrapValidator(check)


# This process's limits: the arrays' caps in the schema (maxItems) are the ones the server enforces.
LIMITS = get_settings()
Context = Annotated[list[float], Field(min_length=1, max_length=LIMITS.max_context),
                    _cap("context", "RNNCAST_MAX_CONTEXT", LIMITS.max_context)]
SeriesValues = Annotated[list[float], Field(min_length=3, max_length=LIMITS.max_dataset_points),
                         _cap("values", "RNNCAST_MAX_DATASET_POINTS", LIMITS.max_dataset_points)]


class Strict(BaseModel):
    """Rejects unknown fields, NaN and infinities, and strings posing as numbers."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


class DataSpec(Strict):
    """The training signal: y = amplitude * sin(2*pi*t/period + phase) + N(0, noise_std)."""

    kind: Literal["sine"] = "sine"
    amplitude: float = Field(D.AMPLITUDE, ge=-1e6, le=1e6)
    period: float = Field(D.PERIOD, gt=0, le=1e9)
    phase: float = Field(D.PHASE, ge=-1e6, le=1e6)
    noise_std: float = Field(D.NOISE_STD, ge=0, le=1e6)
    points: Whole = Field(D.POINTS, ge=3, le=D.MAX_POINTS)
    stop: float = Field(D.STOP, gt=0, le=1e9)
    train_fraction: float = Field(D.TRAIN_FRACTION, gt=0, lt=1)


class DatasetRef(Strict):
    """Train on a stored dataset (POST /v1/datasets): its values in time order, standardised with the train part's
    mean and std."""

    dataset_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="a dataset's id")
    train_fraction: float = Field(D.TRAIN_FRACTION, gt=0, lt=1)
    kind: Literal["dataset"] = "dataset"


class EarlyStoppingSpec(Strict):
    """Stop the main training after `patience` epochs whose test loss is not `min_delta` below the best."""

    patience: Whole = Field(D.EARLY_STOPPING["patience"], ge=1, le=D.MAX_EPOCHS)
    min_delta: float = Field(D.EARLY_STOPPING["min_delta"], ge=0, le=1e6)


class RolloutFinetuneSpec(Strict):
    """After the main training, fine-tune on the free-running loss: the model fed its own predictions for
    `horizon` steps from each training window, the MSE of that rollout against the series."""

    epochs: Whole = Field(D.ROLLOUT_FINETUNE["epochs"], ge=1, le=10_000)
    horizon: Whole = Field(D.ROLLOUT_FINETUNE["horizon"], ge=1, le=1_000)
    lr: float = Field(D.ROLLOUT_FINETUNE["lr"], gt=0, le=1)


def _data_kind(value: Any) -> str:
    """A job's `data` is a dataset reference when it names a dataset (or says so), else the sine's parameters."""
    if isinstance(value, dict):
        return "dataset" if "dataset_id" in value or value.get("kind") == "dataset" else "sine"
    return str(getattr(value, "kind", "sine"))


class TrainOptions(Strict):
    """Every training-job field but `cell` and `seed` (shared with comparisons)."""

    hidden_size: Whole = Field(D.HIDDEN_SIZE, ge=1, le=D.MAX_HIDDEN_SIZE)
    num_layers: Whole = Field(D.NUM_LAYERS, ge=1, le=D.MAX_NUM_LAYERS)
    dropout: float | None = Field(
        None, ge=0, lt=1, description=f"null: 0 for one layer, else {D.STACKED_DROPOUT}"
    )
    epochs: Whole = Field(D.EPOCHS, ge=1, le=D.MAX_EPOCHS)
    batch_size: Whole = Field(D.BATCH_SIZE, ge=1, le=D.MAX_BATCH_SIZE)
    lr: float = Field(D.LR, gt=0, le=1)
    sequence_length: Whole = Field(D.SEQUENCE_LENGTH, ge=1, le=D.MAX_SEQUENCE_LENGTH)
    data: Annotated[Annotated[DataSpec, Tag("sine")] | Annotated[DatasetRef, Tag("dataset")],
                    Discriminator(_data_kind)] = Field(
        default_factory=DataSpec,
        description="the sine's parameters (default), or {\"dataset_id\"} to train on a stored dataset",
    )
    checkpoint_every: Whole = Field(D.CHECKPOINT_EVERY, ge=0, le=D.MAX_EPOCHS, description="0: only at the end")
    micro_batch_size: Rows | None = Field(
        None,
        description="rows per forward/backward pass: a larger batch runs as passes whose gradients add up to "
        "the batch's (one optimizer step, the same update but for float rounding), bounding training memory. "
        "0: the whole batch at once; null: "
        + ", ".join(f"{n} for {cell}" for cell, n in D.MICRO_BATCH_SIZE.items()),
    )
    max_seconds: float | None = Field(
        None, gt=0, le=1e9, description="stop and fail the job after this many seconds of running "
        "(its last checkpoint is kept); the server's RNNCAST_MAX_JOB_SECONDS applies too",
    )
    name: str | None = Field(None, max_length=200)
    # Beyond the tutorial. Left out (null): the recipe's value for the cell, else the tutorial's loop.
    recipe: Literal["tutorial", "accurate"] = Field(
        "tutorial", description="tutorial: the reference loop; accurate: the per-cell options bench/accuracy.py "
        "found best (fields given here override it; `params` shows what was used)")
    lr_schedule: Literal["constant", "cosine", "onecycle", "plateau"] | None = Field(
        None, description="per epoch: constant; cosine from lr to min_lr; onecycle: linear warm-up from lr to "
        "max_lr over warmup_fraction of the epochs, then cosine to min_lr; plateau: divide by factor after "
        "patience epochs without a new best test loss (not below min_lr)")
    max_lr: float | None = Field(None, gt=0, le=1, description="onecycle's peak (null: 10 x lr)")
    min_lr: float | None = Field(None, ge=0, le=1)
    warmup_fraction: float | None = Field(None, ge=0, le=1)
    factor: float | None = Field(None, ge=1, le=1000)
    patience: Annotated[int, Field(ge=1, le=D.MAX_EPOCHS), BeforeValidator(_whole)] | None = None
    grad_clip: float | None = Field(None, gt=0, le=1e6, description="max global gradient norm (off by default)")
    early_stopping: EarlyStoppingSpec | None = None
    restore_best: bool | None = Field(None, description="end with the best epoch's weights (default: on with "
                                      "early_stopping)")
    rollout_finetune: RolloutFinetuneSpec | None = None
    input_noise_std: float | None = Field(None, ge=0, le=10, description="Gaussian noise on training inputs")

    @model_validator(mode="after")
    def _windows_fit(self) -> TrainOptions:
        if isinstance(self.data, DatasetRef):  # checked against the dataset's length when the job is created
            return self
        points = self.data.points
        if self.sequence_length >= points:
            raise ValueError(f"sequence_length ({self.sequence_length}) must be < data.points ({points})")
        windows = points - self.sequence_length
        n_train = int(windows * self.data.train_fraction)
        if n_train < 1 or n_train >= windows:
            raise ValueError(
                f"data.train_fraction ({self.data.train_fraction}) leaves no train or no test "
                f"window out of {windows}"
            )
        return self


class JobCreate(TrainOptions):
    """A training job: `cell` is required, everything else has the tutorial's default."""

    cell: Cell
    seed: Seed | None = Field(D.SEED, description="null: a random seed, recorded")


class Progress(BaseModel):
    epoch: int
    epochs: int | None


class Losses(BaseModel):
    train_loss: float | None
    test_loss: float | None


class History(BaseModel):
    """One value per finished epoch (a history past 4,000 epochs is thinned evenly: `epoch` says which);
    null where a diverged run produced NaN or inf."""

    epoch: list[int] = Field(default_factory=list, description="the epoch of each value")
    train_loss: list[float | None]
    test_loss: list[float | None]
    lr: list[float | None] = Field(default_factory=list, description="the learning rate of each epoch")
    forecast_mse: list[float | None] | None = Field(
        None, description="a comparison run's forecast MSE after each `forecast.every`-th epoch (null between)")


class JobRow(BaseModel):
    """A training job as `GET /v1/jobs` lists it: everything but its per-epoch history."""

    id: str
    kind: Literal["train"]
    name: str | None
    status: Status
    params: dict[str, Any]
    progress: Progress
    metrics: Losses
    model_id: str | None
    error: str | None
    attempts: int
    resumed_from_epoch: int | None
    device: str | None
    comparison_id: str | None
    cancel_requested: bool
    best_epoch: int | None = Field(None, description="the epoch whose weights the model has (restore_best)")
    stopped_early_at: int | None = Field(None, description="the epoch early stopping ended the main training at")
    created_at: str
    started_at: str | None
    finished_at: str | None


class Job(JobRow):
    """A training job as the API reports it, with its per-epoch history."""

    history: History


class JobList(BaseModel):
    """Jobs newest first; rows carry no `history` (fetch one job for it)."""

    data: list[JobRow]
    count: int


class Readiness(BaseModel):
    redis: str
    workers: int


class ErrorBody(BaseModel):
    detail: Any


def _no_default(schema: dict[str, Any]) -> None:
    """An optional field whose absence means something: no `null` default in the schema."""
    schema.pop("default", None)


ForecastField = Literal["x", "y", "exact", "mse", "max_abs_error"]


class ForecastRequest(Strict):
    """At most one of `start` (a sine model: context from its own signal), `origin` (a dataset model: a position in
    its series) or `context` (your values); a sine model needs `start` or `context`. Given only `horizon`, a
    dataset model goes on from its series' end."""

    start: Annotated[float, Field(ge=-1e6, le=1e6)] | SkipJsonSchema[None] = Field(
        None, description="sine models: phase t of the first prediction", json_schema_extra=_no_default
    )
    origin: Position | SkipJsonSchema[None] = Field(
        None, description="dataset models: the position of the first prediction (the sequence_length values "
        "before it are the window; where the series goes on, they are `exact`)", json_schema_extra=_no_default
    )
    context: Context | SkipJsonSchema[None] = Field(
        None, description="at least sequence_length values", json_schema_extra=_no_default
    )
    horizon: Whole = Field(D.FORECAST_HORIZON, ge=1, le=D.MAX_HORIZON, description="steps to predict")
    fields: Annotated[list[ForecastField], Field(min_length=1, max_length=5)] | SkipJsonSchema[None] = Field(
        None, description="only these fields of the answer (model_id and horizon always come): a leaner "
        "response for clients that need, say, only `y`", json_schema_extra=_no_default,
    )

    @model_validator(mode="after")
    def _one_source(self) -> ForecastRequest:
        given = {"start", "context", "origin"} & self.model_fields_set
        if len(given) > 1:
            raise ValueError(f"give exactly one of 'start', 'origin' or 'context', not {sorted(given)} (a dataset "
                             f"model also takes none of them: it goes on from its series' end)")
        for name in given:
            if getattr(self, name) is None:
                raise ValueError(f"{name!r} must not be null")
        return self


class ForecastResponse(BaseModel):
    model_id: str
    horizon: int
    x: list[float] | None = None
    y: list[float | None] | None = None
    exact: list[float] | None = None
    mse: float | None = None
    max_abs_error: float | None = None


class CheckpointInfo(BaseModel):
    format: Literal["safetensors"]
    sha256: str
    bytes: int


class Model(BaseModel):
    """A trained model (its id is the training job's id)."""

    id: str
    job_id: str
    cell: Cell
    params: dict[str, Any]
    metrics: Losses
    epochs_trained: int
    parameters: int
    device: str
    created_at: str
    checkpoint: CheckpointInfo


class ModelList(BaseModel):
    data: list[Model]
    count: int




class ForecastSpec(Strict):
    """The forecast each run makes right after training: from `start` on the sine, or from `origin` on a dataset."""

    start: float = Field(D.FORECAST_START, ge=-1e6, le=1e6)
    horizon: Whole = Field(D.FORECAST_HORIZON, ge=1, le=D.MAX_HORIZON)
    every: Annotated[int, Field(ge=0, le=D.MAX_EPOCHS), BeforeValidator(_whole)] = Field(
        0, description="also forecast after every this many epochs, into each run's history (0: only at the end)")
    origin: Position | None = Field(
        None, description="dataset runs: the position of the first prediction; null: the test part's first position",
    )


class ComparisonCreate(Strict):
    """One training job per (cell, seed), all queued at once."""

    cells: list[Cell] = Field(default_factory=lambda: list(CELLS), min_length=1, max_length=3)
    seeds: list[Seed] = Field(default_factory=lambda: [0], min_length=1, max_length=1000)
    train: TrainOptions = Field(default_factory=TrainOptions)
    forecast: ForecastSpec = Field(default_factory=ForecastSpec)
    name: str | None = Field(None, max_length=200)

    @model_validator(mode="after")
    def _unique(self) -> ComparisonCreate:
        if len(set(self.cells)) != len(self.cells):
            raise ValueError(f"cells ({self.cells}) must not repeat")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds ({self.seeds}) must not repeat")
        return self


class Stat(BaseModel):
    mean: float | None
    std: float | None
    n: int


class CellSummary(BaseModel):
    final_test_loss: Stat
    forecast_mse: Stat
    train_seconds: Stat


class Run(BaseModel):
    cell: Cell
    seed: int
    job_id: str
    status: Status
    epoch: int
    final_train_loss: float | None
    final_test_loss: float | None
    forecast_mse: float | None
    train_seconds: float | None
    parameters: int | None
    error: str | None


class Comparison(BaseModel):
    """An RNN/LSTM/GRU study: its runs, per-cell statistics and the winner."""

    id: str
    name: str | None
    status: Literal["running", "succeeded", "failed", "cancelled"]
    cells: list[Cell]
    seeds: list[int]
    train: dict[str, Any]
    forecast: ForecastSpec
    runs: list[Run]
    summary: dict[str, CellSummary]
    best_cell: Cell | None
    created_at: str
    finished_at: str | None


class ComparisonList(BaseModel):
    data: list[Comparison]
    count: int


# --- datasets and backtests ----------------------------------------------------------------------

Name = Annotated[str, Field(min_length=1, max_length=200)]
Amplitude = Annotated[float, Field(ge=-1e6, le=1e6)]
Period = Annotated[float, Field(gt=0, le=1e9, description="in units of t (t = position x step)")]
Phase = Annotated[float, Field(ge=-1e6, le=1e6)]
NoiseStd = Annotated[float, Field(ge=0, le=1e6)]
StepSize = Annotated[float, Field(gt=0, le=1e9)]


class _Generator(Strict):
    points: Points = 2000
    step: StepSize = 1.0
    noise_std: NoiseStd = 0.0
    seed: Seed = 0


class SineGenerator(_Generator):
    """amplitude * sin(2 pi t / period + phase) + noise."""

    kind: Literal["sine"]
    amplitude: Amplitude = 1.0
    period: Period = 40.0
    phase: Phase = 0.0


class SineComponent(Strict):
    amplitude: Amplitude = 1.0
    period: Period
    phase: Phase = 0.0


class SinesGenerator(_Generator):
    """A sum of sines (several seasons at once) + noise."""

    kind: Literal["sines"]
    components: list[SineComponent] = Field(min_length=1, max_length=16)


class DampedSineGenerator(_Generator):
    """amplitude * exp(-decay t) * sin(2 pi t / period + phase) + noise."""

    kind: Literal["damped_sine"]
    amplitude: Amplitude = 1.0
    period: Period = 40.0
    phase: Phase = 0.0
    decay: Annotated[float, Field(ge=0, le=1e3)] = 0.001


class RandomWalkGenerator(_Generator):
    """start + cumulative sum of N(drift, step_std) steps (+ noise)."""

    kind: Literal["random_walk"]
    start: Amplitude = 0.0
    drift: Annotated[float, Field(ge=-1e6, le=1e6)] = 0.0
    step_std: Annotated[float, Field(gt=0, le=1e6)] = 1.0


Generator = Annotated[SineGenerator | SinesGenerator | DampedSineGenerator | RandomWalkGenerator,
                      Field(discriminator="kind")]


class DatasetValues(Strict):
    """Your series as JSON: values in time order, `step` between them (default 1)."""

    name: Name
    values: SeriesValues
    step: StepSize = 1.0


class DatasetGenerated(Strict):
    """A built-in signal as a dataset, to try harder series than one sine."""

    name: Name | None = None
    generator: Generator


class DatasetStats(BaseModel):
    mean: float
    std: float
    min: float
    max: float


class Dataset(BaseModel):
    """A stored series; its values are fetched in pages from `.../values`."""

    id: str
    name: str
    length: int
    step: float
    sha256: str = Field(description="of the values as little-endian float64")
    stats: DatasetStats
    source: dict[str, Any] = Field(description="how it was made: JSON values, a CSV upload (column, rows, time "
                                   "column) or a generator (its parameters)")
    created_at: str


class DatasetList(BaseModel):
    data: list[Dataset]
    count: int


class DatasetValuesPage(BaseModel):
    id: str
    offset: int
    limit: int
    length: int
    values: list[float]


class BacktestRequest(Strict):
    """Rolling-origin evaluation over the model's test part."""

    origins: Whole = Field(D.BACKTEST_ORIGINS, ge=1, le=D.MAX_BACKTEST_ORIGINS,
                           description="forecast origins, spread evenly over the test part")
    horizon: Whole = Field(D.BACKTEST_HORIZON, ge=1, le=D.MAX_HORIZON, description="steps per forecast")
    season: Season | None = Field(None, description="the seasonal naive baseline's season in steps; null: the "
                                 "strongest autocorrelation peak of the train part (1 when there is none)")


class PerStep(BaseModel):
    mse: list[float | None]
    mae: list[float | None]
    smape: list[float | None]


class Scores(BaseModel):
    """Errors in the series' units; sMAPE in percent (200 |y - f| / (|y| + |f|))."""

    mse: float | None
    mae: float | None
    smape: float | None
    per_step: PerStep


class BacktestResult(BaseModel):
    model_id: str
    origins: int = Field(description="origins used (distinct positions: fewer when the test part is short)")
    horizon: int
    origin_positions: list[int]
    test_start: int = Field(description="the first position of the test part")
    season: int
    season_source: Literal["given", "autocorrelation", "none"]
    model: Scores
    naive: Scores
    seasonal_naive: Scores
    best_baseline: Literal["naive", "seasonal_naive"] | None
    skill: float | None = Field(description="1 - model MSE / the better baseline's MSE")


class EnsembleRequest(Strict):
    """The comparison's models continue one window: at most one of `start` (sine), `origin` (dataset; default its
    end) or your `context`; none of them: where the runs' own forecasts started."""

    start: Annotated[float, Field(ge=-1e6, le=1e6)] | SkipJsonSchema[None] = Field(
        None, json_schema_extra=_no_default)
    origin: Position | SkipJsonSchema[None] = Field(None, json_schema_extra=_no_default)
    context: Context | SkipJsonSchema[None] = Field(None, json_schema_extra=_no_default)
    horizon: Whole = Field(D.FORECAST_HORIZON, ge=1, le=D.MAX_HORIZON)

    @model_validator(mode="after")
    def _one_source(self) -> EnsembleRequest:
        given = [k for k in ("start", "origin", "context") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give at most one of 'start', 'origin' or 'context', not {given}")
        return self


class SeedError(BaseModel):
    seed: int
    job_id: str
    mse: float | None
    max_abs_error: float | None


class CellBand(BaseModel):
    """A cell's forecasts over its seeds, step by step; std is the sample standard deviation."""

    n: int
    mean: list[float | None]
    std: list[float | None]
    lower: list[float | None] = Field(description="mean - 2 std")
    upper: list[float | None] = Field(description="mean + 2 std")
    min: list[float | None]
    max: list[float | None]
    seeds: list[SeedError]
    mse_of_mean: float | None = None


class EnsembleForecast(BaseModel):
    comparison_id: str
    horizon: int
    x: list[float]
    exact: list[float] | None
    cells: dict[str, CellBand]
