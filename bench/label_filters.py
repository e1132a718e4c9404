"""What a filtered list costs: `--jobs` jobs stored through the real admission script (their facets written by
it), then a page of 50 read through the store (`list_jobs`, as `GET /v1/jobs` does) unfiltered and with filters of
every breadth, side by side in one run on a private Redis. A facet's page is one ZREVRANGE; several facets are
intersected in one script, whose cost grows with the smallest set. Last line:
plain_ms=.. one_tag_ms=.. three_filters_ms=.. deep_two_ms=.. broad_two_ms=.. broad_two_ratio=.. jobs=..
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from _stack import stack  # noqa: F401  (puts the repo root on sys.path)

from rnncast.common.defaults import CELLS
from rnncast.common.store import JobStatus
from rnncast.common.store.admission import create_jobs
from rnncast.common.store.job_ops import job_fields, list_jobs
from rnncast.common.store.sync import JobStore
from tests.support import RedisServer

CHUNK = 2000  # jobs per admission script call


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


def timed(store: JobStore, repeats: int, status: JobStatus | None, facets: tuple[str, ...], offset: int = 0) -> float:
    """Mean ms of one page of 50."""
    began = time.perf_counter()
    for _ in range(repeats):
        store.run(list_jobs(status, 50, offset, facets))
    return (time.perf_counter() - began) / repeats * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp)).start()
        try:
            store = JobStore.from_url(server.url)
            began = time.perf_counter()
            seed(store, args.jobs)
            seeded = time.perf_counter() - began
            # A Redis never marked: the first filtered list enters every record's facets again (once).
            began = time.perf_counter()
            store.run(list_jobs(None, 50, 0, ("tag=exp",)))
            backfill = time.perf_counter() - began
            plain = timed(store, args.repeats, None, ())
            one_tag = timed(store, args.repeats, None, ("tag=exp",))
            three = timed(store, args.repeats, None, ("cell=GRU", "tag=batch=5", "name=run 5"))
            deep = timed(store, args.repeats, None, ("cell=GRU", "tag=batch=5"), offset=3000)
            # The broadest: a third of the jobs (a cell) against all of them (every job is queued).
            broad = timed(store, args.repeats, JobStatus.QUEUED, ("cell=GRU",))
        finally:
            server.stop()
    print(f"seed_s={seeded:.1f} (admission script with facets, {CHUNK} jobs a call) label_backfill_s={backfill:.1f}")
    print(f"plain_ms={plain:.2f} one_tag_ms={one_tag:.2f} three_filters_ms={three:.2f} deep_two_ms={deep:.2f} "
          f"broad_two_ms={broad:.2f} broad_two_ratio={broad / plain:.2f} jobs={args.jobs}")


if __name__ == "__main__":
    main()
