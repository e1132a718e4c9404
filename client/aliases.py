"""The client's alias calls and result types (`Client` has them through `AliasCalls`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rnncast.client.errors import Conflict
from rnncast.client.transport import Transport
from rnncast.common.aliases import GATE_FIELDS
from rnncast.common.defaults import LIST_PAGE


class _Result(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Figures(_Result):
    """One model's figures in a gate's evidence, and where they came from (`verdict` reused, or `backtest` run)."""

    model_id: str
    skill_over_seasonal_naive: float | None
    coverage_error_pp: float | None
    source: str
    at: str
    origins: int
    horizon: int


class Evidence(_Result):
    """What a gated move was judged on: the bars, the candidate's and the current model's figures, the verdict."""

    require: dict[str, float | None]
    candidate: Figures
    current: Figures | None
    passed: bool
    reasons: list[str]


class AliasMove(_Result):
    """One move in an alias's history."""

    seq: int
    from_: str | None = Field(alias="from")
    to: str
    at: str
    evidence: Evidence | None


class Alias(_Result):
    name: str
    model_id: str
    created_at: str
    moved_at: str
    moves: int
    history: list[AliasMove] = []  # filled by `alias(name)`, empty in lists


class AliasPage(_Result):
    data: list[Alias]
    count: int


class AliasMoved(_Result):
    alias: Alias
    moved: bool
    previous_model_id: str | None
    evidence: Evidence | None


class PromotionRefused(Conflict):
    """A gated move refused (409): the candidate missed a bar or did worse than the current model; `evidence`
    holds both models' figures."""

    def __init__(self, message: str, evidence: Evidence) -> None:
        super().__init__(message, status=409, detail=message)
        self.evidence = evidence


class AliasCalls(Transport):
    """`/v1/aliases` as methods; `@name` stands for the alias's model in every model call."""

    def set_alias(self, name: str, model_id: str, *, require: dict[str, float] | None = None) -> AliasMoved:
        """Point alias `name` at `model_id` (an id, a short id or `@other`). With `require` (gate field -> bar,
        fields: `common.aliases.GATE_FIELDS`), raises PromotionRefused with the evidence when the model fails."""
        body: dict[str, Any] = {"model_id": model_id}
        if require:
            unknown = sorted(set(require) - set(GATE_FIELDS))
            if unknown:
                raise TypeError(f"unknown gate field(s) {unknown}; the fields are {list(GATE_FIELDS)}")
            body["require"] = require
        try:
            answer = self._request("POST", f"/v1/aliases/{name}", retry=True, json=body)
        except Conflict as exc:
            found = (exc.body or {}).get("evidence")
            if found is None:
                raise
            raise PromotionRefused(str(exc), Evidence.model_validate(found)) from None
        return AliasMoved.model_validate(answer.json())

    def alias(self, name: str) -> Alias:
        """The alias, its model, and its moves with their evidence."""
        return self._get(f"/v1/aliases/{name}", Alias)

    def aliases(self, *, limit: int = LIST_PAGE, offset: int = 0) -> AliasPage:
        return self._get("/v1/aliases", AliasPage, limit=limit, offset=offset)

    def delete_alias(self, name: str) -> None:
        """Forget the alias (its model stays)."""
        self._request("DELETE", f"/v1/aliases/{name}", retry=True)
