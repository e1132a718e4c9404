"""Request and response models, by resource: every field bounded, no NaN/inf, no unknown fields.

The training options are derived from their one declaration (`common.options`); a running server's
limits are checked by `service.limits` and stated in its OpenAPI document.
"""

from rnncast.service.schemas.base import ErrorBody, Strict, Whole
from rnncast.service.schemas.comparisons import (
    CellBand,
    CellSummary,
    Comparison,
    ComparisonCreate,
    ComparisonList,
    EnsembleForecast,
    EnsembleRequest,
    ForecastSpec,
    Run,
    SeedError,
    Stat,
)
from rnncast.service.schemas.datasets import (
    Dataset,
    DatasetGenerated,
    DatasetList,
    DatasetStats,
    DatasetValues,
    DatasetValuesPage,
    Generator,
)
from rnncast.service.schemas.jobs import (
    DatasetRef,
    DataSpec,
    History,
    Job,
    JobCreate,
    JobList,
    JobRow,
    Losses,
    Progress,
    Readiness,
    Status,
    TrainOptions,
)
from rnncast.service.schemas.models import (
    BacktestRequest,
    BacktestResult,
    CheckpointInfo,
    ForecastField,
    ForecastRequest,
    ForecastResponse,
    Model,
    ModelList,
    PerStep,
    Scores,
)

__all__ = [
    "BacktestRequest", "BacktestResult", "CellBand", "CellSummary", "CheckpointInfo", "Comparison",
    "ComparisonCreate", "ComparisonList", "DataSpec", "Dataset", "DatasetGenerated", "DatasetList", "DatasetRef",
    "DatasetStats", "DatasetValues", "DatasetValuesPage", "EnsembleForecast", "EnsembleRequest", "ErrorBody",
    "ForecastField", "ForecastRequest", "ForecastResponse", "ForecastSpec", "Generator", "History", "Job",
    "JobCreate", "JobList", "JobRow", "Losses", "Model", "ModelList", "PerStep", "Progress", "Readiness", "Run",
    "Scores", "SeedError", "Stat", "Status", "Strict", "TrainOptions", "Whole",
]
