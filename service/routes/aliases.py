"""Model aliases: move (or create) one, optionally behind a promotion gate; read one with its history; list;
delete. `@name` in any model route is the model the alias points at (resolved once: service.ids).

A move is one script (common.store.alias_scripts): it checks the model, points the alias, appends the history
and queues the `alias.moved` webhook deliveries in the same step, so a forecast through `@name` sees the alias
before or after a move, never half-moved. A gated move is judged first (service.promotion) and then applied
only if the alias still points where it pointed when judged (else 409: judged against another model).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response, status
from fastapi.responses import JSONResponse

from rnncast.common.aliases import SIGIL, PromotionGate
from rnncast.common.store.alias_ops import ANY
from rnncast.service.deps import PageDep, SettingsDep, StoreDep, WorkerDep
from rnncast.service.errors import ERRORS, not_found
from rnncast.service.ids import model_or_404, resolve
from rnncast.service.promotion import evidence, left_grace_ms
from rnncast.service.schemas.aliases import AliasDetail, AliasList, AliasMove, AliasMoved, AliasName, GateRefusal

router = APIRouter(prefix="/aliases", tags=["aliases"])


async def _alias_or_404(store: StoreDep, name: str) -> dict[str, Any]:
    found = await store.get_alias(name)
    if found is None:
        raise not_found("alias", name)
    return found


async def _judged(store: StoreDep, worker: WorkerDep, gate: PromotionGate, candidate: dict[str, Any],
                  current_id: str) -> dict[str, Any]:
    """The gate's evidence on the candidate against the model the alias points at ('': none)."""
    current = await store.get_model(current_id) if current_id and current_id != candidate["id"] else None
    return await evidence(store, worker, gate, candidate, current)


@router.post("/{name}", response_model=AliasMoved, responses={**ERRORS, 409: {"model": GateRefusal}})
async def move_alias(
    name: AliasName, body: AliasMove, store: StoreDep, worker: WorkerDep, settings: SettingsDep,
) -> JSONResponse:
    """Point the alias at `model_id` (creating it). With `require`, the candidate's backtest must meet each bar
    and do at least as well as the current model's on the same backtest, else 409 with both models' figures
    (`evidence`) and the alias stays. The answer and the alias's history keep the evidence; subscribers to
    `alias.moved` get the move. A model being deleted cannot be pointed at (409); the model the alias leaves
    cannot be deleted until the requests that resolved the alias to it have ended (RNNCAST_FORECAST_TIMEOUT)."""
    model = await model_or_404(store, await resolve(store, "model_id", body.model_id))
    gate = PromotionGate(**body.require.model_dump()) if body.require is not None else None
    found, expected = None, ANY
    if gate is not None and any(v is not None for v in gate.to_dict().values()):
        expected = await store.alias_target(name) or ""
        found = await _judged(store, worker, gate, model, expected)
        if not found["passed"]:
            detail = (f"alias {SIGIL}{name} stays on {expected or 'nothing'}: model {model['id']} does not pass "
                      f"the gate: {'; '.join(found['reasons'])}")
            return JSONResponse({"detail": detail, "evidence": found}, status_code=409)
    move = await store.move_alias(name, model["id"], left_grace_ms(settings), found, expected)
    if move.outcome == "missing":
        raise not_found("model", model["id"])
    if move.outcome == "deleting":
        raise HTTPException(status.HTTP_409_CONFLICT, f"model {model['id']} is being deleted")
    if move.outcome == "stale":
        raise HTTPException(status.HTTP_409_CONFLICT, (
            f"alias {SIGIL}{name} moved to {move.previous or 'nothing'} while the gate judged against "
            f"{expected or 'nothing'}: ask again"))
    alias = await _alias_or_404(store, name)
    return JSONResponse({"alias": alias, "moved": move.outcome == "moved",
                         "previous_model_id": move.previous if move.outcome == "moved" else model["id"],
                         "evidence": found})


@router.get("", response_model=AliasList, responses=ERRORS)
async def list_aliases(
    store: StoreDep,
    page: PageDep,
) -> JSONResponse:
    """Aliases, oldest first, with the model each points at (their histories: `GET /v1/aliases/{name}`)."""
    rows, count = await store.list_aliases(page.limit, page.offset)
    return JSONResponse({"data": rows, "count": count})


@router.get("/{name}", response_model=AliasDetail, responses=ERRORS)
async def get_alias(name: AliasName, store: StoreDep) -> JSONResponse:
    """The alias, the model it points at, and its moves (oldest first) with the evidence each was judged on."""
    return JSONResponse(await _alias_or_404(store, name))


@router.delete("/{name}", status_code=204, responses=ERRORS)
async def delete_alias(name: AliasName, store: StoreDep, settings: SettingsDep) -> Response:
    """Forget the alias and its history (its model stays); later requests through `@name` are 404."""
    if await store.delete_alias(name, left_grace_ms(settings)) is None:
        raise not_found("alias", name)
    return Response(status_code=204)
