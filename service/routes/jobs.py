"""Training jobs: submit, list, inspect, follow (SSE) and cancel."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import JSONResponse, Response

from rnncast.common.artifacts.layout import remove_job_files
from rnncast.common.store import JobStatus
from rnncast.common.values import is_id
from rnncast.service.deps import ArtifactsDep, CeleryDep, IdempotencyKey, PageDep, SettingsDep, StoreDep
from rnncast.service.errors import ERRORS, found_or_404, not_found, submit_refusals
from rnncast.service.labels import ScanBudget, TrainedFilters, relabel_or_404
from rnncast.service.openapi import links
from rnncast.service.rpc import Worker
from rnncast.service.schemas import Job, JobCreate, JobList
from rnncast.service.schemas.labels import LabelsPatch
from rnncast.service.search_submit import submit_auto
from rnncast.service.submit import submit_job

log = logging.getLogger(__name__)
router = APIRouter(prefix="/jobs", tags=["jobs"])

JOB_LINKS = links("jobs", "job_id", GetJob="get_job", CancelJob="cancel_job", JobEvents="job_events",
                  DeleteJob="delete_job")


@router.post("", status_code=202, response_model=Job, responses={**ERRORS, 202: {"links": JOB_LINKS}})
async def create_job(
    body: JobCreate, store: StoreDep, artifacts: ArtifactsDep, celery: CeleryDep, settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Queue a training job; the same Idempotency-Key returns the same job. With `recipe: auto` (a dataset job),
    a search chooses the configuration first: the job waits queued until it has."""
    with submit_refusals("data.dataset_id"):
        if body.recipe == "auto":
            # Built here, not a WorkerDep: only this recipe asks a worker (and the gate refuses this POST from
            # other sites as it does every state-changing request).
            worker = Worker(store, settings)
            job_id, created = await submit_auto(store, celery, settings, worker, body, idempotency_key)
        else:
            job_id, created = await submit_job(store, artifacts, celery, settings, body, idempotency_key)
    job = await store.get_job(job_id)
    headers = {"Location": f"/v1/jobs/{job_id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(job, status_code=202, headers=headers)


@router.get("", response_model=JobList, responses=ERRORS)
async def list_jobs(
    store: StoreDep,
    filters: TrainedFilters,
    scan: ScanBudget,
    page: PageDep,
    status_: Annotated[JobStatus | None, Query(alias="status")] = None,
) -> JSONResponse:
    """Jobs newest first, those that match every filter given; `count` is the total matching, not the page
    size."""
    jobs, count = await store.list_jobs(status_, page.limit, page.offset, filters, scan=scan)
    return JSONResponse({"data": jobs, **count.fields()})


@router.patch("/{job_id}", response_model=Job, responses=ERRORS)
async def label_job(job_id: str, body: LabelsPatch, store: StoreDep) -> JSONResponse:
    """Change a job's name and tags (a JSON merge patch: a field left out stays, null clears it); its model,
    if it has one, keeps its own."""
    await relabel_or_404(store, "job", job_id, body)
    return JSONResponse(await found_or_404("job", store.get_job, job_id))


@router.get("/{job_id}", response_model=Job, responses=ERRORS)
async def get_job(job_id: str, store: StoreDep) -> Response:
    text = await store.job_json(job_id) if is_id(job_id) else None
    if text is None:
        raise not_found("job", job_id)
    return Response(text, media_type="application/json")


@router.delete("/{job_id}", status_code=204, response_class=Response, responses=ERRORS)
async def delete_job(job_id: str, store: StoreDep, artifacts: ArtifactsDep) -> Response:
    """Delete an ended job: its record, history, events and checkpoints; its model stays.

    409 while it is queued or running (cancel it first), and for a comparison's
    run (delete the comparison).
    """
    view = await store.get_job(job_id) if is_id(job_id) else None
    if view is not None and JobStatus(view["status"]).final and not view.get("comparison_id"):
        # Files first: a store that fails answers 503 with the record kept, and a retry deletes both.
        await artifacts.call(remove_job_files, [job_id])
    outcome = await store.delete_job(job_id) if view is not None else "missing"
    if outcome == "missing":
        raise not_found("job", job_id)
    if outcome.startswith("active:"):
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"job {job_id!r} is {outcome.removeprefix('active:')}: cancel it first")
    if outcome.startswith("comparison:"):
        raise HTTPException(status.HTTP_409_CONFLICT, f"job {job_id!r} is a run of comparison "
                            f"{outcome.removeprefix('comparison:')!r}: delete the comparison")
    return Response(status_code=204)


@router.post("/{job_id}/cancel", status_code=202, response_model=Job, responses=ERRORS)
async def cancel_job(job_id: str, store: StoreDep) -> JSONResponse:
    """Cancel a queued job at once, or ask a running one to stop within one epoch; a `recipe: auto` job's
    search (its candidates and its other refits) is cancelled with it."""
    if not is_id(job_id):
        raise not_found("job", job_id)
    outcome = await store.cancel_job(job_id)
    if outcome == "missing":
        raise not_found("job", job_id)
    if outcome.startswith("ended:"):
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"job {job_id!r} already ended: {outcome.removeprefix('ended:')}"
        )
    job = await found_or_404("job", store.get_job, job_id)
    search = await store.get_search(job["search_id"]) if job.get("search_id") else None
    if search is not None:
        await store.cancel_search(job["search_id"], [candidate["id"] for candidate in search[1]])
    return JSONResponse(job, status_code=202)
