"""Comparisons: the tutorial's RNN vs LSTM vs GRU study over several seeds."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

import redis
from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError

from rnncast.common.artifacts.layout import remove_job_files
from rnncast.common.comparisons import comparison_view, run_row
from rnncast.common.defaults import FORECAST_HORIZON, MAX_HORIZON, MAX_POINTS, MAX_START
from rnncast.common.rollout_work import params_work, work_refusal
from rnncast.common.store.aio import AsyncJobStore, QuotaExceeded
from rnncast.common.values import is_id
from rnncast.service import limits
from rnncast.service.deps import ArtifactsDep, CeleryDep, IdempotencyKey, SettingsDep, StoreDep, ViewPageDep, WorkerDep
from rnncast.service.errors import ERRORS, not_found, submit_refusals, unprocessable
from rnncast.service.labels import ScanBudget, TrainedFilters, facets, relabel_or_404
from rnncast.service.limits import Limited
from rnncast.service.openapi import PNG, links
from rnncast.service.quotas import model_quota, quota_refusal
from rnncast.service.rpc import Worker
from rnncast.service.schemas import (
    Comparison,
    ComparisonCreate,
    ComparisonList,
    EnsembleForecast,
    EnsembleRequest,
    JobCreate,
)
from rnncast.service.schemas.base import Levels
from rnncast.service.schemas.comparisons import ComparisonStatus
from rnncast.service.schemas.labels import LabelsPatch
from rnncast.service.submit import (
    check_cost,
    check_store_shared,
    dataset_for,
    effective_params,
    enqueue,
    fingerprint,
    slowest_first,
)

log = logging.getLogger(__name__)
router = APIRouter(prefix="/comparisons", tags=["comparisons"])
COMPARISON_LINKS = links("comparisons", "comparison_id", GetComparison="get_comparison",
                         CancelComparison="cancel_comparison", DeleteComparison="delete_comparison",
                         LossPng="loss_png")
PNG_RESPONSES: dict[int | str, dict[str, Any]] = {**ERRORS, **PNG}


async def _view(store: AsyncJobStore, comparison_id: str) -> dict[str, Any] | None:
    found = await store.get_comparison(comparison_id) if is_id(comparison_id) else None
    if found is None:
        return None
    raw, jobs = found
    return comparison_view(raw, [run_row(job) for job in jobs])


async def _view_or_404(store: AsyncJobStore, comparison_id: str) -> dict[str, Any]:
    view = await _view(store, comparison_id)
    if view is None:
        raise not_found("comparison", comparison_id)
    return view


@router.post("", status_code=202, response_model=Comparison, responses={**ERRORS, 202: {"links": COMPARISON_LINKS}})
async def create_comparison(
    body: ComparisonCreate, store: StoreDep, artifacts: ArtifactsDep, celery: CeleryDep, settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Queue one training job per (cell, seed); they train in parallel on whatever workers exist."""
    await check_store_shared(store, settings)
    dataset = await dataset_for(store, artifacts, body.train)
    if dataset is None and body.forecast.origin is not None:
        raise unprocessable("forecast.origin applies to runs on a dataset; on the sine, give forecast.start")
    if dataset is not None and body.forecast.origin is not None:
        if not body.train.sequence_length <= body.forecast.origin <= dataset["length"]:
            raise unprocessable(f"forecast.origin ({body.forecast.origin}) must be in "
                                f"{body.train.sequence_length}..{dataset['length']} (sequence_length..the "
                                f"dataset's length)")
    train = body.train.model_dump()
    name, tags = train.pop("name") or body.name, train.pop("tags") or body.tags
    # What the request set, and only that: a recipe fills in what it left out, per cell.
    given = body.train.model_dump(exclude_unset=True, exclude={"name", "tags"})
    runs = [
        (uuid.uuid4().hex, effective_params(JobCreate(**given, cell=cell, seed=seed), dataset))
        for cell in body.cells for seed in body.seeds
    ]
    for _, params in runs:
        check_cost(params, settings)
        # Each run forecasts when it ends (and every `forecast.every` epochs): the same bound as any rollout.
        refusal = work_refusal(f"a {params['cell']} run's forecast", params_work(params, body.forecast.horizon),
                               settings.max_forecast_work, "ask for a shorter forecast.horizon")
        if refusal is not None:
            raise unprocessable(refusal)
    record = {"id": uuid.uuid4().hex, "name": name, "tags": tags, "cells": body.cells, "seeds": body.seeds,
              "train": train, "forecast": body.forecast.model_dump(exclude_none=True)}
    try:
        with submit_refusals("train.data.dataset_id"):
            comparison_id, created = await store.create_comparison(
                record, runs, max_queued=settings.max_queued_jobs, quota=model_quota(settings),
                idempotency_key=idempotency_key, fingerprint=fingerprint(body.model_dump()),
            )
    except QuotaExceeded as exc:
        raise quota_refusal(exc) from None
    if created:
        try:
            await run_in_threadpool(enqueue, celery, slowest_first(runs))
        except (OperationalError, redis.RedisError):  # answered 503: a retry must create the comparison anew
            await store.abandon_comparison(comparison_id, [job_id for job_id, _ in runs], idempotency_key)
            raise
    headers = {"Location": f"/v1/comparisons/{comparison_id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(await _view_or_404(store, comparison_id), status_code=202, headers=headers)


@router.get("", response_model=ComparisonList, responses=ERRORS)
async def list_comparisons(
    store: StoreDep,
    filters: TrainedFilters,
    scan: ScanBudget,
    page: ViewPageDep,
    status_: Annotated[ComparisonStatus | None, Query(alias="status")] = None,
) -> JSONResponse:
    """Comparisons newest first, those that match every filter given; `count` is the total matching."""
    ids, count = await store.list_comparisons(page.limit, page.offset, filters + facets(status=status_),
                                              scan=scan)
    views = [view for view in [await _view(store, i) for i in ids] if view is not None]
    return JSONResponse({"data": views, **count.fields()})


@router.get("/{comparison_id}", response_model=Comparison, responses=ERRORS)
async def get_comparison(comparison_id: str, store: StoreDep) -> JSONResponse:
    """Runs, and per-cell mean/std/n that fill in as runs finish; `best_cell` by forecast MSE."""
    return JSONResponse(await _view_or_404(store, comparison_id))


@router.patch("/{comparison_id}", response_model=Comparison, responses=ERRORS)
async def label_comparison(comparison_id: str, body: LabelsPatch, store: StoreDep) -> JSONResponse:
    """Change a comparison's name and tags (a JSON merge patch: a field left out stays, null clears it); its
    runs and their models keep theirs."""
    await relabel_or_404(store, "comparison", comparison_id, body)
    return JSONResponse(await _view_or_404(store, comparison_id))


@router.post("/{comparison_id}/cancel", status_code=202, response_model=Comparison, responses=ERRORS)
async def cancel_comparison(comparison_id: str, store: StoreDep) -> JSONResponse:
    """Cancel every unfinished run; 409 once the comparison has ended."""
    view = await _view_or_404(store, comparison_id)
    if view["status"] != "running":
        raise HTTPException(status.HTTP_409_CONFLICT, f"comparison {comparison_id!r} already ended: {view['status']}")
    await store.cancel_comparison(comparison_id, [run["job_id"] for run in view["runs"]])
    return JSONResponse(await _view_or_404(store, comparison_id), status_code=202)


@router.delete("/{comparison_id}", status_code=204, response_class=Response, responses=ERRORS)
async def delete_comparison(comparison_id: str, store: StoreDep, artifacts: ArtifactsDep) -> Response:
    """Delete an ended comparison and its runs' jobs (their models stay); 409 while it runs."""
    view = await _view(store, comparison_id) if is_id(comparison_id) else None
    if view is not None and view["status"] != "running":
        # Files first: a store that fails answers 503 with the records kept, and a retry deletes them all.
        await artifacts.call(remove_job_files, [run["job_id"] for run in view["runs"]])
    outcome, _ = await store.delete_comparison(comparison_id) if view is not None else ("missing", [])
    if outcome == "missing":
        raise not_found("comparison", comparison_id)
    if outcome.startswith("active:"):
        raise HTTPException(status.HTTP_409_CONFLICT, f"comparison {comparison_id!r} is running: cancel it first")
    return Response(status_code=204)


async def _png(store: AsyncJobStore, worker: Worker, comparison_id: str, kind: str) -> Response:
    await _view_or_404(store, comparison_id)
    return await worker.png({"figure": kind, "comparison_id": comparison_id})


@router.get("/{comparison_id}/loss.png", response_class=Response, responses=PNG_RESPONSES)
async def loss_png(comparison_id: str, store: StoreDep, worker: WorkerDep) -> Response:
    """Train (solid) and test (dashed) loss per cell, log scale; mean with min-max band over seeds."""
    return await _png(store, worker, comparison_id, "loss")


@router.get("/{comparison_id}/predictions.png", response_class=Response, responses=PNG_RESPONSES)
async def predictions_png(comparison_id: str, store: StoreDep, worker: WorkerDep) -> Response:
    """Context, exact continuation and each cell's forecast (the seed nearest the cell's median)."""
    return await _png(store, worker, comparison_id, "predictions")


def _ensemble_message(view: dict[str, Any], figure: str, request: dict[str, Any], settings: Any) -> dict[str, Any]:
    """The figure-lane request; a sine comparison asked for no window starts where its runs' forecasts did."""
    if not {"start", "origin", "context"} & set(request) and view["train"].get("data", {}).get("kind") != "dataset":
        request = {**request, "start": view["forecast"]["start"]}
    return {"figure": figure, "comparison_id": view["id"], **request}


@router.post("/{comparison_id}/forecast", response_model=EnsembleForecast, responses=ERRORS)
async def ensemble_forecast(
    comparison_id: str, body: EnsembleRequest, store: StoreDep, settings: SettingsDep, worker: WorkerDep,
) -> JSONResponse:
    """Every succeeded run's model continues the same window (by default where the runs' own forecasts
    started); per cell, the mean over its seeds, a band of mean +- 2 std, min and max, step by step, and each
    seed's error where the exact signal is known. Computed on a predict worker; 409 while no run has succeeded."""
    view = await _view_or_404(store, comparison_id)
    message = _ensemble_message(view, "ensemble", body.model_dump(exclude_none=True), settings)
    return JSONResponse(await worker.ask(message))


@router.get("/{comparison_id}/forecast.png", response_class=Response, responses=PNG_RESPONSES)
async def ensemble_png(
    comparison_id: str, store: StoreDep, settings: SettingsDep, worker: WorkerDep,
    start: Annotated[float | None, Query(ge=-MAX_START, le=MAX_START, allow_inf_nan=False)] = None,
    origin: Annotated[int | None, Query(ge=0, le=MAX_POINTS)] = None,
    horizon: Annotated[int, Query(ge=1, le=MAX_HORIZON), Limited("max_horizon")] = FORECAST_HORIZON,
    interval: Annotated[Levels | None, Query(
        description="a prediction-interval level in (0, 1) around each cell's mean, drawn dashed; repeat for "
        "more")] = None,
) -> Response:
    """The ensemble forecast drawn: context, exact continuation, each cell's mean with its band and range (and
    the intervals asked for)."""
    view = await _view_or_404(store, comparison_id)
    if start is not None and origin is not None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "give at most one of 'start' or 'origin'")
    limits.check("horizon", horizon, "max_horizon", settings)  # the default too
    request: dict[str, Any] = {"horizon": horizon}
    request |= {k: v for k, v in (("start", start), ("origin", origin)) if v is not None}
    if interval:
        request["intervals"] = interval
    return await worker.png(_ensemble_message(view, "ensemble_png", request, settings))
