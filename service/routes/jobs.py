"""Training jobs: submit, list, inspect, follow (SSE) and cancel."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import redis
from fastapi import APIRouter, Header, HTTPException, Query, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from kombu.exceptions import OperationalError

from rnncast.common.artifacts import ArtifactStore
from rnncast.common.artifacts.layout import job_prefix
from rnncast.common.defaults import (
    PASS_OVERHEAD,
    TRAIN_OPTIONS,
    default_dropout,
    default_micro_batch,
    effective_options,
    model_bytes,
    total_epochs,
    train_cost,
    train_memory,
)
from rnncast.common.queue import TRAIN_QUEUE, TRAIN_TASK
from rnncast.common.settings import Settings
from rnncast.common.store import JobStatus, is_id
from rnncast.common.store.aio import AsyncJobStore, DatasetGone, IdempotencyConflict, QueueFull
from rnncast.core.series import SeriesError, split_point
from rnncast.service.deps import ArtifactsDep, CeleryDep, SettingsDep, StoreDep
from rnncast.service.errors import unprocessable
from rnncast.service.openapi import links
from rnncast.service.quotas import check_models
from rnncast.service.schemas import DatasetRef, ErrorBody, Job, JobCreate, JobList, TrainOptions

log = logging.getLogger(__name__)
router = APIRouter(prefix="/jobs", tags=["jobs"])
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 409, 413, 421, 422, 429, 503, 507)
}


JOB_LINKS = links("jobs", "job_id", GetJob="get_job", CancelJob="cancel_job", JobEvents="job_events",
                  DeleteJob="delete_job")


def not_found(kind: str, record_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{kind} {record_id!r} not found")


async def found_or_404(
    kind: str, get: Callable[[str], Awaitable[dict[str, Any] | None]], record_id: str,
) -> dict[str, Any]:
    """The record `get` finds for a well-formed id, else a 404 naming `kind`."""
    record = await get(record_id) if is_id(record_id) else None
    if record is None:
        raise not_found(kind, record_id)
    return record


async def dataset_for(store: AsyncJobStore, options: TrainOptions) -> dict[str, Any] | None:
    """The record of the dataset `options` train on (None for the sine); 422 when there is none."""
    if not isinstance(options.data, DatasetRef):
        return None
    record = await store.get_dataset(options.data.dataset_id)
    if record is None:
        raise unprocessable(f"data.dataset_id: dataset {options.data.dataset_id!r} not found")
    return record


def dataset_data(ref: dict[str, Any], record: dict[str, Any], sequence_length: int) -> dict[str, Any]:
    """A dataset job's `data` params: the dataset pinned by its digest, and the split checked against its length."""
    try:
        split_point(record["length"], sequence_length, ref["train_fraction"])
    except SeriesError as exc:
        raise unprocessable(f"dataset {record['id']!r}: {exc}") from None
    return {"kind": "dataset", "dataset_id": record["id"], "sha256": record["sha256"], "length": record["length"],
            "step": record["step"], "train_fraction": ref["train_fraction"], "name": record["name"]}


