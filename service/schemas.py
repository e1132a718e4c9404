"""Request and response models: every field bounded, no NaN/inf, no unknown fields."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from rnncast.common import defaults as D
from rnncast.common.defaults import CELLS, Cell

Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]


def _whole(value: Any) -> Any:
    """A JSON number written 3.0 is an integer too (the schema's `integer` admits it)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Whole = Annotated[int, BeforeValidator(_whole)]


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
    data: DataSpec = Field(default_factory=DataSpec)
    checkpoint_every: Whole = Field(D.CHECKPOINT_EVERY, ge=0, le=D.MAX_EPOCHS, description="0: only at the end")
    micro_batch_size: Whole | None = Field(
        None, ge=0, le=D.MAX_BATCH_SIZE,
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

    @model_validator(mode="after")
    def _windows_fit(self) -> TrainOptions:
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
    seed: Whole | None = Field(D.SEED, ge=0, le=2**32 - 1, description="null: a random seed, recorded")


class Progress(BaseModel):
    epoch: int
    epochs: int | None


class Losses(BaseModel):
    train_loss: float | None
    test_loss: float | None


class History(BaseModel):
    """One value per finished epoch; null where a diverged run produced NaN or inf."""

    train_loss: list[float | None]
    test_loss: list[float | None]


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


class ForecastRequest(Strict):
    """Either `start` (context from the model's own signal) or `context` (your values), not both."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["start"]}, {"required": ["context"]}]})

    start: Annotated[float, Field(ge=-1e6, le=1e6)] | SkipJsonSchema[None] = Field(
        None, description="phase t of the first prediction", json_schema_extra=_no_default
    )
    context: Annotated[list[float], Field(min_length=1, max_length=1_000_000)] | SkipJsonSchema[None] = Field(
        None, description="at least sequence_length values", json_schema_extra=_no_default
    )
    horizon: Whole = Field(D.FORECAST_HORIZON, ge=1, le=D.MAX_HORIZON, description="steps to predict")

    @model_validator(mode="after")
    def _one_source(self) -> ForecastRequest:
        if (self.start is None) == (self.context is None) or {"start", "context"} <= self.model_fields_set:
            raise ValueError("give exactly one of 'start' or 'context'")
        return self


class ForecastResponse(BaseModel):
    model_id: str
    horizon: int
    x: list[float]
    y: list[float]
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


Seed = Annotated[Whole, Field(ge=0, le=2**32 - 1)]


class ForecastSpec(Strict):
    """The forecast each run makes right after training."""

    start: float = Field(D.FORECAST_START, ge=-1e6, le=1e6)
    horizon: Whole = Field(D.FORECAST_HORIZON, ge=1, le=D.MAX_HORIZON)


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
