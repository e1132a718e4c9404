"""Does Redis give back what jobs took once retention has passed?

Starts a private Redis, a worker and the API with RNNCAST_RETENTION_DAYS set
to a few seconds, runs N short jobs (a tiny model, one epoch) through the
real stack, and prints Redis `used_memory` before the jobs, at the peak (all
ended, none expired yet) and after the retention sweep. Models stay until
deleted, so their records are deleted here before the last reading: what is
left is what the jobs themselves leave behind. Last line:
redis_growth_bytes_per_job_after_retention=<(after - before) / N> peak_bytes_per_job=..
"""

from __future__ import annotations

import argparse
import time

import httpx
from _stack import stack

RETENTION_S = 5.0
TINY = {"cell": "RNN", "hidden_size": 4, "epochs": 1, "batch_size": 64, "sequence_length": 10,
        "data": {"points": 200, "stop": 100}}


def used_memory(client) -> int:  # type: ignore[no-untyped-def]
    return int(client.info("memory")["used_memory"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--long-epochs", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="100 jobs, a long job of 5,000 epochs")
    args = parser.parse_args()
    n = 100 if args.quick else args.jobs
    long_epochs = 5_000 if args.quick else args.long_epochs
    extra = {"RNNCAST_RETENTION_DAYS": str(RETENTION_S / 86_400)}
    with stack(concurrency=2, extra=extra) as site:
        r = site.redis.client()
        http: httpx.Client = site.api.http
        # One job first: the broker's own queues and bookkeeping exist before the baseline.
        warm = http.post("/v1/jobs", json=TINY).json()["id"]
        site.api.wait_job(warm, timeout=120)
        http.delete(f"/v1/models/{warm}")
        time.sleep(RETENTION_S + 3)
        r.memory_purge() if hasattr(r, "memory_purge") else None
        before, keys_before = used_memory(r), set(r.keys("*"))
        ids = [http.post("/v1/jobs", json=TINY).json()["id"] for _ in range(n)]
        for job_id in ids:
            http.get(f"/v1/jobs/{job_id}")  # a status read, as a client would poll
        for job_id in ids:
            site.api.wait_job(job_id, timeout=600)
            http.get(f"/v1/jobs/{job_id}")  # renders the stored view of the ended job
        peak = used_memory(r)
        for job_id in ids:
            http.delete(f"/v1/models/{job_id}")
        deadline = time.monotonic() + 120
        while r.zcard("rnncast:ended:jobs") and time.monotonic() < deadline:
            time.sleep(0.5)
        left = [job_id for job_id in ids if http.get(f"/v1/jobs/{job_id}").status_code != 404]
        after, keys_after = used_memory(r), set(r.keys("*"))
        long_id = http.post("/v1/jobs", json=TINY | {"epochs": long_epochs, "checkpoint_every": 0}).json()["id"]
        site.api.wait_job(long_id, timeout=3600)
        http.get(f"/v1/jobs/{long_id}")
        long_bytes = sum(r.memory_usage(k) or 0 for k in r.keys(f"*{long_id}*"))
    print(f"long job: {long_epochs} epochs, its keys {long_bytes} bytes ({long_bytes / long_epochs:.1f} an epoch)")
    print(f"jobs={n} used_memory_before={before} used_memory_peak={peak} used_memory_after={after} "
          f"jobs_left={len(left)} keys_before={len(keys_before)} keys_after={len(keys_after)} "
          f"new_keys={sorted(keys_after - keys_before)[:5]}")
    print(f"redis_growth_bytes_per_job_after_retention={(after - before) / n:.1f} "
          f"peak_bytes_per_job={(peak - before) / n:.0f} long_job_bytes={long_bytes}")


if __name__ == "__main__":
    main()