def effective_params(body: JobCreate, dataset: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every hyperparameter the worker will use, defaults and random seed filled in.

    Args:
        dataset: the record of the dataset the job trains on (dataset_for).
    """
    params = body.model_dump(exclude={"name"})
    options = {k: params[k] for k in TRAIN_OPTIONS if k in body.model_fields_set}
    params |= effective_options(params["cell"], params["recipe"], options)
    if dataset is not None:
        params["data"] = dataset_data(params["data"], dataset, params["sequence_length"])
    if params["seed"] is None:
        params["seed"] = secrets.randbelow(2**31)
    if params["dropout"] is None:
        params["dropout"] = default_dropout(params["num_layers"])
    if params["micro_batch_size"] is None:
        params["micro_batch_size"] = default_micro_batch(params["cell"])
    return params


def fingerprint(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def check_epochs(epochs: int, settings: Settings) -> None:
    if epochs > settings.max_epochs:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"epochs ({epochs}) exceeds this server's limit ({settings.max_epochs})",
        )


def check_cost(params: dict[str, Any], settings: Settings) -> None:
    """422 for a job whose estimated work exceeds RNNCAST_MAX_TRAIN_COST, or whose estimated peak memory
    exceeds RNNCAST_MAX_TRAIN_MEMORY."""
    cell, cost, memory = params["cell"], train_cost(params), train_memory(params)
    refusals = [
        (cost > settings.max_train_cost,
         f"this {cell} job's estimated cost ({cost:.3g}: epochs x sequence_length x num_layers x (windows x gates x "
         f"hidden_size^2 + passes x {PASS_OVERHEAD})) exceeds this server's limit RNNCAST_MAX_TRAIN_COST "
         f"({settings.max_train_cost:.3g}); use fewer epochs, windows, layers or hidden units, larger "
         f"micro-batches, or ask the operator to raise the limit"),
        (memory > settings.max_train_memory,
         f"this {cell} job's estimated peak memory ({memory / 2**20:.0f} MiB: its parameters with gradients and "
         f"Adam's moments, its series, and its largest pass, e.g. micro_batch_size rows x sequence_length x "
         f"num_layers x (gates + 3) x hidden_size floats, tripled for the backward pass) exceeds this server's "
         f"limit RNNCAST_MAX_TRAIN_MEMORY ({settings.max_train_memory / 2**20:.0f} MiB); use smaller "
         f"micro-batches (micro_batch_size), shorter windows or fewer hidden units"),
    ]
    for refused, detail in refusals:
        if refused:
            raise unprocessable(detail)


async def submit_job(
    store: AsyncJobStore, celery: Any, settings: Settings, body: JobCreate,
    idempotency_key: str | None, extra: dict[str, Any] | None = None,
) -> tuple[str, bool]:
    """Record a job and enqueue its task; (job id, created?)."""
    params = effective_params(body, await dataset_for(store, body))
    check_cost(params, settings)
    await check_models(store, settings, 1, model_bytes(params))
    job_id, created = await store.create_job(
        params, job_id=uuid.uuid4().hex, name=body.name, epochs=total_epochs(params),
        max_queued=settings.max_queued_jobs, idempotency_key=idempotency_key,
        fingerprint=fingerprint(body.model_dump()), extra=extra,
    )
    if created:
        try:
            await run_in_threadpool(celery.send_task, TRAIN_TASK, args=[job_id], queue=TRAIN_QUEUE)
        except (OperationalError, redis.RedisError):  # answered 503: a retry must create the job anew
            await store.discard_job(job_id, idempotency_key)
            raise
    return job_id, created


@router.post("", status_code=202, response_model=Job, responses={**ERRORS, 202: {"links": JOB_LINKS}})
async def create_job(
    body: JobCreate, store: StoreDep, celery: CeleryDep, settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Queue a training job; the same Idempotency-Key returns the same job."""
    check_epochs(body.epochs, settings)
    try:
        job_id, created = await submit_job(store, celery, settings, body, idempotency_key)
    except IdempotencyConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except DatasetGone as exc:
        raise unprocessable(f"data.dataset_id: {exc}") from None
    except QueueFull as exc:
        return JSONResponse({"detail": f"queue is full: {exc}"}, 429, headers={"Retry-After": "30"})
    job = await store.get_job(job_id)
    headers = {"Location": f"/v1/jobs/{job_id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(job, status_code=202, headers=headers)


@router.get("", response_model=JobList, responses=ERRORS)
async def list_jobs(
    store: StoreDep,
    status_: Annotated[JobStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> JSONResponse:
    """Jobs newest first; `count` is the total matching, not the page size."""
    jobs, count = await store.list_jobs(status_, limit, offset)
    return JSONResponse({"data": jobs, "count": count})


async def job_or_404(store: AsyncJobStore, job_id: str) -> dict[str, Any]:
    return await found_or_404("job", store.get_job, job_id)


@router.get("/{job_id}", response_model=Job, responses=ERRORS)
async def get_job(job_id: str, store: StoreDep) -> Response:
    text = await store.job_json(job_id) if is_id(job_id) else None
    if text is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id!r} not found")
    return Response(text, media_type="application/json")


@router.delete("/{job_id}", status_code=204, response_class=Response, responses=ERRORS)
async def delete_job(job_id: str, store: StoreDep, artifacts: ArtifactsDep) -> Response:
    """Delete an ended job: its record, history, events and checkpoints; its model stays.

    409 while it is queued or running (cancel it first), and for a comparison's
    run (delete the comparison).
    """
    outcome = await store.delete_job(job_id) if is_id(job_id) else "missing"
    if outcome == "missing":
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id!r} not found")
    if outcome.startswith("active:"):
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"job {job_id!r} is {outcome.removeprefix('active:')}: cancel it first")
    if outcome.startswith("comparison:"):
        raise HTTPException(status.HTTP_409_CONFLICT, f"job {job_id!r} is a run of comparison "
                            f"{outcome.removeprefix('comparison:')!r}: delete the comparison")
    await run_in_threadpool(remove_job_files, artifacts, [job_id])
    return Response(status_code=204)


def remove_job_files(artifacts: ArtifactStore, job_ids: list[str]) -> None:
    """Delete deleted jobs' checkpoint files (their models' files stay)."""
    for job_id in job_ids:
        artifacts.delete_prefix(job_prefix(job_id))


@router.post("/{job_id}/cancel", status_code=202, response_model=Job, responses=ERRORS)
async def cancel_job(job_id: str, store: StoreDep) -> JSONResponse:
    """Cancel a queued job at once, or ask a running one to stop within one epoch."""
    if not is_id(job_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id!r} not found")
    outcome = await store.cancel_job(job_id)
    if outcome == "missing":
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id!r} not found")
    if outcome.startswith("ended:"):
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"job {job_id!r} already ended: {outcome.removeprefix('ended:')}"
        )
    return JSONResponse(await job_or_404(store, job_id), status_code=202)
