"""A private stack for benchmarks: Redis, worker process(es) and the API, on free ports."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import Api, Proc, RedisServer, start_worker, wait_worker_ready


@dataclass
class BenchStack:
    redis: RedisServer
    api: Api
    workers: list[Proc]
    data_dir: Path


@contextmanager
def stack(
    concurrency: int = 1, workers: int = 1, extra: dict[str, str] | None = None, predict_threads: int = 0,
) -> Iterator[BenchStack]:
    """Start everything, yield it, stop everything (logs under a temp dir).

    With `predict_threads`, forecasts get their own threads-pool worker (as
    `rnncast up` runs them) and the other workers consume `train` only.
    """
    with tempfile.TemporaryDirectory(prefix="rnncast-bench-") as tmp:
        root = Path(tmp)
        server = RedisServer(root / "redis").start()
        procs: list[Proc] = []
        api = None
        try:
            queues = "train" if predict_threads else "train,predict"
            for i in range(workers):
                procs.append(start_worker(server.url, root / "data", root / f"worker{i}.log",
                                          concurrency=concurrency, extra=extra, queues=queues))
            if predict_threads:
                procs.append(start_worker(server.url, root / "data", root / "predict.log", queues="predict",
                                          concurrency=predict_threads, pool="threads", extra=extra))
            api = Api(server.url, root / "data", root / "api.log", extra=extra)
            wait_worker_ready(server.client())
            yield BenchStack(server, api, procs, root / "data")
        finally:
            if api is not None:
                api.stop()
            for proc in procs:
                proc.stop()
            server.stop()
