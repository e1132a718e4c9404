"""Creating and cancelling a comparison: its runs are ordinary jobs, queued and cancelled together."""

from __future__ import annotations

import json
from typing import Any

from rnncast.common.options import TrainOptions
from rnncast.common.store.admission import UNLIMITED, Idempotency, Quota, create_jobs
from rnncast.common.store.job_ops import cancel_job, dataset_of, forget_idempotency, job_fields
from rnncast.common.store.keys import Keys
from rnncast.common.store.plan import Op, cmd, one, script
from rnncast.common.store.scripts import header
from rnncast.common.values import now_iso


def create_comparison(
    record: dict[str, Any], runs: list[tuple[str, dict[str, Any]]], *, max_queued: int, quota: Quota = UNLIMITED,
    idempotency_key: str | None = None, fingerprint: str = "", index: str = Keys.comparisons,
    job_extra: dict[str, Any] | None = None,
) -> Op[tuple[str, bool]]:
    """Store a comparison and its queued runs in one step, within the models `quota`, listed in `index` (a
    search's candidates: `Keys.searches`); (comparison id, created?)."""
    comparison_id = record["id"]
    jobs = [
        job_fields(job_id, params, record.get("name"), TrainOptions.pick(params).total_epochs,
                   {"comparison_id": comparison_id, "forecast_spec": record["forecast"], **(job_extra or {})},
                   record.get("tags"))
        for job_id, params in runs
    ]
    comparison = {**record, "status": "running", "remaining": len(runs), "created_at": now_iso(),
                  "job_ids": [job_id for job_id, _ in runs]}
    scope = "searches" if index == Keys.searches else "comparisons"
    idem = Idempotency(scope, idempotency_key, fingerprint) if idempotency_key else None
    return (yield from create_jobs(comparison_id, jobs, max_queued=max_queued, quota=quota, idempotency=idem,
                                   comparison=comparison, dataset_id=dataset_of(runs[0][1]), index=index))


def cancel_comparison(comparison_id: str, job_ids: list[str]) -> Op[None]:
    """Cancel every unfinished run (the one that ends last ends the comparison)."""
    yield from one(cmd("hset", Keys.comparison(comparison_id), "cancel_requested", "1"))
    for job_id in job_ids:
        yield from cancel_job(job_id)


def delete_comparison(comparison_id: str) -> Op[tuple[str, list[str]]]:
    """Delete an ended comparison and its runs' jobs (their models stay).

    Returns ('deleted' | 'missing' | 'active:running', the runs' job ids).
    """
    raw = yield from one(cmd("hget", Keys.comparison(comparison_id), "job_ids"))
    job_ids: list[str] = json.loads(raw) if raw else []
    keys = [Keys.comparison(comparison_id), Keys.comparisons, Keys.jobs]
    for job_id in job_ids:
        keys += [Keys.job(job_id), Keys.history(job_id), Keys.events(job_id), Keys.view(job_id)]
    outcome = str((yield from one(script("delete_comparison", keys, header()))))
    return outcome, job_ids


def abandon_comparison(comparison_id: str, job_ids: list[str], idempotency_key: str | None) -> Op[None]:
    """A comparison whose runs could not be enqueued: cancel them, and let a retry with the same
    Idempotency-Key create a new one."""
    yield from cancel_comparison(comparison_id, job_ids)
    yield from forget_idempotency("comparisons", idempotency_key, comparison_id)
