"""Quotas on what the service keeps: models (counting the jobs that will make one) and datasets, by number
(429) and by the bytes of their files (507)."""

from __future__ import annotations

from fastapi import HTTPException, status

from rnncast.common.settings import Settings
from rnncast.common.store.aio import AsyncJobStore

MiB = 2**20


def _refuse(code: int, what: str, detail: str) -> HTTPException:
    return HTTPException(code, f"{what}: {detail}; delete some (DELETE /v1/{what.split()[0]}/{{id}}) "
                               f"or ask the operator to raise the limit")


async def check_models(store: AsyncJobStore, settings: Settings, new: int, new_bytes: float) -> None:
    """Refuse `new` jobs that would make models of about `new_bytes` in all past the model quotas."""
    usage = await store.usage()
    kept = usage["models"] + usage["active_jobs"]
    if kept + new > settings.max_models:
        raise _refuse(status.HTTP_429_TOO_MANY_REQUESTS, "models quota",
                      f"{usage['models']} models kept and {usage['active_jobs']} jobs queued or running, "
                      f"{new} more would pass this server's limit RNNCAST_MAX_MODELS ({settings.max_models})")
    if usage["model_bytes"] + new_bytes > settings.max_model_bytes:
        raise _refuse(status.HTTP_507_INSUFFICIENT_STORAGE, "models quota",
                      f"models take {usage['model_bytes'] / MiB:.1f} MiB; {new_bytes / MiB:.1f} MiB more would pass "
                      f"this server's limit RNNCAST_MAX_MODEL_BYTES ({settings.max_model_bytes / MiB:.0f} MiB)")


async def check_datasets(store: AsyncJobStore, settings: Settings, new_bytes: float) -> None:
    """Refuse a dataset of `new_bytes` past the dataset quotas."""
    usage = await store.usage()
    if usage["datasets"] + 1 > settings.max_datasets:
        raise _refuse(status.HTTP_429_TOO_MANY_REQUESTS, "datasets quota",
                      f"{usage['datasets']} datasets kept: this server's limit is RNNCAST_MAX_DATASETS "
                      f"({settings.max_datasets})")
    if usage["dataset_bytes"] + new_bytes > settings.max_dataset_bytes:
        raise _refuse(status.HTTP_507_INSUFFICIENT_STORAGE, "datasets quota",
                      f"datasets take {usage['dataset_bytes'] / MiB:.1f} MiB; {new_bytes / MiB:.1f} MiB more would "
                      f"pass this server's limit RNNCAST_MAX_DATASET_BYTES "
                      f"({settings.max_dataset_bytes / MiB:.0f} MiB)")
