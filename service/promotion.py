"""Promotion gates: the evidence a gated alias move is judged on (common.aliases.judge), and the guard that
keeps a model an alias points at from being deleted.

A model's figures come from its last backtest's verdict (kept in its record: by the backtest at the end of
training on a dataset, and by every `POST /v1/models/{id}/backtest`) when that backtest was measured at the
gate's horizon and gives every required figure; else a backtest runs now on a predict worker, as the backtest
route runs it, and its verdict is kept in the same way. The candidate and the current model are measured alike.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import HTTPException, status

from rnncast.common.aliases import ALIAS_LEFT_SLACK_S, GATE_FIELDS, PromotionGate, judge
from rnncast.common.defaults import BACKTEST_HORIZON, BACKTEST_ORIGINS
from rnncast.common.settings import Settings
from rnncast.common.store.aio import AsyncJobStore
from rnncast.common.verdict import verdict
from rnncast.service.rpc import Worker

# The backtest a gate judges on: the backtest route's defaults (and the one run at the end of training).
GATE_BACKTEST = {"origins": BACKTEST_ORIGINS, "horizon": BACKTEST_HORIZON, "season": None, "intervals": None}


def _reusable(found: dict[str, Any] | None, needed: list[str]) -> bool:
    return found is not None and found.get("horizon") == BACKTEST_HORIZON and all(
        found.get(f) is not None for f in needed)


async def figures(store: AsyncJobStore, worker: Worker, model: dict[str, Any], needed: list[str]) -> dict[str, Any]:
    """The gate's figures for `model` (its record): its verdict's, when reusable, else a backtest's run now."""
    found: dict[str, Any] | None = model.get("backtest")
    source = "verdict"
    if found is None or not _reusable(found, needed):
        result = await worker.ask({"model_id": model["id"], "sha256": model["checkpoint"]["sha256"],
                                   "figure": "backtest", **GATE_BACKTEST})
        found, source = verdict(result), "backtest"
        await store.set_model_field(model["id"], "backtest", found)  # as the backtest route keeps it
    return {"model_id": model["id"], **{f: found.get(f) for f in GATE_FIELDS}, "source": source, "at": found["at"],
            "origins": found["origins"], "horizon": found["horizon"]}


async def evidence(store: AsyncJobStore, worker: Worker, gate: PromotionGate, candidate: dict[str, Any],
                   current: dict[str, Any] | None) -> dict[str, Any]:
    """What the move is judged on: the bars, both models' figures (measured concurrently), the verdict."""
    needed = [f for f in GATE_FIELDS if getattr(gate, f) is not None]
    measured = await asyncio.gather(*(figures(store, worker, m, needed) for m in (candidate, current) if m))
    mine, theirs = measured[0], (measured[1] if len(measured) > 1 else None)
    reasons = judge(gate, mine, theirs)
    return {"require": gate.to_dict(), "candidate": mine, "current": theirs, "passed": not reasons,
            "reasons": reasons}


def left_grace_ms(settings: Settings) -> int:
    """How long a model an alias left is kept from deletion: requests that resolved the alias to it may still be
    in flight that long (each waits on a worker at most RNNCAST_FORECAST_TIMEOUT)."""
    return int((settings.forecast_timeout + ALIAS_LEFT_SLACK_S) * 1000)


async def hold_for_deletion(store: AsyncJobStore, model_id: str) -> None:
    """Mark the model as being deleted (no alias may move onto it from now); 409 naming the aliases that point
    at it, or saying when one that left it no longer keeps it (then nothing is marked)."""
    names, wait_ms = await store.hold_model(model_id)
    if names:
        raise HTTPException(status.HTTP_409_CONFLICT, (
            f"model {model_id} is what alias(es) {', '.join('@' + n for n in names)} point at: move or delete "
            f"them first (POST or DELETE /v1/aliases/{{name}})"))
    if wait_ms:
        seconds = -(-wait_ms // 1000)
        raise HTTPException(status.HTTP_409_CONFLICT, (
            f"model {model_id} was an alias's model moments ago, and requests through the alias may still be "
            f"served by it: retry in {seconds} s"), headers={"Retry-After": str(seconds)})
