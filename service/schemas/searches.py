"""Searches: automatic selection by backtest over a bounded space (common.search), then a refit of the best."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field

from rnncast.common.defaults import BACKTEST_HORIZON, BACKTEST_ORIGINS, MAX_BACKTEST_ORIGINS, MAX_EPOCHS, MAX_SEEDS
from rnncast.common.search import CANDIDATE_PATIENCE
from rnncast.service.limits import Limited
from rnncast.service.schemas.base import Horizon, Seed, Strict, Whole, _whole
from rnncast.service.schemas.jobs import DatasetRef, Status
from rnncast.service.schemas.labels import LabelName


class SearchBacktest(Strict):
    """How each candidate is scored: a rolling-origin backtest of its inner test part."""

    origins: Whole = Field(BACKTEST_ORIGINS, ge=1, le=MAX_BACKTEST_ORIGINS,
                           description="forecast origins, spread evenly over the inner test part")
    horizon: Horizon = Field(BACKTEST_HORIZON, description="steps per forecast")


class SearchCreate(Strict):
    """A search on a dataset: candidates from the bounded space trained on the first part of the train part,
    scored by backtest on the rest of it, and the best refit."""

    data: DatasetRef = Field(description="{\"dataset_id\", \"train_fraction\"}: the dataset to search on")
    epochs: Annotated[int, Field(ge=1, le=MAX_EPOCHS), BeforeValidator(_whole), Limited("max_epochs")] = Field(
        100, description="each candidate's epochs at most (early stopping on its inner test part ends it sooner)")
    patience: Annotated[int, Field(ge=1, le=MAX_EPOCHS), BeforeValidator(_whole)] = Field(
        CANDIDATE_PATIENCE, description="a candidate stops after this many epochs without a better inner test loss")
    seed: Seed = Field(0, description="every candidate's seed, and which candidates a larger grid keeps")
    max_candidates: Annotated[int, Field(ge=1, le=100), BeforeValidator(_whole)] | None = Field(
        None, description="candidates at most (null: RNNCAST_MAX_SEARCH_CANDIDATES, which also bounds this)")
    refit: Literal["train", "all"] = Field("train", description=(
        "train: refit the best on the whole train part (the test part stays held out, so a backtest of the "
        "model is honest); all: on all the values but the last"))
    ensemble_seeds: Annotated[int, Field(ge=1, le=MAX_SEEDS), BeforeValidator(_whole), Limited("max_seeds")] = Field(
        1, description="refit the best with this many seeds (seed, seed + 1, ...): an ensemble comparison")
    backtest: SearchBacktest = Field(default_factory=SearchBacktest)
    name: LabelName | None = None


class Candidate(BaseModel):
    job_id: str
    status: Status
    options: dict[str, Any] = Field(description="the values of the searched fields")
    epoch: int
    best_epoch: int | None
    train_values: int = Field(description="values the candidate read: the dataset's first `train_values`")
    score: float | None = Field(description="lower is better: backtest MASE, or MSE relative to the best baseline")
    score_kind: Literal["mase", "relative_mse"] | None
    skill: float | None
    backtest_error: str | None
    error: str | None


class Search(BaseModel):
    """A search: its candidates with their scores, the winner and its refit."""

    id: str
    name: str | None
    status: Literal["running", "succeeded", "failed", "cancelled"]
    phase: Literal["candidates", "selecting", "refit", "done"]
    dataset_id: str
    length: int
    season: int = Field(description="the season found on the inner train part (1: none)")
    inner_length: int = Field(description="values every candidate uses (the first part of the train part)")
    refit: Literal["train", "all"]
    ensemble_seeds: int
    epochs: int
    backtest: SearchBacktest
    candidates: list[Candidate]
    best_job_id: str | None
    refit_comparison_id: str | None = Field(description="the refit: a comparison of the best over its seeds")
    model_ids: list[str] = Field(description="the refit's models")
    error: str | None
    created_at: str
    finished_at: str | None


class SearchList(BaseModel):
    data: list[Search]
    count: int
