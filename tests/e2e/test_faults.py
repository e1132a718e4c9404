"""Faults with real processes and real signals: killed workers, SIGTERM, Redis going away."""

from __future__ import annotations

import signal
import time

import pytest
import torch

from rnncast.common.artifacts import LocalStore
from rnncast.common.artifacts.layout import model_prefix
from rnncast.common.options import from_params
from rnncast.common.queue import TRAIN_QUEUE, TRAIN_TASK, make_celery
from rnncast.common.settings import Settings
from rnncast.core.checkpoint import load_checkpoint
from rnncast.core.train import train
from tests.support import Api, RedisServer, start_worker, wait_until, wait_worker_ready, worker_torch

# Long enough to be killed mid-way (~10 ms an epoch), checkpointed every 20 epochs.
JOB = {"cell": "GRU", "hidden_size": 8, "epochs": 300, "batch_size": 64, "lr": 0.01, "sequence_length": 20,
       "seed": 5, "checkpoint_every": 20, "data": {"points": 400, "stop": 200}}
FAST = {"RNNCAST_HEARTBEAT_TIMEOUT": "5", "RNNCAST_HEARTBEAT_INTERVAL": "1"}


class Site:
    """A private Redis (AOF), an API, and workers started and killed at will."""

    def __init__(self, tmp_path, extra=None):
        self.tmp, self.extra = tmp_path, FAST | (extra or {})
        self.redis = RedisServer(tmp_path / "redis", aof=True).start()
        self.data = tmp_path / "data"
        self.api = Api(self.redis.url, self.data, tmp_path / "api.log", extra=self.extra)
        self.workers = []

    def worker(self):
        proc = start_worker(self.redis.url, self.data, self.tmp / f"worker{len(self.workers)}.log",
                            extra=self.extra)
        self.workers.append(proc)
        return proc

    def job(self, job_id):
        return self.api.http.get(f"/v1/jobs/{job_id}").json()

    def close(self):
        self.api.stop()
        for proc in self.workers:
            proc.signal(signal.SIGKILL)
            proc.stop(timeout=5)
        self.redis.stop()


@pytest.fixture
def site(tmp_path):
    s = Site(tmp_path)
    yield s
    s.close()


def uninterrupted_weights(params: dict) -> dict[str, torch.Tensor]:
    with worker_torch():  # same kernels and settings as the worker, same bits
        return train(*from_params(params)).model.state_dict()


def test_sigkilled_worker_job_resumes_on_a_new_worker_with_identical_weights(site):
    first = site.worker()
    job = site.api.http.post("/v1/jobs", json=JOB).json()
    wait_until(lambda: site.job(job["id"])["progress"]["epoch"] >= 70, timeout=60)
    first.signal(signal.SIGKILL)
    killed_at = time.monotonic()
    site.worker()
    done = site.api.wait_job(job["id"], timeout=120)
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2 and done["resumed_from_epoch"] >= JOB["checkpoint_every"]
    assert done["resumed_from_epoch"] % JOB["checkpoint_every"] == 0
    assert len(done["history"]["test_loss"]) == JOB["epochs"]
    assert time.monotonic() - killed_at < 60
    saved = load_checkpoint(LocalStore(site.data).at(model_prefix(job["id"])), "model").tensors
    expected = uninterrupted_weights(done["params"])
    assert all(torch.equal(saved[f"model.{k}"], v) for k, v in expected.items())


def test_job_that_keeps_losing_its_worker_fails_after_max_attempts(tmp_path):
    site = Site(tmp_path, extra={"RNNCAST_MAX_ATTEMPTS": "2"})
    try:
        job = site.api.http.post("/v1/jobs", json=JOB | {"epochs": 100_000}).json()
        for attempt in (1, 2):
            worker = site.worker()
            wait_until(lambda: site.job(job["id"])["attempts"] == attempt  # noqa: B023
                       and site.job(job["id"])["status"] == "running", timeout=60)
            worker.signal(signal.SIGKILL)
        site.worker()  # notices the stale heartbeat and gives up
        done = site.api.wait_job(job["id"], timeout=60)
        assert done["status"] == "failed" and done["attempts"] == 2
        assert "lost its worker" in done["error"] and "RNNCAST_MAX_ATTEMPTS=2" in done["error"]
    finally:
        site.close()


