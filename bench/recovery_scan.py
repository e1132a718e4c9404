"""How long a worker's recovery pass takes with the queue full (RNNCAST_MAX_QUEUED_JOBS jobs queued).

A private Redis; N queued jobs, each with its real Celery task message waiting in the broker
(sent with send_task, nobody consuming), all older than the heartbeat timeout, so the pass looks
every one up among the broker's messages; one message is removed, so exactly one job is re-sent.
Times `recover_once` at N/10 and N: a linear pass takes about 10x longer at 10x the jobs. Beside it,
the lookup the pass used to make (each queued id searched for in the messages joined as one text).
Last line: recovery_pass_s=<at N> per_job_us=<..> scaling_10x=<t(N) / t(N/10)> substring_lookup_s=<..>.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from _stack import stack  # noqa: F401  (puts the repo root on sys.path)

from rnncast.common.queue import TRAIN_QUEUE, TRAIN_TASK, make_celery
from rnncast.common.settings import Settings
from rnncast.common.store import Keys
from rnncast.common.store.aio import AsyncJobStore
from rnncast.common.store.sync import JobStore
from rnncast.worker.recovery import recover_once
from tests.support import RedisServer

PARAMS = {"cell": "GRU", "epochs": 1}


def fill(url: str, n: int) -> list[str]:
    async def go() -> list[str]:
        store = AsyncJobStore.from_url(url)
        try:
            ids = []
            for _ in range(n):
                job_id, _ = await store.create_job(PARAMS, job_id=uuid.uuid4().hex, name=None, epochs=1,
                                                   max_queued=n + 1)
                ids.append(job_id)
            return ids
        finally:
            await store.close()

    return asyncio.run(go())


def one_pass(n: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="rnncast-bench-") as tmp:
        server = RedisServer(Path(tmp) / "redis").start()
        try:
            settings = Settings(redis_url=server.url, heartbeat_timeout=5, heartbeat_interval=1)
            ids = fill(server.url, n)
            celery = make_celery(settings)
            for job_id in ids:
                celery.send_task(TRAIN_TASK, args=[job_id], queue=TRAIN_QUEUE)
            client = server.client()
            client.lpop(TRAIN_QUEUE)  # the broker lost one message (the oldest job's)
            client.zadd(Keys.jobs_by_status("queued"), {j: 0 for j in ids})  # all created long ago
            store = JobStore.from_url(server.url)
            resent: list[str] = []
            began = time.perf_counter()
            done = recover_once(store, settings, resent.append, check_queued=True)
            took = time.perf_counter() - began
            assert len(done.resent) == 1 and resent == done.resent, done
            text = "\n".join(client.lrange(TRAIN_QUEUE, 0, -1))
            began = time.perf_counter()
            lost = [j for j in ids if j not in text]
            substring = time.perf_counter() - began
            assert lost == done.resent
            return took, substring
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=Settings().max_queued_jobs)
    args = parser.parse_args()
    (small, small_old), (large, large_old) = one_pass(args.jobs // 10), one_pass(args.jobs)
    print(f"{args.jobs // 10} queued: pass {small:.3f} s (substring lookup alone {small_old:.3f} s)")
    print(f"{args.jobs} queued: pass {large:.3f} s (substring lookup alone {large_old:.3f} s)")
    print(f"recovery_pass_s={large:.3f} per_job_us={large / args.jobs * 1e6:.1f} scaling_10x={large / small:.1f} "
          f"substring_lookup_s={large_old:.3f}")


if __name__ == "__main__":
    main()
