"""Session-wide real parts: a private Redis, worker processes and the API."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import torch

from tests.support import Api, Proc, RedisServer, S3Server, start_worker, wait_until

# A suite started in the background by a shell without job control (`make test &` in a script) inherits SIGINT
# ignored, and every process it starts would too: the tests that press Ctrl-C on a CLI or on `rnncast up` need it
# delivered. A handler, unlike "ignored", is not inherited past exec, so the processes start with the default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# One intra-op thread, as in the workers: these tiny layers only lose from more
# threads on the two cores the suite shares with worker processes. (Denormal
# flushing, the workers' other setting, is process-wide and upsets Hypothesis:
# tests that compare with a worker to the bit use support.worker_torch.)
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3 server (SeaweedFS) for the session; each test makes its own bucket."""
    server = S3Server(tmp_path_factory.mktemp("s3")).start()
    yield server
    server.stop()


@dataclass
class Stack:
    redis: RedisServer
    api: Api
    worker: Proc
    data_dir: Path

    @property
    def r(self) -> redis.Redis:
        return self.redis.client()


@pytest.fixture(scope="session")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """As `rnncast up` runs it: the API, a training worker with two processes,
    and a forecast worker on a thread pool (batching), on the session's Redis."""
    logs = tmp_path_factory.mktemp("logs")
    data_dir = tmp_path_factory.mktemp("data")
    worker = start_worker(redis_server.url, data_dir, logs / "worker.log", concurrency=2, queues="train")
    predictor = start_worker(redis_server.url, data_dir, logs / "predict.log", concurrency=16, queues="predict",
                             pool="threads")
    api = None
    try:  # whatever fails to start, nothing is left running
        api = Api(redis_server.url, data_dir, logs / "api.log")
        try:
            wait_until(lambda: redis_server.client().zcard("rnncast:workers") >= 2, timeout=60)
        except AssertionError:
            raise AssertionError(f"workers did not start:\n{worker.log()}\n{predictor.log()}") from None
        yield Stack(redis_server, api, worker, data_dir)
    finally:
        if api is not None:
            api.stop()
        worker.stop()
        predictor.stop()
