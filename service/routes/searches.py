"""Searches: automatic selection by backtest (common.search). A search is a comparison over candidate
configurations, so it reuses the comparisons' admission, tracking and cancel; the refit is a comparison too."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import redis
from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError

from rnncast.common.artifacts.layout import remove_job_files
from rnncast.common.search import candidate_options, candidates, refit_params, search_view, season_part
from rnncast.common.series import SeriesError
from rnncast.common.store.aio import AsyncJobStore, DatasetGone, IdempotencyConflict, QueueFull, QuotaExceeded
from rnncast.common.store.keys import Keys
from rnncast.common.values import is_id
from rnncast.service.deps import ArtifactsDep, CeleryDep, IdempotencyKey, SettingsDep, StoreDep, WorkerDep
from rnncast.service.errors import ERRORS, not_found, unprocessable
from rnncast.service.quotas import model_quota, quota_refusal
from rnncast.service.schemas import DatasetRef, JobCreate
from rnncast.service.schemas.searches import Search, SearchCreate, SearchList
from rnncast.service.submit import check_cost, effective_params, enqueue, fingerprint, slowest_first

router = APIRouter(prefix="/searches", tags=["searches"])


async def _view(store: AsyncJobStore, search_id: str) -> dict[str, Any] | None:
    found = await store.get_search(search_id) if is_id(search_id) else None
    return search_view(*found) if found is not None else None


async def _view_or_404(store: AsyncJobStore, search_id: str) -> dict[str, Any]:
    view = await _view(store, search_id)
    if view is None:
        raise not_found("search", search_id)
    return view


def _runs(body: SearchCreate, dataset: dict[str, Any], configs: list[dict[str, Any]],
          inner: int) -> list[tuple[str, dict[str, Any]]]:
    """Each candidate's job params: its options, on the dataset's first `inner` values."""
    assert isinstance(body.data, DatasetRef)
    runs = []
    for config in configs:
        job = JobCreate(**config, **candidate_options(body.patience), epochs=body.epochs, seed=body.seed,
                        data={"dataset_id": dataset["id"], "train_fraction": body.data.train_fraction})
        params = effective_params(job, dataset)
        params["data"]["length"] = inner
        runs.append((uuid.uuid4().hex, params))
    return runs


@router.post("", status_code=202, response_model=Search, responses=ERRORS)
async def create_search(
    body: SearchCreate, store: StoreDep, celery: CeleryDep, settings: SettingsDep, worker: WorkerDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Train the candidates of the bounded space (in parallel, on the first part of the dataset's train part),
    score each by a rolling-origin backtest of the rest of the train part, then refit the best on the whole
    train part (the test part stays held out) for the epochs its early stopping chose."""
    if not isinstance(body.data, DatasetRef):
        raise unprocessable("data: a search selects by backtest on a dataset: give {\"dataset_id\"}; the sine's "
                            "defaults are the tutorial's (train a job on it)")
    limit = body.max_candidates or settings.max_search_candidates
    if limit > settings.max_search_candidates:
        raise unprocessable(f"max_candidates ({limit}) exceeds this server's limit RNNCAST_MAX_SEARCH_CANDIDATES "
                            f"({settings.max_search_candidates})")
    dataset = await store.get_dataset(body.data.dataset_id)
    if dataset is None:
        raise unprocessable(f"data.dataset_id: dataset {body.data.dataset_id!r} not found")
    length, fraction, horizon = dataset["length"], body.data.train_fraction, body.backtest.horizon
    found = await worker.ask({"figure": "season", "dataset_id": dataset["id"], "sha256": dataset["sha256"],
                              "length": season_part(length, fraction)})
    season = int(found["season"])
    try:
        configs, inner = candidates(season, length, fraction, horizon, limit, body.seed)
    except SeriesError as exc:
        raise unprocessable(f"dataset {dataset['id']!r}: {exc}") from None
    runs = _runs(body, dataset, configs, inner)
    spec = {"dataset_id": dataset["id"], "length": length, "train_fraction": fraction, "season": season,
            "inner_length": inner, "refit": body.refit, "ensemble_seeds": body.ensemble_seeds, "epochs": body.epochs,
            "seed": body.seed, "backtest": body.backtest.model_dump()}
    for _, params in runs:
        check_cost(params, settings)
        # The refit trains this candidate's configuration on the whole series, with at most its epochs.
        check_cost(refit_params(params, spec, None), settings)
    cells = sorted({params["cell"] for _, params in runs})
    record = {"id": uuid.uuid4().hex, "name": body.name, "cells": cells, "seeds": [body.seed],
              "train": {"epochs": body.epochs, "data": runs[0][1]["data"]}, "forecast": {"horizon": horizon},
              "search": spec}
    try:
        search_id, created = await store.create_comparison(
            record, runs, max_queued=settings.max_queued_jobs, quota=model_quota(settings),
            idempotency_key=idempotency_key, fingerprint=fingerprint(body.model_dump()), index=Keys.searches,
        )
    except QuotaExceeded as exc:
        raise quota_refusal(exc) from None
    except IdempotencyConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except DatasetGone as exc:
        raise unprocessable(f"data.dataset_id: {exc}") from None
    except QueueFull as exc:
        return JSONResponse({"detail": f"queue is full: {exc}"}, 429, headers={"Retry-After": "30"})
    if created:
        try:
            await run_in_threadpool(enqueue, celery, slowest_first(runs))
        except (OperationalError, redis.RedisError):  # answered 503: a retry must create the search anew
            await store.abandon_comparison(search_id, [job_id for job_id, _ in runs], idempotency_key)
            raise
    headers = {"Location": f"/v1/searches/{search_id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(await _view_or_404(store, search_id), status_code=202, headers=headers)


@router.get("", response_model=SearchList, responses=ERRORS)
async def list_searches(
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> JSONResponse:
    """Searches newest first."""
    ids, count = await store.list_searches(limit, offset)
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

