"""What a filtered list costs: `--jobs` jobs stored through the real admission script (their facets written by
it), then a page of 50 read through the store (`list_jobs`, as `GET /v1/jobs` does) unfiltered and with filters of
every breadth and offset, side by side in one run on a private Redis: each filtered page unbounded (a scan budget
past every set, as the script was before it had one) and with the default RNNCAST_MAX_FILTER_SCAN. A facet's page
is one ZREVRANGE; several facets are intersected in one script, whose cost grows with the smallest set up to the
budget. Last line:
plain_ms=.. worst_filtered_unbounded_ms=.. worst_filtered_budget_ms=.. worst_ratio=.. budget=.. jobs=..
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from _stack import stack  # noqa: F401  (puts the repo root on sys.path)

from rnncast.common.defaults import CELLS
from rnncast.common.settings import Settings
from rnncast.common.store import JobStatus
from rnncast.common.store.admission import create_jobs
from rnncast.common.store.job_ops import job_fields, list_jobs
from rnncast.common.store.label_ops import PastScan
from rnncast.common.store.sync import JobStore
from tests.support import RedisServer

CHUNK = 2000  # jobs per admission script call
Case = tuple[JobStatus | None, tuple[str, ...], int]  # a status, filters, an offset


def seed(store: JobStore, n: int) -> None:
    """n queued jobs: cells in turn, every other one on one of 10 datasets, tagged `batch=<i % 10>` (and every
    hundredth `exp`), named `run <i % 1000>`."""
    datasets = [uuid.uuid4().hex for _ in range(10)]
    for start in range(0, n, CHUNK):
        jobs = []
        for i in range(start, min(n, start + CHUNK)):
            data = {"kind": "dataset", "dataset_id": datasets[i % 10]} if i % 2 else {"kind": "sine"}
            tags = [f"batch={i % 10}", *(["exp"] if i % 100 == 0 else [])]
            jobs.append(job_fields(uuid.uuid4().hex, {"cell": CELLS[i % 3], "data": data, "epochs": 1,
                                                     "hidden_size": 4, "num_layers": 1},
                                   f"run {i % 1000}", 1, tags=tags))
        store.run(create_jobs(jobs[0]["id"], jobs, max_queued=10**9, idempotency=None))


def timed(store: JobStore, repeats: int, case: Case, scan: int) -> float | None:
    """Mean ms of one page of 50; None when the offset is refused (past the scan budget: a 422, no work)."""
    status, facets, offset = case
    began = time.perf_counter()
    try:
        for _ in range(repeats):
            store.run(list_jobs(status, 50, offset, facets, scan=scan))
    except PastScan:
        return None
    return (time.perf_counter() - began) / repeats * 1000


def show(ms: float | None) -> str:
    return "refused" if ms is None else f"{ms:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    budget = int(Settings.model_fields["max_filter_scan"].default)
    cases: dict[str, Case] = {
        "one_tag": (None, ("tag=exp",), 0),
        "three_filters": (None, ("cell=GRU", "tag=batch=5", "name=run 5"), 0),
        "deep_two": (None, ("cell=GRU", "tag=batch=5"), 3000),
        # The broadest: a third of the jobs (a cell) against all of them (every job is queued), then deep in it.
        "broad_two": (JobStatus.QUEUED, ("cell=GRU",), 0),
        "broad_deep": (JobStatus.QUEUED, ("cell=GRU",), budget - 50),
        "broad_deepest": (JobStatus.QUEUED, ("cell=GRU",), args.jobs // 3 - 50),
    }
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp)).start()
        try:
            store = JobStore.from_url(server.url)
            began = time.perf_counter()
            seed(store, args.jobs)
            seeded = time.perf_counter() - began
            # A Redis never marked: the first filtered list enters every record's facets again (once).
            began = time.perf_counter()
            store.run(list_jobs(None, 50, 0, ("tag=exp",), scan=budget))
            backfill = time.perf_counter() - began
            plain = timed(store, args.repeats, (None, (), 0), budget) or 0.0
            # Unbounded (a budget past every set: the script as it was before the budget) against the default.
            before = {name: timed(store, args.repeats, case, 10**9) for name, case in cases.items()}
            after = {name: timed(store, args.repeats, case, budget) for name, case in cases.items()}
        finally:
            server.stop()
    print(f"seed_s={seeded:.1f} (admission script with facets, {CHUNK} jobs a call) label_backfill_s={backfill:.1f}")
    for name in cases:
        print(f"{name}: unbounded_ms={show(before[name])} budget_ms={show(after[name])}")
    worst_before = max(ms for ms in before.values() if ms is not None)
    worst_after = max(ms for ms in after.values() if ms is not None)
    print(f"plain_ms={plain:.2f} worst_filtered_unbounded_ms={worst_before:.2f} worst_filtered_budget_ms="
          f"{worst_after:.2f} worst_ratio={worst_after / worst_before:.2f} budget={budget} jobs={args.jobs}")


if __name__ == "__main__":
    main()
