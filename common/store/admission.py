"""Admitting new jobs (a comparison's runs too) and datasets: quotas checked and taken in the one script that
creates them (`admission_scripts`), idempotency, the queue cap."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rnncast.common.defaults import model_bytes
from rnncast.common.store.dataset_ops import stored_bytes
from rnncast.common.store.keys import IDEMPOTENCY_TTL_S, Keys
from rnncast.common.store.plan import Op, batch, cmd, one, script
from rnncast.common.store.prelude import header
from rnncast.common.store.views import flatten, status_event


class IdempotencyConflict(Exception):
    """The Idempotency-Key was already used with a different request body."""


class QueueFull(Exception):
    """Too many jobs are queued; try again later."""


class DatasetGone(Exception):
    """The dataset the jobs would train on does not exist (any more)."""


@dataclass(frozen=True)
class Quota:
    """A quota's limits: how many records may be kept, and how many bytes they may take."""

    count: int
    bytes: float


# What a caller without a quota to keep admits within (a worker's own tests, benches): reservations are still made.
UNLIMITED = Quota(2**53, 2**53)


class QuotaExceeded(Exception):
    """Admitting the request would pass a quota; nothing was stored.

    Args:
        what: 'models' or 'datasets'.
        measure: 'count' or 'bytes'.
        used: records kept, or bytes taken (for models, by kept models and queued or running jobs).
        asked: records or bytes the request would add.
        active: jobs queued or running (a models count: each makes a model).
    """

    def __init__(self, what: str, measure: str, used: float, asked: float, limit: float, active: int = 0) -> None:
        super().__init__(f"{what} quota: {measure}")
        self.what, self.measure, self.used, self.asked, self.limit = what, measure, used, asked, limit
        self.active = active


@dataclass(frozen=True)
class Idempotency:
    """A request's Idempotency-Key, where its records live (`scope`), and its body's digest."""

    scope: str
    key: str
    fingerprint: str


def _admit(name: str, keys: list[str], args: list[Any], per_item: list[Any]) -> Op[list[Any]]:
    """Run an admission script; an account that lacks entries is filled in and the script asked again."""
    reply = yield from one(script(name, keys, [*header(), *args, "1", *per_item]))
    if reply[0] == "unaccounted":
        yield from account_existing()
        reply = yield from one(script(name, keys, [*header(), *args, "0", *per_item]))
    return list(reply)


def create_jobs(
    answer_id: str, jobs: list[dict[str, Any]], *, max_queued: int, idempotency: Idempotency | None,
    quota: Quota = UNLIMITED, comparison: dict[str, Any] | None = None, dataset_id: str | None = None,
    index: str = Keys.comparisons,
) -> Op[tuple[str, bool]]:
    """Queue `jobs` (hashes from `job_ops.job_fields`) atomically, with their comparison's record if any, each
    reserving its model's estimated bytes within `quota`.

    Returns (`answer_id`, True), or with an Idempotency-Key whose job (or comparison) still exists the earlier
    request's id and False. The comparison is listed in `index` (a search's in `Keys.searches`). Raises
    QueueFull, QuotaExceeded, IdempotencyConflict, DatasetGone (when `dataset_id`, which they train on, has no
    record).
    """
    idem_key = Keys.idempotency(idempotency.scope, idempotency.key) if idempotency else Keys.idempotency("-", "-")
    comparison_key = Keys.comparison(comparison["id"]) if comparison else Keys.comparison("-")
    keys = [idem_key, Keys.jobs, comparison_key, index, Keys.dataset(dataset_id or "-"),
            Keys.dataset_users(dataset_id or "-"), Keys.models, Keys.model_bytes]
    per_job: list[Any] = []
    for fields in jobs:
        keys += [Keys.job(fields["id"]), Keys.events(fields["id"])]
        per_job += [fields["id"], json.dumps(flatten(fields)), model_bytes(fields["params"])]
    record = json.dumps({"id": answer_id, "fingerprint": idempotency.fingerprint if idempotency else ""})
    state, *values = yield from _admit("create_jobs", keys, [
        "1" if idempotency else "0", IDEMPOTENCY_TTL_S, record, max_queued, status_event("queued"),
        json.dumps(flatten(comparison)) if comparison else "", answer_id, "1" if dataset_id else "0",
        quota.count, quota.bytes,
    ], per_job)
    if state == "no_dataset":
        raise DatasetGone(f"dataset {dataset_id!r} not found")
    if state == "full":
        raise QueueFull(f"{len(jobs)} more job(s) would exceed the {max_queued} queued jobs allowed")
    if state == "models":
        raise QuotaExceeded("models", "count", values[0], len(jobs), quota.count, active=values[1])
    if state == "model_bytes":
        raise QuotaExceeded("models", "bytes", values[0], sum(per_job[2::3]), quota.bytes)
    if state == "exists":
        earlier = json.loads(values[0])
        if idempotency is None or earlier["fingerprint"] != idempotency.fingerprint:
            raise IdempotencyConflict("Idempotency-Key was already used with a different request")
        return earlier["id"], False
    return answer_id, True


def create_dataset(record: dict[str, Any], quota: Quota) -> Op[None]:
    """Store a dataset's record (its files are written first) within `quota`; raises QuotaExceeded."""
    size = stored_bytes(record)
    keys = [Keys.dataset(record["id"]), Keys.datasets, Keys.dataset_bytes]
    state, *values = yield from _admit("create_dataset", keys,
                                       [json.dumps(record), record["id"], size, quota.count, quota.bytes], [])
    if state == "datasets":
        raise QuotaExceeded("datasets", "count", values[0], 1, quota.count)
    if state == "dataset_bytes":
        raise QuotaExceeded("datasets", "bytes", values[0], size, quota.bytes)


def account_existing() -> Op[None]:
    """Enter in the quotas' accounts the models and datasets saved before the accounts existed."""
    yield from _backfill(Keys.models, Keys.model, Keys.model_bytes, lambda r: r["checkpoint"]["bytes"])
    yield from _backfill(Keys.datasets, Keys.dataset, Keys.dataset_bytes, stored_bytes)


def _backfill(index: str, record: Callable[[str], str], account: str, size: Callable[[Any], int]) -> Op[None]:
    """Enter the bytes of indexed records the account lacks."""
    ids, known = yield batch(cmd("zrange", index, 0, -1), cmd("hkeys", account))
    missing = sorted(set(ids) - set(known))
    raws = (yield from one(cmd("mget", [record(i) for i in missing]))) if missing else []
    pairs = [v for i, raw in zip(missing, raws, strict=True) if raw for v in (i, size(json.loads(raw)))]
    for start in range(0, len(pairs), 2000):  # in chunks: a script holds Redis for the whole of its call
        yield from one(script("account", [account], [*header(), *pairs[start:start + 2000]]))
