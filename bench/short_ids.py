"""What a short id costs: entering the records stored before the id indexes (once per Redis), and resolving an
8-character prefix through the store (ZRANGEBYLEX over the models' and the jobs' id indexes, as a model route
does), with `--jobs` jobs in a private Redis. Last line:
short_id_backfill_s=.. short_id_lookup_ms=.. jobs=..
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from _stack import stack  # noqa: F401  (puts the repo root on sys.path)

from rnncast.common.store import Keys
from rnncast.common.store.id_ops import ids_with_prefix, index_existing
from rnncast.common.store.sync import JobStore
from tests.support import RedisServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp)).start()
        try:
            store = JobStore.from_url(server.url)
            ids = [uuid.uuid4().hex for _ in range(args.jobs)]
            pipe = store.r.pipeline(transaction=False)
            for start in range(0, len(ids), 5000):  # as a Redis from before the id indexes: the jobs' index only
                pipe.zadd(Keys.jobs, {job_id: n for n, job_id in enumerate(ids[start:start + 5000], start)})
            pipe.execute()
            began = time.perf_counter()
            store.run(index_existing())
            backfill = time.perf_counter() - began
            began = time.perf_counter()
            for job_id in ids[:args.lookups]:
                assert job_id in store.run(ids_with_prefix((Keys.models, Keys.jobs), job_id[:8], 11))
            lookup = (time.perf_counter() - began) / args.lookups
        finally:
            server.stop()
    print(f"short_id_backfill_s={backfill:.2f} short_id_lookup_ms={lookup * 1000:.3f} jobs={args.jobs}")


if __name__ == "__main__":
    main()
