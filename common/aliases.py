"""Model aliases and their promotion gates: the name's form, how much history an alias keeps, the gate's
fields (declared once: the API's request model, the CLI's `--require` names and the docs derive from them),
a backtest's figures as a gate reads them, and the gate's judgement (stdlib only: pure functions).

An alias (`production`, `champion`) names one model; `@name` stands for that model wherever a model id goes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from annotated_types import Ge, Le

from rnncast.common.declaration import Help, Options, spec

SIGIL = "@"  # `@production` in a model route names the model the alias points at
MAX_ALIAS_LENGTH = 63
ALIAS_PATTERN = rf"^[a-z0-9][a-z0-9._-]{{0,{MAX_ALIAS_LENGTH - 1}}}$"
ALIAS_RE = re.compile(ALIAS_PATTERN)
ALIAS_HISTORY_KEPT = 100  # moves an alias lists, newest last (older ones leave its history)
# A model an alias left is not deleted until every request that resolved the alias to it has ended: the longest a
# request waits on a worker (RNNCAST_FORECAST_TIMEOUT; a queued forecast or figure is dropped past it) and this.
ALIAS_LEFT_SLACK_S = 2.0
ALIAS_HELP = (f"lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at most "
              f"{MAX_ALIAS_LENGTH} characters")


def alias_refusal(name: str) -> str | None:
    """Why `name` is not an alias name, or None."""
    return None if ALIAS_RE.fullmatch(name) else f"alias name {name[:80]!r} is not valid: {ALIAS_HELP}"


@dataclass(frozen=True)
class PromotionGate(Options):
    """The evidence moving an alias requires (a field left null is not required). The candidate must meet every
    bar given, and do at least as well on each as the model the alias points at now, on the same backtest."""

    skill_over_seasonal_naive: Annotated[float | None, Ge(-100), Le(1), Help(
        "least skill over the seasonal naive baseline: 1 - model MSE / seasonal naive MSE")] = None
    coverage_error_pp: Annotated[float | None, Ge(0), Le(100), Help(
        "most prediction-interval coverage error, in percentage points: the largest |coverage - level| over "
        "the backtest's levels")] = None


GATE_FIELDS = tuple(s.name for s in spec(PromotionGate))
HIGHER_IS_BETTER = {"skill_over_seasonal_naive": True, "coverage_error_pp": False}


def gate_figures(result: dict[str, Any]) -> dict[str, float | None]:
    """A backtest's figures as the gate reads them (null where the backtest could not measure one)."""
    model, seasonal = (result.get("model") or {}).get("mse"), (result.get("seasonal_naive") or {}).get("mse")
    skill = 1.0 - model / seasonal if model is not None and seasonal else None
    errors = [abs(share - float(level)) * 100 for level, share in (result.get("coverage") or {}).items()
              if share is not None]
    return {"skill_over_seasonal_naive": skill, "coverage_error_pp": max(errors) if errors else None}


def _worse(field: str, value: float, than: float) -> bool:
    return value < than if HIGHER_IS_BETTER[field] else value > than


def judge(gate: PromotionGate, candidate: dict[str, Any], current: dict[str, Any] | None) -> list[str]:
    """Why the candidate's figures fail the gate (empty: it passes): each required figure against its bar and
    against the current model's figure (`current`: None when the alias is new or points at the candidate)."""
    reasons = []
    for field in GATE_FIELDS:
        bar = getattr(gate, field)
        if bar is None:
            continue
        value = candidate.get(field)
        if value is None:
            reasons.append(f"{field}: the candidate's backtest could not measure it")
            continue
        side = "at least" if HIGHER_IS_BETTER[field] else "at most"
        if _worse(field, value, bar):
            reasons.append(f"{field} {value:.4g} misses the bar ({side} {bar:g})")
        theirs = current.get(field) if current is not None else None
        if theirs is not None and _worse(field, value, theirs):
            reasons.append(f"{field} {value:.4g} is worse than the current model's {theirs:.4g}")
    return reasons
