"""Typed results: small pydantic models over the API's JSON (unknown fields ignored)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

FINAL = ("succeeded", "failed", "cancelled")


class _Result(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Progress(_Result):
    epoch: int
    epochs: int | None


class Losses(_Result):
    train_loss: float | None = None
    test_loss: float | None = None
    # A dataset run's losses divided by its train part's variance (they compare across series).
    train_loss_normalized: float | None = None
    test_loss_normalized: float | None = None


class Scaler(_Result):
    mean: float
    std: float


class History(_Result):
    epoch: list[int] = []  # each value's epoch (a long history is thinned)
    train_loss: list[float | None] = []
    test_loss: list[float | None] = []


class Job(_Result):
    """A training job."""

    id: str
    status: str
    name: str | None = None
    tags: list[str] = []
    params: dict[str, Any]
    progress: Progress
    metrics: Losses
    history: History = History()  # absent from list rows
    model_id: str | None = None
    error: str | None = None
    attempts: int = 0
    resumed_from_epoch: int | None = None
    device: str | None = None
    comparison_id: str | None = None
    scaler: Scaler | None = None  # a dataset job's standardisation
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINAL


class Page(_Result):
    count: int
    count_exact: bool = True  # false: a filtered list's count stopped at the server's scan budget (at least `count`)
    truncated: bool = False  # the page stopped short at that budget: narrow the filters

    def tally(self, shown: int) -> str:
        """"N of M" ("M+" when the count is a lower bound), and a note when the page stopped short."""
        note = " (the server's filter scan budget ran out: narrow the filters)" if self.truncated else ""
        return f"{shown} of {self.count}{'' if self.count_exact else '+'}{note}"


class JobPage(Page):
    data: list[Job]


class Checkpoint(_Result):
    format: str
    sha256: str
    bytes: int


class Model(_Result):
    """A trained model; its id is its training job's id."""

    id: str
    name: str | None = None
    tags: list[str] = []
    cell: str
    params: dict[str, Any]
    metrics: Losses
    epochs_trained: int
    parameters: int
    created_at: str
    checkpoint: Checkpoint
    scaler: Scaler | None = None
    backtest: dict[str, Any] | None = None  # its last backtest's verdict: skill, mase, best_baseline, at
    imported: dict[str, Any] | None = None  # an imported model's origin: source_model_id, manifest_sha256
    aliases: list[str] = []  # the aliases pointing at it now


class ModelPage(Page):
    data: list[Model]


class Interval(_Result):
    """A prediction interval at `level`, step by step."""

    level: float
    lower: list[float | None]
    upper: list[float | None]


class Forecast(_Result):
    """Predictions `y` at `x`; with `start`, also the exact signal and the errors; asked for, intervals."""

    model_id: str
    horizon: int
    x: list[float]
    y: list[float | None]
    exact: list[float] | None = None
    mse: float | None = None
    max_abs_error: float | None = None
    timestamps: list[str] | None = None  # where the model's dataset has a time axis
    warning: str | None = None  # the model lost its last backtest
    source: str | None = None  # the baseline answered instead (fallback)
    intervals: list[Interval] | None = None
    calibrated_steps: int | None = None


class Stat(_Result):
    mean: float | None
    std: float | None
    n: int


class CellSummary(_Result):
    final_test_loss: Stat
    forecast_mse: Stat
    train_seconds: Stat


class Run(_Result):
    cell: str
    seed: int
    job_id: str
    status: str
    epoch: int = 0
    final_train_loss: float | None = None
    final_test_loss: float | None = None
    forecast_mse: float | None = None
    train_seconds: float | None = None
    cpu_seconds: float | None = None
    parameters: int | None = None
    error: str | None = None


class CellTimeToAccuracy(_Result):
    """A cell's runs against the tutorial's 500-epoch accuracy (means over its succeeded runs)."""

    n: int
    epochs: int
    wall_seconds: float | None = None
    cpu_seconds: float | None = None
    test_mse: float | None = None
    forecast_mse: float | None = None
    target_test_mse: float
    target_forecast_mse: float
    reached: bool


class Comparison(_Result):
    """An RNN/LSTM/GRU study over seeds."""

    id: str
    name: str | None = None
    tags: list[str] = []
    status: str
    cells: list[str]
    seeds: list[int]
    train: dict[str, Any]
    forecast: dict[str, Any]
    runs: list[Run]
    summary: dict[str, CellSummary]
    best_cell: str | None = None
    time_to_accuracy: dict[str, CellTimeToAccuracy] | None = None
    created_at: str
    finished_at: str | None = None

    @property
    def finished(self) -> bool:
        return self.status != "running"


class ComparisonPage(Page):
    data: list[Comparison]


class Candidate(_Result):
    """One candidate configuration of a search, with its backtest score (lower is better)."""

    job_id: str
    status: str
    options: dict[str, Any]
    epoch: int
    best_epoch: int | None = None
    train_values: int
    score: float | None = None
    score_kind: str | None = None
    skill: float | None = None
    backtest_error: str | None = None
    error: str | None = None


class Search(_Result):
    """Automatic selection by backtest: the candidates, the best, and its refit's models."""

    id: str
    name: str | None = None
    status: str
    phase: str
    dataset_id: str
    length: int
    season: int
    inner_length: int
    refit: str
    ensemble_seeds: int
    epochs: int
    backtest: dict[str, Any]
    candidates: list[Candidate]
    best_job_id: str | None = None
    refit_comparison_id: str | None = None
    model_ids: list[str] = []
    error: str | None = None
    created_at: str
    finished_at: str | None = None

    @property
    def finished(self) -> bool:
        return self.status != "running"


class SearchPage(Page):
    data: list[Search]


class EpochEvent(_Result):
    """One finished epoch, as the event stream reports it."""

    epoch: int
    epochs: int
    train_loss: float | None
    test_loss: float | None
    at: datetime | None = None  # when the epoch ended (servers before it was recorded: none)


class DatasetStats(_Result):
    mean: float
    std: float
    min: float
    max: float


class Dataset(_Result):
    """A stored series."""

    id: str
    name: str
    tags: list[str] = []
    length: int
    step: float
    sha256: str
    stats: DatasetStats
    source: dict[str, Any] = {}
    created_at: str
    frequency: str | None = None
    start: str | None = None
    end: str | None = None


class DatasetPage(Page):
    data: list[Dataset]


class DatasetValues(_Result):
    id: str
    offset: int
    limit: int
    length: int
    values: list[float]


class PerStep(_Result):
    mse: list[float | None]
    mae: list[float | None]
    smape: list[float | None]


class Scores(_Result):
    mse: float | None
    mae: float | None
    smape: float | None
    per_step: PerStep
    mase: float | None = None
    mape: float | None = None


class Backtest(_Result):
    """A rolling-origin backtest: the model and three baselines on the same origins."""

    model_id: str
    origins: int
    horizon: int
    origin_positions: list[int]
    test_start: int
    season: int
    season_source: str
    model: Scores
    naive: Scores
    seasonal_naive: Scores
    best_baseline: str | None
    skill: float | None
    seasonal_naive_drift: Scores | None = None
    mase_scale: float | None = None
    origin_timestamps: list[str] | None = None
    coverage: dict[str, float | None] | None = None
    coverage_origins: int = 0
    calibration_end: int | None = None
