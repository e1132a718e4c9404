"""Reading comparisons, and writing a finished one's summary (the runs themselves are jobs)."""

from __future__ import annotations

import json
from typing import Any

from rnncast.common.comparisons import RUN_FIELDS, final_fields, run_row
from rnncast.common.store.keys import Keys
from rnncast.common.store.label_ops import Count, page
from rnncast.common.store.plan import Op, batch, cmd, one


def get_comparison(
    comparison_id: str, fields: tuple[str, ...] = RUN_FIELDS, with_history: bool = False
) -> Op[tuple[dict[str, str], list[dict[str, Any]]] | None]:
    """The comparison's hash and, in creation order, `fields` of its runs' jobs (with their
    `history` lists if asked), or None."""
    raw: dict[str, str] = yield from one(cmd("hgetall", Keys.comparison(comparison_id)))
    if not raw:
        return None
    job_ids = json.loads(raw["job_ids"])
    calls = [cmd("hmget", Keys.job(job_id), list(fields)) for job_id in job_ids]
    if with_history:
        calls += [cmd("lrange", Keys.history(job_id), 0, -1) for job_id in job_ids]
    rows = (yield batch(*calls)) if calls else []
    jobs = [{f: v for f, v in zip(fields, values, strict=True) if v is not None} for values in rows[:len(job_ids)]]
    if with_history:
        jobs = [job | {"history": history} for job, history in zip(jobs, rows[len(job_ids):], strict=True)]
    return raw, [job for job in jobs if job.get("id")]


def list_comparisons(
    limit: int, offset: int, facets: tuple[str, ...] = (), *, scan: int,
) -> Op[tuple[list[str], Count]]:
    """Comparison ids newest first (with every one of `facets`, `label_lua`), and how many there are."""
    return (yield from page(Keys.comparisons, list(facets), limit, offset, scan=scan))


def write_summary(comparison_id: str) -> Op[None]:
    """Write an ended comparison's summary and best cell (its status is set by the run that ended it)."""
    found = yield from get_comparison(comparison_id)
    if found is None:
        return
    raw, jobs = found
    fields = final_fields([run_row(job) for job in jobs], json.loads(raw["cells"]))
    yield batch(cmd("hset", Keys.comparison(comparison_id), mapping=fields))
