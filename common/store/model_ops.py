"""Model records: one per succeeded training job, kept until deleted."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from rnncast.common.store.dataset_ops import stored_bytes
from rnncast.common.store.keys import Keys
from rnncast.common.store.plan import Op, batch, cmd, one
from rnncast.common.store.status import JobStatus


def get_model(model_id: str) -> Op[dict[str, Any] | None]:
    raw = yield from one(cmd("get", Keys.model(model_id)))
    return json.loads(raw) if raw else None


def list_models(limit: int, offset: int) -> Op[tuple[list[dict[str, Any]], int]]:
    """Models newest first, and how many there are."""
    ids, count = yield batch(cmd("zrevrange", Keys.models, offset, offset + limit - 1), cmd("zcard", Keys.models))
    raws = (yield from one(cmd("mget", [Keys.model(i) for i in ids]))) if ids else []
    return [json.loads(r) for r in raws if r], int(count)


def delete_model(model_id: str) -> Op[bool]:
    """Forget a model's record; False if there was none."""
    deleted, _, _ = yield batch(cmd("delete", Keys.model(model_id)), cmd("zrem", Keys.models, model_id),
                                cmd("hdel", Keys.model_bytes, model_id), atomic=True)
    return bool(deleted)


def usage() -> Op[dict[str, int]]:
    """What the quotas count: models and their bytes, datasets and their bytes, jobs queued or running."""
    models, model_bytes, datasets, dataset_bytes, queued, running = yield batch(
        cmd("zcard", Keys.models), cmd("hvals", Keys.model_bytes), cmd("zcard", Keys.datasets),
        cmd("hvals", Keys.dataset_bytes), cmd("zcard", Keys.jobs_by_status(JobStatus.QUEUED.value)),
        cmd("zcard", Keys.jobs_by_status(JobStatus.RUNNING.value)))
    if len(model_bytes) < models or len(dataset_bytes) < datasets:  # records from before the account existed
        yield from _backfill(Keys.models, Keys.model, Keys.model_bytes, lambda r: r["checkpoint"]["bytes"])
        yield from _backfill(Keys.datasets, Keys.dataset, Keys.dataset_bytes, stored_bytes)
        model_bytes, dataset_bytes = yield batch(cmd("hvals", Keys.model_bytes), cmd("hvals", Keys.dataset_bytes))
    return {"models": int(models), "model_bytes": sum(int(b) for b in model_bytes), "datasets": int(datasets),
            "dataset_bytes": sum(int(b) for b in dataset_bytes), "active_jobs": int(queued) + int(running)}


def _backfill(index: str, record: Callable[[str], str], account: str, size: Callable[[Any], int]) -> Op[None]:
    """Enter the bytes of indexed records the account lacks."""
    ids, known = yield batch(cmd("zrange", index, 0, -1), cmd("hkeys", account))
    missing = sorted(set(ids) - set(known))
    raws = (yield from one(cmd("mget", [record(i) for i in missing]))) if missing else []
    sizes = {i: size(json.loads(raw)) for i, raw in zip(missing, raws, strict=True) if raw}
    if sizes:
        yield batch(cmd("hset", account, mapping=sizes))


def existing_models(model_ids: list[str]) -> Op[set[str]]:
    """Which of `model_ids` still have a record."""
    found = (yield batch(*(cmd("exists", Keys.model(m)) for m in model_ids))) if model_ids else []
    return {m for m, n in zip(model_ids, found, strict=True) if n}


def model_records(model_ids: list[str]) -> Op[dict[str, dict[str, Any]]]:
    """The records of those of `model_ids` that exist (one round trip)."""
    raws = (yield from one(cmd("mget", [Keys.model(m) for m in model_ids]))) if model_ids else []
    return {m: json.loads(raw) for m, raw in zip(model_ids, raws, strict=True) if raw}
