"""Workers on other hosts: the API and each worker have a data dir of their own and share only Redis
and a real S3 server (SeaweedFS). A job killed on one host resumes on another from its checkpoint in S3."""

from __future__ import annotations

import math
import signal

import numpy as np
import pytest
import torch

from rnncast.common.artifacts.layout import dataset_prefix, job_prefix, model_prefix
from rnncast.common.options import from_params
from rnncast.core.train import train
from tests.support import S3_KEYS, Api, RedisServer, start_worker, wait_until, wait_worker_ready, worker_torch

FAST = {"RNNCAST_HEARTBEAT_TIMEOUT": "5", "RNNCAST_HEARTBEAT_INTERVAL": "1"}
VALUES = [math.sin(i / 4) + 0.3 * math.sin(i / 1.7) for i in range(500)]
JOB = {"cell": "GRU", "hidden_size": 8, "epochs": 300, "batch_size": 64, "lr": 0.01, "sequence_length": 20,
       "seed": 5, "checkpoint_every": 20}


class Hosts:
    """Redis, the API on one host, training workers on hosts A and B, a predict worker on host C."""

    def __init__(self, tmp_path, s3_server) -> None:
        self.tmp, self.s3 = tmp_path, s3_server
        self.bucket = s3_server.bucket()
        self.extra = FAST | s3_server.env(f"s3://{self.bucket}/rnncast")
        self.redis = RedisServer(tmp_path / "redis").start()
        self.dirs = {name: tmp_path / name for name in ("api", "a", "b", "c")}
        self.procs = []
        self.api = Api(self.redis.url, self.dirs["api"], tmp_path / "api.log", extra=self.extra)

    def worker(self, host: str, **kwargs):
        proc = start_worker(self.redis.url, self.dirs[host], self.tmp / f"worker-{host}.log", extra=self.extra,
                            **kwargs)
        self.procs.append(proc)
        return proc

    def keys(self, prefix: str) -> list[str]:
        answer = self.s3.client().list_objects_v2(Bucket=self.bucket, Prefix=f"rnncast/{prefix}/")
        return sorted(obj["Key"].removeprefix(f"rnncast/{prefix}/") for obj in answer.get("Contents", []))

    def files(self, host: str) -> set[str]:
        folder = self.dirs[host]
        return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()

    def close(self) -> None:
        self.api.stop()
        for proc in self.procs:
            proc.signal(signal.SIGKILL)
            proc.stop(timeout=5)
        self.redis.stop()


@pytest.fixture
def hosts(tmp_path, s3_server, monkeypatch):
    for key, value in S3_KEYS.items():  # this test process reads S3 too
        monkeypatch.setenv(key, value)
    h = Hosts(tmp_path, s3_server)
    yield h
    h.close()


def test_a_job_killed_on_host_a_resumes_on_host_b_from_s3_and_serves_from_host_c(hosts):
    http = hosts.api.http
    dataset = http.post("/v1/datasets", json={"name": "waves", "values": VALUES}).json()
    assert hosts.keys(dataset_prefix(dataset["id"])) == ["meta.json", "values.npy"]

    a = hosts.worker("a", queues="train")
    job = http.post("/v1/jobs", json=JOB | {"data": {"dataset_id": dataset["id"]}}).json()
    assert job["status"] == "queued", job
    wait_until(lambda: http.get(f"/v1/jobs/{job['id']}").json()["progress"]["epoch"] >= 70, timeout=120)
    wait_until(lambda: "checkpoint.json" in hosts.keys(job_prefix(job["id"])), timeout=30)
    a.signal(signal.SIGKILL)

    hosts.worker("b", queues="train")
    done = hosts.api.wait_job(job["id"], timeout=180)
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2 and done["resumed_from_epoch"] >= JOB["checkpoint_every"], done
    assert len(done["history"]["test_loss"]) == JOB["epochs"]
    assert hosts.keys(job_prefix(job["id"])) == []  # resume files cleaned up in S3
    model_keys = hosts.keys(model_prefix(job["id"]))
    assert "model.json" in model_keys and len(model_keys) == 2

    # Resumed on another host from S3, the weights are those of an uninterrupted run.
    from rnncast.common.artifacts.s3 import S3Store
    from rnncast.core.checkpoint import load_checkpoint

    store = S3Store(f"s3://{hosts.bucket}/rnncast", hosts.s3.endpoint)
    saved = load_checkpoint(store.at(model_prefix(job["id"])), "model").tensors
    with worker_torch():
        expected = train(*from_params(done["params"]), series=np.array(VALUES)).model.state_dict()
    assert all(torch.equal(saved[f"model.{k}"], v) for k, v in expected.items())

    hosts.worker("c", queues="predict", pool="threads", concurrency=4)
    wait_worker_ready(hosts.redis.client())
    forecast = wait_until(lambda: _ok(http.post(f"/v1/models/{job['id']}/forecast", json={"horizon": 12})))
    assert len(forecast["y"]) == 12 and all(math.isfinite(v) for v in forecast["y"])
    backtest = _ok(http.post(f"/v1/models/{job['id']}/backtest", json={"origins": 5, "horizon": 6}))
    assert backtest["model"]["mse"] is not None and len(backtest["origin_positions"]) == 5
    sha = http.get(f"/v1/models/{job['id']}").json()["checkpoint"]["sha256"]
    assert f"cache/models/{sha}" in hosts.files("c")  # host C keeps a local copy of what it serves

    # Nothing but a worker's own cache is on any host's disk: no job, model or dataset files.
    assert hosts.files("api") == set()
    for host in ("a", "b", "c"):
        assert all(path.startswith("cache/") for path in hosts.files(host)), (host, hosts.files(host))

    assert http.delete(f"/v1/models/{job['id']}").status_code == 204
    assert hosts.keys(model_prefix(job["id"])) == []
    assert http.post(f"/v1/models/{job['id']}/forecast", json={"horizon": 12}).status_code == 404
    assert http.delete(f"/v1/datasets/{dataset['id']}").status_code == 204
    assert hosts.keys(dataset_prefix(dataset["id"])) == []


def _ok(response):
    return response.json() if response.status_code == 200 else None
