"""The artifact store, seen from the API: a frozen S3 costs its callers a short timeout or an immediate 503 and
never holds up job submission; a delete that meets an outage keeps its record (503) until a retry removes
the files too; a job whose model write meets an outage goes back to the queue and succeeds later."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from rnncast.common.artifacts.layout import dataset_prefix, job_prefix, model_prefix
from tests.support import TINY, Api, RedisServer, S3Server, start_worker, wait_until

STORE = {"RNNCAST_API_STORE_THREADS": "4", "RNNCAST_API_STORE_TIMEOUT_S": "2"}
VALUES = {"name": "s", "values": [float(i % 7) for i in range(50)]}


class Site:
    def __init__(self, root: Path) -> None:
        self.s3 = S3Server(root / "s3").start()
        self.bucket = self.s3.bucket()
        self.env = self.s3.env(f"s3://{self.bucket}") | STORE
        self.redis = RedisServer(root / "redis").start()
        self.api = Api(self.redis.url, root / "api", root / "api.log", extra=self.env)

    def keys(self, prefix: str) -> list[str]:
        answer = self.s3.client().list_objects_v2(Bucket=self.bucket, Prefix=f"{prefix}/")
        return [obj["Key"] for obj in answer.get("Contents", [])]

    def freeze(self, sig: int) -> None:
        assert self.s3.proc is not None
        os.killpg(self.s3.proc.pid, sig)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    here = Site(tmp_path_factory.mktemp("store"))
    yield here
    here.api.stop()
    here.redis.stop()
    here.s3.stop()


def test_a_frozen_store_answers_503_fast_and_never_holds_up_job_submission(site):
    # The store may still be coming up (its first writes answered 503): wait for one upload to go through.
    created = wait_until(lambda: (r := site.api.http.post("/v1/datasets", json=VALUES)).status_code == 201 and r,
                         timeout=60)
    dataset = created.json()
    site.freeze(signal.SIGSTOP)
    try:
        url = f"{site.api.url}/v1/datasets/{dataset['id']}/values"

        def read(_: int) -> tuple[int, float]:
            began = time.monotonic()
            status = httpx.get(url, timeout=120).status_code
            return status, time.monotonic() - began

        with ThreadPoolExecutor(48) as pool:
            reads = pool.map(read, range(48))
            time.sleep(0.5)  # the reads have taken every store thread the API has
            began = time.monotonic()
            job = site.api.http.post("/v1/jobs", json={"cell": "GRU", **TINY}, timeout=120)
            submitted_in = time.monotonic() - began
            answers = list(reads)
        assert job.status_code == 202, job.text
        assert submitted_in < 5, submitted_in  # it took 27 s behind a frozen S3
        assert {status for status, _ in answers} == {503}, answers
        assert max(took for _, took in answers) < 15, answers  # a 2 s timeout, or refused at once
    finally:
        site.freeze(signal.SIGCONT)
    # Thawed, the store serves again once the calls it froze have ended and given back their slots.
    wait_until(lambda: httpx.get(url, timeout=30).status_code == 200, timeout=60)


def test_a_delete_during_an_outage_keeps_the_record_until_a_retry_removes_the_files(site):
    created = site.api.http.post("/v1/datasets", json=VALUES)
    assert created.status_code == 201, created.text
    dataset = created.json()
    job = site.api.http.post("/v1/jobs", json={"cell": "GRU", **TINY}).json()
    assert site.api.http.post(f"/v1/jobs/{job['id']}/cancel").status_code == 202
    site.s3.client().put_object(Bucket=site.bucket, Key=f"{job_prefix(job['id'])}/checkpoint.json", Body=b"{}")
    assert site.keys(dataset_prefix(dataset["id"])) and site.keys(job_prefix(job["id"]))
    site.s3.stop()
    try:
        for path in (f"/v1/datasets/{dataset['id']}", f"/v1/jobs/{job['id']}"):
            assert site.api.http.delete(path).status_code == 503
            assert site.api.http.get(path).status_code == 200  # kept: the retry below finds it
    finally:
        site.s3.start()
    for path in (f"/v1/datasets/{dataset['id']}", f"/v1/jobs/{job['id']}"):
        assert site.api.http.delete(path).status_code == 204
        assert site.api.http.get(path).status_code == 404
    assert site.keys(dataset_prefix(dataset["id"])) == [] and site.keys(job_prefix(job["id"])) == []


def test_a_model_write_that_meets_an_outage_hands_the_job_back_to_resume(site, tmp_path):
    extra: dict[str, Any] = site.env | {"RNNCAST_ARTIFACT_RETRY_S": "2"}
    worker = start_worker(site.redis.url, tmp_path / "worker", tmp_path / "worker.log", queues="train", extra=extra)
    body = {**TINY, "cell": "GRU", "epochs": 120, "checkpoint_every": 5, "hidden_size": 8}
    try:
        job = site.api.http.post("/v1/jobs", json=body).json()
        # A whole checkpoint (its manifest, written after its tensors) is in the store before it goes down.
        manifest = f"{job_prefix(job['id'])}/checkpoint.json"
        wait_until(lambda: manifest in site.keys(job_prefix(job["id"])), timeout=120)
        site.s3.stop()
        try:
            # The model cannot be written: the job goes back to the queue (it was failed at its last epoch).
            ended = wait_until(lambda: site.api.http.get(f"/v1/jobs/{job['id']}").json()["status"]
                               in ("queued", "failed") and site.api.http.get(f"/v1/jobs/{job['id']}").json(),
                               timeout=120)
            assert ended["status"] == "queued" and ended["progress"]["epoch"] == body["epochs"], ended
            time.sleep(3)  # its task comes back while the store is down: it stays queued
            assert site.api.http.get(f"/v1/jobs/{job['id']}").json()["status"] != "failed"
        finally:
            site.s3.start()
        done = site.api.wait_job(job["id"], timeout=180)
        assert done["status"] == "succeeded" and done["attempts"] >= 2, done
        assert done["resumed_from_epoch"], done  # from its checkpoint, not from epoch 0
        assert site.keys(model_prefix(job["id"]))
    finally:
        worker.stop()