def test_sigterm_hands_the_running_job_back_and_another_worker_finishes_it(site):
    first = site.worker()
    job = site.api.http.post("/v1/jobs", json=JOB | {"epochs": 100_000, "checkpoint_every": 50}).json()
    wait_until(lambda: site.job(job["id"])["progress"]["epoch"] >= 60, timeout=60)
    # Like `docker stop`: SIGTERM to the worker's main process only.
    first.proc.send_signal(signal.SIGTERM)
    first.proc.wait(timeout=60)
    back = site.job(job["id"])
    assert back["status"] == "queued" and back["attempts"] == 1 and back["error"] is None
    epoch_at_handoff = back["progress"]["epoch"]
    site.worker()
    wait_until(lambda: site.job(job["id"])["progress"]["epoch"] > epoch_at_handoff + 5, timeout=60)
    resumed = site.job(job["id"])
    assert resumed["status"] == "running" and resumed["attempts"] == 2
    assert resumed["resumed_from_epoch"] == epoch_at_handoff  # checkpointed at the epoch it stopped
    site.api.http.post(f"/v1/jobs/{job['id']}/cancel")
    assert site.api.wait_job(job["id"])["status"] == "cancelled"


def test_redis_shutdown_with_queued_jobs_loses_none(site):
    worker = site.worker()
    wait_worker_ready(site.redis.client())
    tiny = JOB | {"epochs": 30, "checkpoint_every": 5}
    ids = [site.api.http.post("/v1/jobs", json=tiny).json()["id"] for _ in range(6)]
    site.redis.stop()  # SIGTERM: Redis writes its AOF and exits
    assert site.api.http.get("/v1/jobs").status_code == 503
    assert site.api.http.post("/v1/jobs", json=tiny).status_code == 503
    assert site.api.http.post(f"/v1/models/{ids[0]}/forecast", json={"start": 1.0, "horizon": 3}).status_code == 503
    time.sleep(2)
    site.redis.start()
    jobs = [site.api.wait_job(job_id, timeout=120) for job_id in ids]
    assert [j["status"] for j in jobs] == ["succeeded"] * 6, [(j["status"], j["error"]) for j in jobs]
    assert [len(j["history"]["test_loss"]) for j in jobs] == [30] * 6, [(j["attempts"], j["resumed_from_epoch"])
                                                                       for j in jobs]
    assert worker.proc.poll() is None  # the worker rode it out
    # Both ends of the forecast lane reconnected: the API's inbox reader and the worker's server.
    r = site.api.http.post(f"/v1/models/{ids[0]}/forecast", json={"start": 1.0, "horizon": 3})
    assert r.status_code == 200 and len(r.json()["y"]) == 3


def test_queue_cap_gives_429(tmp_path):
    site = Site(tmp_path, extra={"RNNCAST_MAX_QUEUED_JOBS": "2"})
    try:
        codes = [site.api.http.post("/v1/jobs", json=JOB).status_code for _ in range(3)]
        assert codes == [202, 202, 429]
        assert site.api.http.get("/v1/jobs").json()["count"] == 2
    finally:
        site.close()


def test_pickled_task_message_is_refused_and_the_job_still_runs_from_json(site):
    job = site.api.http.post("/v1/jobs", json=JOB | {"epochs": 5}).json()
    broker = site.redis.client()
    broker.delete(TRAIN_QUEUE)  # drop the JSON task: only a pickled one is left
    celery = make_celery(Settings(redis_url=site.redis.url))
    celery.conf.accept_content = ["json", "pickle"]
    celery.send_task(TRAIN_TASK, args=[job["id"]], queue=TRAIN_QUEUE, serializer="pickle")
    worker = site.worker()
    wait_until(lambda: "Refusing to deserialize untrusted content of type pickle" in worker.log(), timeout=60)
    # Nothing ran from the pickled message; recovery re-sends a JSON task for the queued job.
    done = site.api.wait_job(job["id"], timeout=60)
    assert done["status"] == "succeeded" and done["attempts"] == 1
