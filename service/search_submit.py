"""Submitting a search (POST /v1/searches, and a `recipe: auto` job): the season, the candidates, the checks,
then the candidates' comparison and the refit's waiting jobs recorded together and the candidates enqueued."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi.concurrency import run_in_threadpool

from rnncast.common.defaults import model_bytes
from rnncast.common.options import TrainOptions
from rnncast.common.search import candidate_options, candidates, refit_params, season_part
from rnncast.common.series import SeriesError
from rnncast.common.settings import Settings
from rnncast.common.store.aio import AsyncJobStore, QuotaExceeded
from rnncast.common.store.keys import Keys
from rnncast.common.store.label_ops import Patch
from rnncast.service.errors import unprocessable
from rnncast.service.quotas import model_quota, quota_refusal
from rnncast.service.rpc import Worker
from rnncast.service.schemas import DatasetRef, JobCreate
from rnncast.service.schemas.searches import SearchCreate
from rnncast.service.submit import check_cost, effective_params, enqueue, fingerprint, slowest_first


def _runs(body: SearchCreate, dataset: dict[str, Any], configs: list[dict[str, Any]],
          inner: int) -> list[tuple[str, dict[str, Any]]]:
    """Each candidate's job params: its options, on the dataset's first `inner` values."""
    runs = []
    for config in configs:
        job = JobCreate(**config, **candidate_options(body.patience), epochs=body.epochs, seed=body.seed,
                        data={"dataset_id": dataset["id"], "train_fraction": body.data.train_fraction})
        params = effective_params(job, dataset)
        params["data"]["length"] = inner
        runs.append((uuid.uuid4().hex, params))
    return runs


async def plan_search(store: AsyncJobStore, settings: Settings, worker: Worker, body: SearchCreate,
                      recipe: str = "tutorial") -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]],
                                                         dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """The search's record and candidates, and its refit's record and waiting jobs (the placeholder params of
    the largest candidate until the search chooses); 422 for what cannot be searched."""
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
            "seed": body.seed, "backtest": body.backtest.model_dump(), "recipe": recipe,
            "refit_job_ids": [uuid.uuid4().hex for _ in range(body.ensemble_seeds)]}
    for _, params in runs:
        check_cost(params, settings)
        # The refit trains this candidate's configuration on the whole series, with at most its epochs.
        check_cost(refit_params(params, spec, None), settings)
    largest = refit_params(max((p for _, p in runs), key=model_bytes), spec, None)
    refit_runs = [(job_id, {**largest, "seed": body.seed + i}) for i, job_id in enumerate(spec["refit_job_ids"])]
    search_id, refit_id = uuid.uuid4().hex, uuid.uuid4().hex
    record = {"id": search_id, "name": body.name, "cells": sorted({p["cell"] for _, p in runs}),
              "seeds": [body.seed], "train": {"epochs": body.epochs, "data": runs[0][1]["data"]},
              "forecast": {"horizon": horizon}, "search": spec, "refit_id": refit_id}
    refit = {"id": refit_id, "name": body.name or f"refit of search {search_id[:8]}", "cells": [largest["cell"]],
             "seeds": [p["seed"] for _, p in refit_runs], "train": largest, "forecast": {"horizon": horizon},
             "search_id": search_id}
    return record, runs, refit, refit_runs


async def submit_search(store: AsyncJobStore, celery: Any, settings: Settings, worker: Worker, body: SearchCreate,
                        idempotency_key: str | None, recipe: str = "tutorial") -> tuple[str, bool]:
    """Record a search (its candidates and its refit's waiting jobs) and enqueue the candidates;
    (search id, created?). Raises the store's admission errors (QuotaExceeded, QueueFull, ...)."""
    record, runs, refit, refit_runs = await plan_search(store, settings, worker, body, recipe)
    try:
        search_id, created = await store.create_comparison(
            record, runs, max_queued=settings.max_queued_jobs, quota=model_quota(settings),
            idempotency_key=idempotency_key, fingerprint=fingerprint(body.model_dump()), index=Keys.searches,
        )
    except QuotaExceeded as exc:
        raise quota_refusal(exc) from None
    if not created:
        return search_id, False
    candidate_ids = [job_id for job_id, _ in runs]
    try:
        await store.create_comparison(refit, refit_runs, max_queued=settings.max_queued_jobs,
                                      quota=model_quota(settings),
                                      job_extra={"awaiting": "search", "search_id": search_id})
        await run_in_threadpool(enqueue, celery, slowest_first(runs))
    except Exception as exc:
        # Answered with the refusal (or 503): nothing of it runs, and a retry must create the search anew.
        await store.cancel_search(search_id, candidate_ids)
        await store.abandon_comparison(search_id, candidate_ids, idempotency_key)
        if isinstance(exc, QuotaExceeded):
            raise quota_refusal(exc) from None
        raise
    return search_id, True


async def submit_auto(store: AsyncJobStore, celery: Any, settings: Settings, worker: Worker, body: JobCreate,
                      idempotency_key: str | None) -> tuple[str, bool]:
    """A `recipe: auto` job: a search with the job's data, epochs, seed and name; the job is its refit (job id,
    created?). Its `cell` and the other options are the search's to choose."""
    if not isinstance(body.data, DatasetRef):
        raise unprocessable("recipe auto searches by backtest on a dataset: give data {\"dataset_id\"}; the sine's "
                            "defaults are the tutorial's (train it with recipe tutorial or accurate)")
    epochs = body.epochs if body.epochs is not None else TrainOptions().epochs  # left out: the tutorial's
    search = SearchCreate(data=body.data, epochs=epochs, seed=body.seed or 0, name=body.name)
    search_id, created = await submit_search(store, celery, settings, worker, search, idempotency_key, "auto")
    found = await store.get_search(search_id)
    if found is None:  # deleted in between: as if it had not been created
        raise unprocessable(f"search {search_id!r} is gone")
    job_id = str(json.loads(found[0]["search"])["refit_job_ids"][0])
    if created and body.tags:  # the job's own tags (the search has a name only)
        await store.relabel("job", job_id, Patch(tags=body.tags))
    return job_id, created
