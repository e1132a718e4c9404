"""Ids in paths: a short id (an id's first characters, as the CLI, the dashboard and the lists show it) resolved
to the whole id once for every route, and a model id that names a job without a model explained.

Every `/v1` route takes its ids through `resolve_ids` (a dependency of the `/v1` router): an unambiguous
prefix of at least MIN_PREFIX hex characters becomes the whole id before the route reads it, so routes,
answers and links only ever see whole ids; an ambiguous one is a 409 listing the ids it starts
(`AmbiguousId`); one that starts none goes on as given, to the route's usual 404. A model id `@name` is the
model alias `name` points at, read once (common.aliases).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fastapi import HTTPException, Request, status

from rnncast.common.aliases import SIGIL, alias_refusal
from rnncast.common.store import JobStatus, Keys
from rnncast.common.store.aio import AsyncJobStore
from rnncast.common.values import is_id
from rnncast.service.deps import StoreDep
from rnncast.service.errors import MAX_CANDIDATES, AmbiguousId, not_found

MIN_PREFIX = 4  # as git's shortest abbreviation
SHORT = re.compile(rf"[0-9a-fA-F]{{{MIN_PREFIX},32}}")

# Each id path parameter: what it names (for messages), and the creation indexes its ids are in. A model's
# id is its job's, and a job (queued, running, failed) may not have its model yet: a model's prefix is
# looked up among both, so that it names the job (and the answer says why there is no model).
ID_PARAMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "job_id": ("job", (Keys.jobs,)),
    "model_id": ("model", (Keys.models, Keys.jobs)),
    "comparison_id": ("comparison", (Keys.comparisons,)),
    "search_id": ("search", (Keys.searches,)),
    "dataset_id": ("dataset", (Keys.datasets,)),
    "webhook_id": ("webhook", (Keys.webhooks,)),
}


async def resolve(store: AsyncJobStore, param: str, value: str) -> str:
    """The whole id that `value` (an id path parameter `param`'s value) names: itself if whole, the one id it
    starts if it is a short id, the model an alias points at for `@name`, else `value` unchanged. Raises
    AmbiguousId, and HTTPException (404) for an unknown alias."""
    if param == "model_id" and value.startswith(SIGIL):
        return await alias_model(store, value.removeprefix(SIGIL))
    if is_id(value) or not SHORT.fullmatch(value):
        return value
    kind, indexes = ID_PARAMS[param]
    prefix = value.lower()
    found = await store.ids_with_prefix(indexes, prefix, MAX_CANDIDATES + 1)
    if len(found) > 1:
        raise AmbiguousId(kind, prefix, found)
    return found[0] if found else value


async def alias_model(store: AsyncJobStore, name: str) -> str:
    """The model alias `name` points at now, in one read, so no request sees an alias half-moved (a move is one
    script: common.store.alias_scripts); 404 for an unknown alias (saying why, for a name no alias may have)."""
    if (why := alias_refusal(name)) is not None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"alias not found: {why}")
    model_id = await store.alias_target(name)
    if model_id is None:
        raise not_found("alias", name)
    return model_id


async def resolve_ids(request: Request, store: StoreDep) -> None:
    """Every id path parameter of the request, resolved (`resolve`) before the route reads it (FastAPI solves
    a route's dependencies before it reads its path parameters)."""
    params: dict[str, Any] = request.scope.get("path_params") or {}
    for name, value in list(params.items()):
        if name in ID_PARAMS and isinstance(value, str):
            params[name] = await resolve(store, name, value)


NO_MODEL_FIELDS = ("status", "epoch", "epochs", "error")  # the fields of a job `_no_model_yet` reads


def _no_model_yet(job_id: str, job: Mapping[str, str | None]) -> str | None:
    """Why the job has no model, if it has not succeeded (it reads the job's NO_MODEL_FIELDS only)."""
    state = job.get("status")
    if state == JobStatus.RUNNING.value:
        epochs = f" (epoch {job.get('epoch') or 0}/{job['epochs']})" if job.get("epochs") else ""
        return f"job {job_id} is running{epochs}; its model appears when it succeeds"
    if state == JobStatus.QUEUED.value:
        return f"job {job_id} is queued; its model appears when it succeeds"
    if state == JobStatus.FAILED.value:
        reason = f": {job['error']}" if job.get("error") else ""
        return f"job {job_id} failed{reason}; it has no model"
    if state == JobStatus.CANCELLED.value:
        return f"job {job_id} was cancelled; it has no model"
    return None


def missing_model(model_id: str, job: Mapping[str, str | None]) -> HTTPException:
    """For a model id without a model record, given its job's NO_MODEL_FIELDS (each None if there is no job):
    the 409 saying why the job has no model yet, else the 404."""
    reason = _no_model_yet(model_id, job)
    return HTTPException(status.HTTP_409_CONFLICT, reason) if reason else not_found("model", model_id)


async def no_model_yet(store: AsyncJobStore, model_id: str) -> HTTPException | None:
    """For a model id without a model: a 409 saying why, when it names a job that has not succeeded (queued,
    running, failed, cancelled); None otherwise (the model is not found)."""
    job = await store.job_raw(model_id) if is_id(model_id) else None
    reason = _no_model_yet(model_id, job) if job else None
    return HTTPException(status.HTTP_409_CONFLICT, reason) if reason is not None else None



async def model_or_404(store: AsyncJobStore, model_id: str) -> dict[str, Any]:
    """The model's record; else 409 if its job has not succeeded (`no_model_yet`), else 404."""
    model = await store.get_model(model_id) if is_id(model_id) else None
    if model is None:
        raise await no_model_yet(store, model_id) or not_found("model", model_id)
    return model
