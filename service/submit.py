"""Submitting training: a job's effective params, the checks before it is recorded, recording and enqueueing.

Jobs and comparisons (one job per cell and seed) go through the same functions; routers only route.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from typing import Any

import redis
from fastapi import HTTPException, status
from fastapi.concurrency import run_in_threadpool
from kombu.exceptions import OperationalError

from rnncast.common import covariates
from rnncast.common import options as O
from rnncast.common.artifacts.bounded import BoundedStore
from rnncast.common.datasets import values_present
from rnncast.common.defaults import CELL_COST, PASS_OVERHEAD, train_cost, train_memory
from rnncast.common.options import effective_options, recipe_fields, resolved_dropout, resolved_micro_batch
from rnncast.common.queue import TRAIN_QUEUE, TRAIN_TASK
from rnncast.common.series import SeriesError, split_point
from rnncast.common.settings import Settings, get_settings
from rnncast.common.store.aio import AsyncJobStore, QuotaExceeded
from rnncast.service.errors import unprocessable
from rnncast.service.limits import SERVING, refusal
from rnncast.service.quotas import model_quota, quota_refusal
from rnncast.service.schemas import DatasetRef, JobCreate, TrainOptions


async def dataset_for(store: AsyncJobStore, artifacts: BoundedStore, options: TrainOptions) -> dict[str, Any] | None:
    """The record of the dataset `options` train on (None for the sine); 422 when there is none, 409 when its
    values file is gone from the artifact store (the job would be accepted, then fail)."""
    if not isinstance(options.data, DatasetRef):
        return None
    dataset_id = options.data.dataset_id
    record = await store.get_dataset(dataset_id)
    if record is None:
        raise unprocessable(f"data.dataset_id: dataset {dataset_id!r} not found")
    if not await artifacts.call(values_present, dataset_id):
        raise HTTPException(status.HTTP_409_CONFLICT, (
            f"data.dataset_id: dataset {dataset_id!r} has a record but its values file is missing from the "
            "artifact store (deleted, or this API uses another RNNCAST_ARTIFACTS/RNNCAST_DATA_DIR than the one "
            "it was uploaded to); upload it again, or run `rnncast doctor`"))
    return record


async def check_store_shared(store: AsyncJobStore, settings: Settings) -> None:
    """409 when training workers are alive but none uses this API's artifact store: a job would be accepted here
    and then find none of its files there (an API started in another folder, with a relative RNNCAST_DATA_DIR)."""
    infos = await store.live_worker_info(settings.heartbeat_timeout)
    theirs = sorted({str(i["artifacts"]) for i in infos if TRAIN_QUEUE in i.get("queues", ()) and i.get("artifacts")})
    if theirs and settings.artifacts_url not in theirs:
        raise HTTPException(status.HTTP_409_CONFLICT, (
            f"the training workers use the artifact store {', '.join(theirs)}, not this API's "
            f"({settings.artifacts_url}): start both with the same RNNCAST_DATA_DIR (an absolute path) or "
            "RNNCAST_ARTIFACTS; `rnncast doctor` shows each worker's"))


def dataset_data(ref: dict[str, Any], record: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A dataset job's `data` params: the dataset pinned by its digest, and the split checked against its length
    (with the job's differencing lag where it is known before training: first, or a given season)."""
    lag = {"none": 0, "first": 1}.get(params.get("difference", "none"), params.get("season") or 0)
    try:
        split_point(record["length"], params["sequence_length"], ref["train_fraction"], params["output_steps"], lag)
        covariates.resolve(params.get("covariates", "none"), record.get("frequency"))
    except SeriesError as exc:
        raise unprocessable(f"dataset {record['id']!r}: {exc}") from None
    if params.get("covariates", "none") != "none" and params.get("rollout_finetune"):
        raise unprocessable("covariates and rollout_finetune do not go together yet: leave one out")
    return {"kind": "dataset", "dataset_id": record["id"], "sha256": record["sha256"], "length": record["length"],
            "step": record["step"], "train_fraction": ref["train_fraction"], "name": record["name"],
            **{k: record[k] for k in ("frequency", "start", "month_end") if record.get(k) is not None}}


def effective_params(body: JobCreate, dataset: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every hyperparameter the worker will use: the recipe's options where the request left them out, the
    random seed drawn, and each null the declaration resolves filled in.

    Args:
        dataset: the record of the dataset the job trains on (dataset_for).
    """
    params = body.model_dump(exclude={"name", "tags"})
    given = {k: params[k] for k in recipe_fields() if k in body.model_fields_set}
    params |= effective_options(params["cell"], params["recipe"], given)
    _within_limits(params)
    if dataset is not None:
        params["data"] = dataset_data(params["data"], dataset, params)
    if params["seed"] is None:
        params["seed"] = secrets.randbelow(2**31)
    params["dropout"] = resolved_dropout(params["dropout"], params["num_layers"])
    params["micro_batch_size"] = resolved_micro_batch(params["micro_batch_size"], params["cell"])
    return params


def _within_limits(params: dict[str, Any]) -> None:
    """422 for a value a recipe chose over this server's limit (`epochs`): refused as if the request had sent it."""
    for s in O.spec(O.TrainOptions):
        reason = s.limit and refusal(s.name, params[s.name], s.limit.setting, SERVING.get() or get_settings())
        if reason:
            raise unprocessable(reason)


def fingerprint(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


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


def enqueue(celery: Any, job_ids: list[str]) -> None:
    """Send each job's training task (blocking: call it from a thread)."""
    for job_id in job_ids:
        celery.send_task(TRAIN_TASK, args=[job_id], queue=TRAIN_QUEUE)


def slowest_first(runs: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """A comparison's job ids, longest first: with fewer workers than runs, the slowest cells start at once
    and the short ones fill in behind them."""
    return [job_id for job_id, params in sorted(runs, key=lambda r: -CELL_COST[r[1]["cell"]] * r[1]["epochs"])]


async def submit_job(
    store: AsyncJobStore, artifacts: BoundedStore, celery: Any, settings: Settings, body: JobCreate,
    idempotency_key: str | None, extra: dict[str, Any] | None = None,
) -> tuple[str, bool]:
    """Record a job and enqueue its task; (job id, created?)."""
    await check_store_shared(store, settings)
    params = effective_params(body, await dataset_for(store, artifacts, body))
    check_cost(params, settings)
    try:
        job_id, created = await store.create_job(
            params, job_id=uuid.uuid4().hex, name=body.name, tags=body.tags,
            epochs=O.TrainOptions.pick(params).total_epochs,
            max_queued=settings.max_queued_jobs, quota=model_quota(settings), idempotency_key=idempotency_key,
            fingerprint=fingerprint(body.model_dump()), extra=extra,
        )
    except QuotaExceeded as exc:
        raise quota_refusal(exc) from None
    if created:
        try:
            await run_in_threadpool(enqueue, celery, [job_id])
        except (OperationalError, redis.RedisError):  # answered 503: a retry must create the job anew
            await store.discard_job(job_id, idempotency_key)
            raise
    return job_id, created
