"""Datasets: a user's own series, uploaded or generated."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from rnncast.common.timeaxis import Frequency
from rnncast.service.schemas.base import Points, Seed, SeriesValues, Strict
from rnncast.service.schemas.labels import FilteredCount, LabelName, Tags

Name = Annotated[LabelName, Field(min_length=1)]
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
    tags: Tags = Field(default_factory=list)
    values: SeriesValues
    step: StepSize = 1.0


class DatasetGenerated(Strict):
    """A built-in signal as a dataset, to try harder series than one sine."""

    name: Name | None = None
    tags: Tags = Field(default_factory=list)
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
    tags: list[str] = Field(default_factory=list)
    length: int
    step: float
    sha256: str = Field(description="of the values as little-endian float64")
    stats: DatasetStats
    source: dict[str, Any] = Field(description="how it was made: JSON values, a CSV upload (column, rows, time "
                                   "column; `missing` and `filled` when missing values were filled) or a "
                                   "generator (its parameters)")
    created_at: str
    frequency: Frequency | None = Field(None, description="the time axis' frequency, when a CSV's first column "
                                        "held times (absent otherwise)")
    start: str | None = Field(None, description="the first value's timestamp (ISO 8601)")
    end: str | None = Field(None, description="the last value's timestamp (ISO 8601)")
    month_end: bool | None = Field(None, description="monthly, quarterly, yearly: on each month's last day")


class DatasetList(FilteredCount):
    data: list[Dataset]


class DatasetValuesPage(BaseModel):
    id: str
    offset: int
    limit: int
    length: int
    values: list[float]
    timestamps: list[str] | None = Field(None, description="ISO 8601, when the dataset has a time axis")
