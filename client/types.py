"""Typed results: small pydantic models over the API's JSON (unknown fields ignored)."""

from __future__ import annotations

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


class History(_Result):
    train_loss: list[float | None] = []
    test_loss: list[float | None] = []


class Job(_Result):
    """A training job."""

    id: str
    status: str
    name: str | None = None
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
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINAL


class Page(_Result):
    count: int


class JobPage(Page):
    data: list[Job]


class Checkpoint(_Result):
    format: str
    sha256: str
    bytes: int


class Model(_Result):
    """A trained model; its id is its training job's id."""

    id: str
    cell: str
    params: dict[str, Any]
    metrics: Losses
    epochs_trained: int
    parameters: int
    created_at: str
    checkpoint: Checkpoint


class ModelPage(Page):
    data: list[Model]


class Forecast(_Result):
    """Predictions `y` at `x`; with `start`, also the exact signal and the errors."""

    model_id: str
    horizon: int
    x: list[float]
    y: list[float]
    exact: list[float] | None = None
    mse: float | None = None
    max_abs_error: float | None = None


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
    parameters: int | None = None
    error: str | None = None


class Comparison(_Result):
    """An RNN/LSTM/GRU study over seeds."""

    id: str
    name: str | None = None
    status: str
    cells: list[str]
    seeds: list[int]
    train: dict[str, Any]
    forecast: dict[str, Any]
    runs: list[Run]
    summary: dict[str, CellSummary]
    best_cell: str | None = None
    created_at: str
    finished_at: str | None = None

    @property
    def finished(self) -> bool:
        return self.status != "running"


class ComparisonPage(Page):
    data: list[Comparison]


class EpochEvent(_Result):
    """One finished epoch, as the event stream reports it."""

    epoch: int
    epochs: int
    train_loss: float | None
    test_loss: float | None
