"""Training jobs: the request (derived from the declared options) and the job as the API reports it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, Field, Tag, model_validator

from rnncast.common import options as O
from rnncast.common.series import SeriesError, split_point
from rnncast.service.schemas.base import Strict, api_field, api_fields, api_model, api_type, derived_model
from rnncast.service.schemas.labels import FilteredCount, LabelName, Tags

Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]


# The sine's parameters and a dataset reference, as the declaration states them.
DataSpec: Any = api_model(O.SineData, "DataSpec")


class DatasetRef(Strict):
    """Train on a stored dataset (POST /v1/datasets): its values in time order, standardised with the train part's
    mean and std."""

    dataset_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="a dataset's id")
    train_fraction: O.TrainFraction = O.TRAIN_FRACTION
    kind: Literal["dataset"] = "dataset"


def _data_kind(value: Any) -> str:
    """A job's `data` is a dataset reference when it names a dataset (or says so), else the sine's parameters."""
    if isinstance(value, dict):
        return "dataset" if "dataset_id" in value or value.get("kind") == "dataset" else "sine"
    return str(getattr(value, "kind", "sine"))


DataField = Annotated[Annotated[DataSpec, Tag("sine")] | Annotated[DatasetRef, Tag("dataset")],
                      Discriminator(_data_kind)]

# Every job field but `cell` and `seed` (a comparison's `train`): the declared model, training and job options,
# flat as the contract has them, and the data.
_TrainOptionsBase = derived_model(
    "_TrainOptionsBase", Strict,
    **api_fields(O.ModelOptions, exclude=frozenset({"cell"})),
    **api_fields(O.TrainOptions, exclude=frozenset({"seed"})),
    **api_fields(O.JobOptions),
    data=(DataField, Field(default_factory=DataSpec, description="the sine's parameters (default), or "
                           "{\"dataset_id\"} to train on a stored dataset")),
    name=(LabelName | None, Field(None)),
    tags=(Tags, Field(default_factory=list)),
)


class TrainOptions(_TrainOptionsBase):  # type: ignore[misc,valid-type]
    """Every training-job field but `cell` and `seed` (shared with comparisons). Declared once in
    `common.options`; a recipe fills in the options a request leaves out."""

    @model_validator(mode="after")
    def _windows_fit(self) -> TrainOptions:
        if isinstance(self.data, DatasetRef):  # checked against the dataset's length when the job is created
            return self
        reshaped = [f"{name} ({value!r})" for name, value, default in (
            ("difference", self.difference, "none"), ("season", self.season, None), ("scaling", self.scaling, None),
            ("covariates", self.covariates, "none"),
        ) if value != default and not (name == "scaling" and value == "none")]
        if reshaped:
            raise ValueError(f"{', '.join(reshaped)}: these apply to a dataset's values; the sine is learned as it "
                             "is (leave them out)")
        points = self.data.points
        if self.sequence_length >= points:
            raise ValueError(f"sequence_length ({self.sequence_length}) must be < data.points ({points})")
        try:  # the split rule, stated once
            split_point(points, self.sequence_length, self.data.train_fraction, self.output_steps)
        except SeriesError as exc:
            raise ValueError(f"data: {exc}") from None
        return self


_SEED = next(s for s in O.spec(O.TrainOptions) if s.name == "seed")
# A cell as the declaration takes it (a job's `cell`, a comparison's `cells`): any case, answered as declared.
CellName: Any = api_type(next(s for s in O.spec(O.ModelOptions) if s.name == "cell"))
_JobCreateBase = derived_model(
    "_JobCreateBase", TrainOptions,
    cell=(CellName, Field(description="the recurrent cell: RNN, LSTM or GRU (any case)")), seed=api_field(_SEED),
)


class JobCreate(_JobCreateBase):  # type: ignore[misc,valid-type]
    """A training job: `cell` is required, everything else has the tutorial's default."""


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
    tags: list[str] = Field(default_factory=list)
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
    search_id: str | None = Field(None, description=(
        "the search (recipe auto) whose best configuration this job trains: queued until the search chooses"))
    cancel_requested: bool
    best_epoch: int | None = Field(None, description="the epoch whose weights the model has (restore_best)")
    stopped_early_at: int | None = Field(None, description="the epoch early stopping ended the main training at")
    created_at: str
    started_at: str | None
    finished_at: str | None


class Job(JobRow):
    """A training job as the API reports it, with its per-epoch history."""

    history: History


class JobList(FilteredCount):
    """Jobs newest first; rows carry no `history` (fetch one job for it)."""

    data: list[JobRow]


class WorkerDevice(BaseModel):
    """A live worker and its device, as its last heartbeat said."""

    name: str = Field(description="The worker's Celery name (`rnncast-<pid>@<host>`).")
    queues: list[str] = Field(default_factory=list, description="The queues it consumes (train, predict).")
    device: str | None = Field(None, description="The torch device its jobs run on: `cpu` or `cuda:N`.")
    device_name: str | None = Field(None, description="The CPU's model name or the GPU's name.")
    memory_bytes: int | None = Field(None, description="The host's memory (CPU) or the GPU's memory, in bytes.")
    memory_used_bytes: int | None = Field(None, description="GPU memory in use (NVML), in bytes.")
    utilization: float | None = Field(None, description="GPU utilisation (NVML), 0-1.")


class Readiness(BaseModel):
    redis: str
    workers: int
    devices: list[WorkerDevice] = Field(default_factory=list, description=(
        "Each live worker's queues and device (name, memory; a GPU's memory in use and utilisation)."))
    queues: dict[str, int] = Field(default_factory=dict, description=(
        "Live workers per queue they consume (`train`: training jobs; `predict`: forecasts and figures)."))
    lanes: int = Field(0, description="Lane threads (forecasts, figures) of the predict workers that are serving.")
    lanes_not_serving: list[str] = Field(default_factory=list, description=(
        "Lane threads that are not serving (`<host>:<pid>/<thread>`): dead and not yet restarted, or stuck past "
        "a request's timeout. Any makes the answer 503."))


