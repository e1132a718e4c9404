"""Model aliases: moving one (with an optional promotion gate), reading one with its history, the list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from rnncast.common.aliases import ALIAS_HELP, ALIAS_PATTERN, MAX_ALIAS_LENGTH, PromotionGate
from rnncast.service.schemas.base import Strict, api_model, no_default

AliasName = Annotated[str, Path(pattern=ALIAS_PATTERN, max_length=MAX_ALIAS_LENGTH, description=(
    f"The alias: {ALIAS_HELP}. `@name` then stands for its model in every model route."))]
Gate = api_model(PromotionGate, "PromotionGate")


class AliasMove(Strict):
    model_id: str = Field(min_length=1, max_length=64, description=(
        "The model to point at: its id, an unambiguous short id, or `@other` (the model another alias points at)."))
    require: Gate | None = Field(None, description=(  # type: ignore[valid-type]
        "Evidence the move needs: the candidate's backtest (its last verdict when that was measured at the "
        "gate's horizon, else one run now) must meet each bar and do at least as well as the model the alias "
        "points at now on the same backtest; else 409 with the figures, and the alias stays."))


class Figures(BaseModel):
    model_id: str
    skill_over_seasonal_naive: float | None
    coverage_error_pp: float | None
    source: str = Field(description="`verdict`: the model's last backtest, reused; `backtest`: run for this move")
    at: str = Field(description="when that backtest ran (ISO 8601)")
    origins: int
    horizon: int


class Evidence(BaseModel):
    """What a gated move was judged on."""

    require: dict[str, float | None]
    candidate: Figures
    current: Figures | None = Field(description="the model the alias pointed at (null: none, or the candidate)")
    passed: bool
    reasons: list[str] = Field(description="why it did not pass (empty when it did)")


class Move(BaseModel):
    """One move in an alias's history."""

    model_config = ConfigDict(populate_by_name=True)

    seq: int = Field(description="the move's number, counted over the alias name's whole life")
    from_: str | None = Field(alias="from", description="the model it pointed at before (null: created)")
    to: str
    at: str
    evidence: Evidence | None = Field(description="null: a move without `require`")


class Alias(BaseModel):
    name: str
    model_id: str = Field(description="the model it points at")
    created_at: str
    moved_at: str
    moves: int = Field(description="its last move's number")


class AliasDetail(Alias):
    history: list[Move] = Field(description="its moves, oldest first (the last 100)")


class AliasList(BaseModel):
    data: list[Alias]
    count: int


class AliasMoved(BaseModel):
    """A move's answer: the alias now, whether it moved (false: it pointed there already), what it pointed at
    before, and the evidence a gate judged."""

    alias: AliasDetail
    moved: bool
    previous_model_id: str | None
    evidence: Evidence | None


class GateRefusal(BaseModel):
    """A 409: a gate refused the move (`evidence` says why, with both models' figures), or another conflict
    (a model being deleted, a job without its model yet, the alias moved meanwhile: `detail` only)."""

    detail: Any
    evidence: Evidence | None = Field(None, json_schema_extra=no_default)

