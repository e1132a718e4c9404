"""Searches: automatic selection by backtest (common.search). A search is a comparison over candidate
configurations, so it reuses the comparisons' admission, tracking and cancel; the refit is a comparison too."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response, status
from fastapi.responses import JSONResponse

from rnncast.common.artifacts.layout import remove_job_files
from rnncast.common.search import search_view
from rnncast.common.store.aio import AsyncJobStore
from rnncast.common.values import is_id
from rnncast.service.deps import ArtifactsDep, CeleryDep, IdempotencyKey, SettingsDep, StoreDep, ViewPageDep, WorkerDep
from rnncast.service.errors import ERRORS, not_found, submit_refusals
from rnncast.service.schemas.searches import Search, SearchCreate, SearchList
from rnncast.service.search_submit import submit_search

router = APIRouter(prefix="/searches", tags=["searches"])


async def _view(store: AsyncJobStore, search_id: str) -> dict[str, Any] | None:
    found = await store.get_search(search_id) if is_id(search_id) else None
    return search_view(*found) if found is not None else None


async def _view_or_404(store: AsyncJobStore, search_id: str) -> dict[str, Any]:
    view = await _view(store, search_id)
    if view is None:
        raise not_found("search", search_id)
    return view


@router.post("", status_code=202, response_model=Search, responses=ERRORS)
async def create_search(
    body: SearchCreate, store: StoreDep, celery: CeleryDep, settings: SettingsDep, worker: WorkerDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Train the candidates of the bounded space (in parallel, on the first part of the dataset's train part),
    score each by a rolling-origin backtest of the rest of the train part, then refit the best on the whole
    train part (the test part stays held out) for the epochs its early stopping chose."""
    with submit_refusals("data.dataset_id"):
        search_id, created = await submit_search(store, celery, settings, worker, body, idempotency_key)
    headers = {"Location": f"/v1/searches/{search_id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(await _view_or_404(store, search_id), status_code=202, headers=headers)


@router.get("", response_model=SearchList, responses=ERRORS)
async def list_searches(
    store: StoreDep,
    page: ViewPageDep,
) -> JSONResponse:
    """Searches newest first."""
    ids, count = await store.list_searches(page.limit, page.offset)
    views = [view for view in [await _view(store, i) for i in ids] if view is not None]
    return JSONResponse({"data": views, "count": count})


@router.get("/{search_id}", response_model=Search, responses=ERRORS)
async def get_search(search_id: str, store: StoreDep) -> JSONResponse:
    """The candidates with their options and scores, the best, and its refit."""
    return JSONResponse(await _view_or_404(store, search_id))


@router.post("/{search_id}/cancel", status_code=202, response_model=Search, responses=ERRORS)
async def cancel_search(search_id: str, store: StoreDep) -> JSONResponse:
    """Cancel every unfinished candidate (and the refit); 409 once the search has ended."""
    view = await _view_or_404(store, search_id)
    if view["status"] != "running":
        raise HTTPException(status.HTTP_409_CONFLICT, f"search {search_id!r} already ended: {view['status']}")
    await store.cancel_search(search_id, [c["job_id"] for c in view["candidates"]])
    return JSONResponse(await _view_or_404(store, search_id), status_code=202)


@router.delete("/{search_id}", status_code=204, response_class=Response, responses=ERRORS)
async def delete_search(search_id: str, store: StoreDep, artifacts: ArtifactsDep) -> Response:
    """Delete an ended search and its candidates' jobs (their models stay, as does the refit comparison);
    409 while it runs."""
    view = await _view_or_404(store, search_id)
    if view["status"] == "running":
        raise HTTPException(status.HTTP_409_CONFLICT, f"search {search_id!r} is running: cancel it first")
    await artifacts.call(remove_job_files, [c["job_id"] for c in view["candidates"]])
    outcome, _ = await store.delete_comparison(search_id)
    if outcome.startswith("active:"):
        raise HTTPException(status.HTTP_409_CONFLICT, f"search {search_id!r} is running: cancel it first")
    await store.delete_search_index(search_id)
    return Response(status_code=204)

