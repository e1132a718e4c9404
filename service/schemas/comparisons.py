"""Comparisons: the RNN vs LSTM vs GRU study, and its ensemble forecasts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from rnncast.common.defaults import CELLS, FORECAST_HORIZON, FORECAST_START, MAX_EPOCHS, MAX_SEEDS, Cell
from rnncast.service.limits import Limited
from rnncast.service.schemas.base import (
    AT_MOST_ONE_OF,
    SOURCES,
    Context,
    Horizon,
    Levels,
    Position,
    Seed,
    Start,
    Strict,
    _whole,
    no_default,
)
from rnncast.service.schemas.jobs import CellName, Status, TrainOptions
from rnncast.service.schemas.labels import FilteredCount, LabelName, Tags
from rnncast.service.schemas.models import Interval


class ForecastSpec(Strict):
    """The forecast each run makes right after training: from `start` on the sine, or from `origin` on a dataset."""

    start: Start = FORECAST_START
    horizon: Horizon = FORECAST_HORIZON
    every: Annotated[int, Field(ge=0, le=MAX_EPOCHS), BeforeValidator(_whole)] = Field(
        0, description="also forecast after every this many epochs, into each run's history (0: only at the end)")
    origin: Position | None = Field(
        None, description="dataset runs: the position of the first prediction; null: the test part's first position",
    )


ComparisonStatus = Literal["running", "succeeded", "failed", "cancelled"]


class ComparisonCreate(Strict):
    """One training job per (cell, seed), all queued at once."""

    cells: list[CellName] = Field(
        default_factory=lambda: list(CELLS), min_length=1, max_length=3)
    seeds: Annotated[list[Seed], Field(min_length=1, max_length=MAX_SEEDS), Limited("max_seeds")] = Field(
        default_factory=lambda: [0])
    train: TrainOptions = Field(default_factory=TrainOptions)
    forecast: ForecastSpec = Field(default_factory=ForecastSpec)
    name: LabelName | None = None
    tags: Tags = Field(default_factory=list)

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
    cpu_seconds: float | None = Field(None, description="the training process's CPU seconds (train_seconds: wall)")
    parameters: int | None
    error: str | None


class CellTimeToAccuracy(BaseModel):
    """A cell's runs against the tutorial's 500-epoch accuracy (the mean over seeds 0-2 of its final test MSE and
    100-step forecast MSE from start 123, measured by bench/accuracy.py): means over the succeeded runs."""

    n: int
    epochs: int = Field(description="the runs' epochs")
    wall_seconds: float | None = Field(description="mean training wall seconds per run")
    cpu_seconds: float | None = Field(description="mean training CPU seconds per run")
    test_mse: float | None
    forecast_mse: float | None
    target_test_mse: float = Field(description="the tutorial's")
    target_forecast_mse: float = Field(description="the tutorial's")
    reached: bool = Field(description="both means at or below the tutorial's")


class Comparison(BaseModel):
    """An RNN/LSTM/GRU study: its runs, per-cell statistics and the winner."""

    id: str
    name: str | None
    tags: list[str] = Field(default_factory=list)
    status: ComparisonStatus
    cells: list[Cell]
    seeds: list[int]
    train: dict[str, Any]
    forecast: ForecastSpec
    runs: list[Run]
    summary: dict[str, CellSummary]
    best_cell: Cell | None
    time_to_accuracy: dict[str, CellTimeToAccuracy] | None = Field(None, description=(
        "on the tutorial's problem (the default sine, model, window and batch, forecast from 123 over 100 steps), "
        "per cell: its runs' epochs, seconds and accuracy against the tutorial's 500-epoch accuracy, the `fast` "
        "recipe's goal; null for another problem"))
    created_at: str
    finished_at: str | None


class ComparisonList(FilteredCount):
    data: list[Comparison]


class EnsembleRequest(Strict):
    """The comparison's models continue one window: `start` (sine), `origin` (dataset; default its end) or
    your `context`; none of them: where the runs' own forecasts started."""

    model_config = AT_MOST_ONE_OF

    start: Start | SkipJsonSchema[None] = Field(
        None, json_schema_extra=no_default)
    origin: Position | SkipJsonSchema[None] = Field(None, json_schema_extra=no_default)
    context: Context | SkipJsonSchema[None] = Field(None, json_schema_extra=no_default)
    horizon: Horizon = FORECAST_HORIZON
    intervals: Levels | SkipJsonSchema[None] = Field(None, json_schema_extra=no_default)

    @model_validator(mode="after")
    def _one_source(self) -> EnsembleRequest:
        given = [k for k in SOURCES if getattr(self, k) is not None]
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
    intervals: list[Interval] | None = Field(None, description="around the mean, one per level asked for: "
                                             "split-conformal, from the cell's models' calibration residuals pooled")


class EnsembleForecast(BaseModel):
    comparison_id: str
    horizon: int
    x: list[float]
    exact: list[float] | None
    cells: dict[str, CellBand]
