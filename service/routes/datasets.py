"""Datasets: a user's own univariate series, uploaded as JSON or CSV, or generated; stored as files plus a record."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from rnncast.common.artifacts import ArtifactError
from rnncast.common.datasets import (
    DatasetUnavailable,
    dataset_record,
    read_slice,
    record_axis,
    remove_dataset,
    write_dataset,
)
from rnncast.common.defaults import MAX_DATASET_VALUES_PAGE, MISSING_HELP, Missing
from rnncast.common.series import SeriesError
from rnncast.common.store.admission import UNLIMITED
from rnncast.common.store.aio import AsyncJobStore, QuotaExceeded
from rnncast.common.values import is_id
from rnncast.service.deps import ArtifactsDep, PageDep, SettingsDep, StoreDep, WorkerDep
from rnncast.service.errors import ERRORS, found_or_404, not_found, unprocessable
from rnncast.service.labels import LabelFilters, ScanBudget, relabel_or_404
from rnncast.service.openapi import PNG, links
from rnncast.service.quotas import dataset_quota, quota_refusal
from rnncast.service.schemas import (
    Dataset,
    DatasetList,
    DatasetValuesPage,
)
from rnncast.service.schemas.datasets import Name
from rnncast.service.schemas.labels import DatasetLabelsPatch, Tags
from rnncast.service.uploads import CSV_TYPES, JSON_BODY, from_csv, from_json, multipart_file, read_body

router = APIRouter(prefix="/datasets", tags=["datasets"])
DATASET_LINKS = links("datasets", "dataset_id", GetDataset="get_dataset", DatasetValues="dataset_values",
                      DatasetPlot="plot_png", DeleteDataset="delete_dataset")
REF = "#/components/schemas/{model}"
_JSON_SCHEMA = JSON_BODY.json_schema(ref_template=REF)
# The body's models, for the OpenAPI schema's components (service.main adds them there).
COMPONENTS: dict[str, Any] = _JSON_SCHEMA.pop("$defs", {})


def _request_body_schema() -> dict[str, Any]:
    """The three ways in, for the OpenAPI schema (the handler reads the body itself, by its type)."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": _JSON_SCHEMA},
        # Bytes, as the multipart file: a generated client sends a CSV file as it is, not as text.
        "text/csv": {"schema": {"type": "string", "format": "binary", "description": "a CSV document: an "
                                "optional header row, an optional increasing date/time first column, the values "
                                "in `column`"}},
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary", "description": "a CSV file"}}}},
    }}}


async def dataset_or_404(store: AsyncJobStore, dataset_id: str) -> dict[str, Any]:
    return await found_or_404("dataset", store.get_dataset, dataset_id)


@router.post(
    "", status_code=201, response_model=Dataset,
    responses={**ERRORS, 415: ERRORS[422], 201: {"links": DATASET_LINKS}}, openapi_extra=_request_body_schema(),
)
async def create_dataset(
    request: Request, store: StoreDep, settings: SettingsDep, artifacts: ArtifactsDep,
    column: Annotated[str | None, Query(max_length=200, description="CSV: the value column, by header name or "
                                        "0-based index (needed when the CSV has several numeric columns)")] = None,
    missing: Annotated[Missing, Query(description=f"CSV: {MISSING_HELP}")] = "refuse",
    name: Annotated[Name | None, Query(description="CSV: the dataset's name (default: the file's name)")] = None,
    tag: Annotated[Tags | None, Query(description="CSV: a tag (repeat it for more)")] = None,
    step: Annotated[float | None, Query(gt=0, le=1e9, allow_inf_nan=False,
                                        description="CSV: the step between values (default 1)")] = None,
) -> JSONResponse:
    """Store a series: JSON `{"name", "values", "step"?}`, JSON `{"name"?, "generator": {...}}`, or a CSV (a
    `text/csv` body or a multipart `file`). Values must be finite; at least 3, at most RNNCAST_MAX_DATASET_POINTS.
    A refusal names the row or value at fault and stores nothing. The body limit is RNNCAST_MAX_UPLOAD_BYTES.
    The `column`, `name`, `step` and `missing` query parameters apply to CSV uploads. A CSV whose first column
    holds times keeps them: its `frequency` (hourly, daily, weekly, monthly, quarterly or yearly), `start` and
    `end` are in the record, and a gap or uneven step is a 422 naming the rows.
    """
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    axis = None
    try:
        if media == "application/json" or media.endswith("+json"):
            name_, values, step_, source, tag = await run_in_threadpool(from_json, await read_body(request), settings)
        elif media in CSV_TYPES:
            values, source, axis = await run_in_threadpool(from_csv, await read_body(request), column, settings,
                                                           missing)
            name_, step_ = name or "upload", step or 1.0
        elif media == "multipart/form-data":
            raw, filename = await multipart_file(request)
            values, source, axis = await run_in_threadpool(from_csv, raw, column, settings, missing)
            name_, step_ = name or filename, step or 1.0
        else:
            raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                                f"content type {media or 'none'!r}: send application/json, text/csv or "
                                f"multipart/form-data with a 'file'")
    except SeriesError as exc:
        raise unprocessable(str(exc)) from None
    record = dataset_record(uuid.uuid4().hex, name_, values, float(step_), source, axis) | {"tags": tag or []}
    await artifacts.call(write_dataset, record, values)
    try:  # the record is admitted within the quotas in one step: simultaneous uploads cannot pass them
        await store.create_dataset(record, dataset_quota(settings))
    except BaseException as exc:  # no record, no files: a refused or failed upload leaves nothing behind
        await artifacts.call(remove_dataset, record["id"])
        if isinstance(exc, QuotaExceeded):
            raise quota_refusal(exc) from None
        raise
    return JSONResponse(record, status_code=201, headers={"Location": f"/v1/datasets/{record['id']}"})


