"""Models: forecasts, backtests and the model records."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from rnncast.common.defaults import (
    BACKTEST_HORIZON,
    BACKTEST_LEVELS,
    BACKTEST_ORIGINS,
    FORECAST_HORIZON,
    MAX_BACKTEST_ORIGINS,
    Cell,
)
from rnncast.service.schemas.base import (
    AT_MOST_ONE_OF,
    SOURCES,
    Context,
    Horizon,
    Levels,
    Position,
    Season,
    Start,
    Strict,
    Whole,
    no_default,
)
from rnncast.service.schemas.jobs import Losses
from rnncast.service.schemas.labels import FilteredCount

ForecastField = Literal["x", "y", "exact", "mse", "max_abs_error", "timestamps"]
Baseline = Literal["naive", "seasonal_naive", "seasonal_naive_drift"]


class ForecastRequest(Strict):
    """At most one of `start` (a sine model: context from its own signal), `origin` (a dataset model: a position in
    its series) or `context` (your values); a sine model needs `start` or `context`. Given only `horizon`, a
    dataset model goes on from its series' end."""

    model_config = AT_MOST_ONE_OF

    start: Start | SkipJsonSchema[None] = Field(
        None, description="sine models: phase t of the first prediction", json_schema_extra=no_default
    )
    origin: Position | SkipJsonSchema[None] = Field(
        None, description="dataset models: the position of the first prediction (the sequence_length values "
        "before it are the window; where the series goes on, they are `exact`)", json_schema_extra=no_default
    )
    context: Context | SkipJsonSchema[None] = Field(
        None, description="at least sequence_length values", json_schema_extra=no_default
    )
    context_start: Annotated[str, Field(max_length=40)] | SkipJsonSchema[None] = Field(
        None, description="with `context`, a dataset model: the ISO 8601 timestamp of the context's first value, "
        "which places it on the series' time axis (a model with covariates reads the timestamps; the answer's "
        "`timestamps` go on from the context's end)", json_schema_extra=no_default,
    )
    horizon: Horizon = FORECAST_HORIZON
    fields: Annotated[list[ForecastField], Field(min_length=1, max_length=6)] | SkipJsonSchema[None] = Field(
        None, description="only these fields of the answer (model_id and horizon always come): a leaner "
        "response for clients that need, say, only `y`", json_schema_extra=no_default,
    )
    fallback: Literal["baseline"] | SkipJsonSchema[None] = Field(
        None, description="'baseline': when the model's last backtest lost to a baseline (negative skill), answer "
        "that baseline's forecast instead (the answer's `source` names it; no intervals then)",
        json_schema_extra=no_default,
    )
    intervals: Levels | SkipJsonSchema[None] = Field(None, json_schema_extra=no_default)

    @model_validator(mode="after")
    def _one_source(self) -> ForecastRequest:
        given = set(SOURCES) & self.model_fields_set
        if len(given) > 1:
            raise ValueError(f"give exactly one of 'start', 'origin' or 'context', not {sorted(given)} (a dataset "
                             f"model also takes none of them: it goes on from its series' end)")
        for name in given:
            if getattr(self, name) is None:
                raise ValueError(f"{name!r} must not be null")
        if self.context_start is not None:
            if self.context is None:
                raise ValueError("'context_start' places a 'context' on the time axis: give the context too")
            try:
                datetime.fromisoformat(self.context_start)
            except ValueError:
                raise ValueError(f"context_start ({self.context_start!r}) must be an ISO 8601 date or date-time"
                                 ) from None
        return self


class Interval(BaseModel):
    """A prediction interval at `level`, step by step: the forecast +- the model's calibrated quantile."""

    level: float
    lower: list[float | None]
    upper: list[float | None]


class ForecastResponse(BaseModel):
    model_id: str
    horizon: int
    x: list[float] | None = None
    y: list[float | None] | None = None
    exact: list[float] | None = None
    mse: float | None = None
    max_abs_error: float | None = None
    timestamps: list[str] | None = Field(None, description="ISO 8601 time of each step, when the model's dataset "
                                         "has a time axis and the forecast goes on from a position in it (an "
                                         "`origin`, the end, or a `context` equal to the series' last values)")
    warning: str | None = Field(None, description="present when the model's last backtest lost to a baseline")
    source: Baseline | None = Field(None, description="present when `fallback` answered a baseline's forecast "
                                    "instead of the model's")
    intervals: list[Interval] | None = Field(None, description="one per level asked for")
    calibrated_steps: int | None = Field(None, description="steps the intervals are calibrated for; later "
                                         "steps widen the last one's by sqrt(step / calibrated_steps)")


