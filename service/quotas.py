"""Quotas on what the service keeps: models (counting the jobs that will make one) and datasets, by number
(429) and by the bytes of their files (507).

The store checks and takes them in the script that admits a job, a comparison or a dataset
(`common.store.admission`); here are the server's limits and the answer to a refusal.
"""

from __future__ import annotations

from fastapi import HTTPException, status

from rnncast.common.settings import Settings
from rnncast.common.store.aio import Quota, QuotaExceeded

MiB = 2**20
_SETTING = {("models", "count"): "RNNCAST_MAX_MODELS", ("models", "bytes"): "RNNCAST_MAX_MODEL_BYTES",
            ("datasets", "count"): "RNNCAST_MAX_DATASETS", ("datasets", "bytes"): "RNNCAST_MAX_DATASET_BYTES"}


def model_quota(settings: Settings) -> Quota:
    return Quota(settings.max_models, settings.max_model_bytes)


def dataset_quota(settings: Settings) -> Quota:
    return Quota(settings.max_datasets, settings.max_dataset_bytes)


def quota_refusal(exc: QuotaExceeded) -> HTTPException:
    """The answer to a refused admission: 429 past a count, 507 past the bytes, saying what to do."""
    setting = _SETTING[(exc.what, exc.measure)]
    if exc.measure == "count":
        code, limit = status.HTTP_429_TOO_MANY_REQUESTS, f"{setting} ({exc.limit:.0f})"
        kept = (f"{exc.used:.0f} models kept and {exc.active} jobs queued or running" if exc.what == "models"
                else f"{exc.used:.0f} datasets kept")
        detail = f"{kept}, {exc.asked:.0f} more would pass this server's limit {limit}"
    else:
        code, limit = status.HTTP_507_INSUFFICIENT_STORAGE, f"{setting} ({exc.limit / MiB:.0f} MiB)"
        taken = "models and queued or running jobs take" if exc.what == "models" else "datasets take"
        detail = (f"{taken} {exc.used / MiB:.1f} MiB; {exc.asked / MiB:.1f} MiB more would pass this server's "
                  f"limit {limit}")
    return HTTPException(code, f"{exc.what} quota: {detail}; delete some (DELETE /v1/{exc.what}/{{id}}) or ask "
                               f"the operator to raise the limit")