@router.get("", response_model=DatasetList, responses=ERRORS)
async def list_datasets(
    store: StoreDep,
    filters: LabelFilters,
    scan: ScanBudget,
    page: PageDep,
) -> JSONResponse:
    """Datasets newest first, those that match every filter given; `count` is the total matching."""
    records, count = await store.list_datasets(page.limit, page.offset, filters, scan=scan)
    return JSONResponse({"data": records, **count.fields()})


@router.get("/{dataset_id}", response_model=Dataset, responses=ERRORS)
async def get_dataset(dataset_id: str, store: StoreDep) -> JSONResponse:
    return JSONResponse(await dataset_or_404(store, dataset_id))


@router.patch("/{dataset_id}", response_model=Dataset, responses=ERRORS)
async def label_dataset(dataset_id: str, body: DatasetLabelsPatch, store: StoreDep) -> JSONResponse:
    """Change a dataset's name and tags (a JSON merge patch: a field left out stays; a dataset keeps a name)."""
    await relabel_or_404(store, "dataset", dataset_id, body, named=True)
    return JSONResponse(await dataset_or_404(store, dataset_id))


@router.get("/{dataset_id}/values", response_model=DatasetValuesPage, responses=ERRORS)
async def dataset_values(
    dataset_id: str, store: StoreDep, artifacts: ArtifactsDep,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_DATASET_VALUES_PAGE)] = 1000,
) -> Response:
    """Values [offset, offset + limit) of the series (an offset past its end gives none), with their
    `timestamps` when the dataset has a time axis."""
    record = await dataset_or_404(store, dataset_id)
    try:
        values = await artifacts.call(read_slice, dataset_id, offset, limit)
    except DatasetUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    body: dict[str, Any] = {"id": dataset_id, "offset": offset, "limit": limit, "length": record["length"],
                            "values": values}
    axis = record_axis(record)
    if axis is not None:  # the page's timestamps, from the axis the record states
        body["timestamps"] = axis.iso(range(offset, offset + len(values)))
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


@router.get("/{dataset_id}/plot.png", response_class=Response, responses={**ERRORS, **PNG})
async def plot_png(dataset_id: str, store: StoreDep, worker: WorkerDep) -> Response:
    """The series as a line (drawn by a worker)."""
    record = await dataset_or_404(store, dataset_id)
    message = {"figure": "dataset", "dataset_id": dataset_id, "sha256": record["sha256"], "step": record["step"],
               "name": record["name"]}
    return await worker.png(message)


@router.delete("/{dataset_id}", status_code=204, response_class=Response, responses=ERRORS)
async def delete_dataset(dataset_id: str, store: StoreDep, artifacts: ArtifactsDep) -> Response:
    """Delete the dataset and its files; 409 while a queued or running job trains on it. Models trained on it
    keep their own copy of the series: they still forecast and backtest."""
    record = await store.get_dataset(dataset_id) if is_id(dataset_id) else None
    # The record goes first (its script refuses a dataset in use); a store that then fails gets it back,
    # and the answer is 503: a retry finds the dataset and deletes its files.
    outcome = await store.delete_dataset(dataset_id) if record is not None else "missing"
    if record is None or outcome == "missing":
        raise not_found("dataset", dataset_id)
    if outcome.startswith("active:"):
        raise HTTPException(status.HTTP_409_CONFLICT, f"dataset {dataset_id!r} is in use by job "
                            f"{outcome.removeprefix('active:')!r} (queued or running): cancel it or wait")
    try:
        await artifacts.call(remove_dataset, dataset_id)
    except ArtifactError:  # put back as it was: a restored record is never refused for the quota it held
        await store.create_dataset(record, UNLIMITED)
        raise
    return Response(status_code=204)