class Verdict(BaseModel):
    """The model's last backtest, in short: negative skill means a baseline forecasts better."""

    skill: float | None
    mase: float | None
    best_baseline: Baseline | None
    season: int
    at: str = Field(description="when the backtest ran (ISO 8601)")
    origins: int
    horizon: int
    skill_over_seasonal_naive: float | None = Field(None, description="1 - model MSE / seasonal naive MSE (a "
                                                    "promotion gate's figure)")
    coverage_error_pp: float | None = Field(None, description="the largest |coverage - level| in percentage points "
                                            "(null: not measured, e.g. the backtest at the end of training)")


class CheckpointInfo(BaseModel):
    format: Literal["safetensors"]
    sha256: str
    bytes: int


class CalibrationSummary(BaseModel):
    """The residuals a model's intervals come from: `origins` forecasts of `steps` steps over [start, end)."""

    origins: int
    steps: int
    start: int
    end: int = Field(description="backtests measure coverage only on origins at or past this position")
    max_level: float = Field(description="the highest level these residuals can give: origins / (origins + 1)")


class Imported(BaseModel):
    """Where an imported model came from (POST /v1/models)."""

    source_model_id: str | None = Field(description="its id where it was trained (its manifest's), if known")
    manifest_sha256: str = Field(description="the digest of the manifest.json it was imported with")


class Model(BaseModel):
    """A trained model (its id is the training job's id) or an imported one (its own id; `job_id` null)."""

    id: str
    job_id: str | None
    name: str | None = Field(None, description="its job's when it was saved, then its own (PATCH)")
    tags: list[str] = Field(default_factory=list)
    cell: Cell
    params: dict[str, Any]
    metrics: Losses
    epochs_trained: int
    parameters: int
    device: str
    created_at: str
    checkpoint: CheckpointInfo
    backtest: Verdict | None = Field(None, description="its last backtest's verdict: run at the end of training "
                                     "on a dataset, updated by every backtest")
    calibration: CalibrationSummary | None = Field(None, description="null: no intervals (a model trained "
                                                   "before they existed, or a test part too short)")
    imported: Imported | None = Field(None, description="set for a model imported from a checkpoint package")
    aliases: list[str] = Field(default_factory=list, description="the aliases pointing at it now (`@name`)")


class ModelList(FilteredCount):
    data: list[Model]


class BacktestRequest(Strict):
    """Rolling-origin evaluation over the model's test part."""

    origins: Whole = Field(BACKTEST_ORIGINS, ge=1, le=MAX_BACKTEST_ORIGINS,
                           description="forecast origins, spread evenly over the test part")
    horizon: Horizon = Field(BACKTEST_HORIZON, description="steps per forecast")
    season: Season | None = Field(None, description="the seasonal naive baseline's season in steps; null: the "
                                 "strongest autocorrelation peak of the train part (1 when there is none)")
    intervals: Levels | None = Field(None, description="levels whose coverage to measure (null: "
                                     f"{list(BACKTEST_LEVELS)})")


class PerStep(BaseModel):
    mse: list[float | None]
    mae: list[float | None]
    smape: list[float | None]


class Scores(BaseModel):
    """Errors in the series' units; sMAPE in percent (200 |y - f| / (|y| + |f|)); MASE = MAE / `mase_scale`; MAPE in
    percent (100 |y - f| / |y|), null when a true value is 0."""

    mse: float | None
    mae: float | None
    smape: float | None
    mase: float | None
    mape: float | None
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
    seasonal_naive_drift: Scores = Field(description="seasonal naive plus, per season ahead, the mean seasonal "
                                         "change (y[t] - y[t - season]) of the values before the origin")
    mase_scale: float | None = Field(description="the in-sample MAE of seasonal naive over the train part, "
                                     "mean |y[t] - y[t - season]| (null when 0)")
    best_baseline: Baseline | None
    skill: float | None = Field(description="1 - model MSE / the best baseline's MSE")
    origin_timestamps: list[str] | None = Field(None, description="ISO 8601 time of each origin, when the "
                                                "model's dataset has a time axis")
    coverage: dict[str, float | None] | None = Field(None, description="per level, the share of actual values "
        "inside the model's intervals, over the origins at or past `calibration_end` (null: the model has no "
        "calibration)")
    coverage_origins: int = Field(0, description="the origins coverage was measured on")
    calibration_end: int | None = Field(None, description="the end of the model's calibration part")
