"""A stopped S3 seen from outside: every answer is a 503 that names neither the endpoint, the bucket nor a key
(the logs keep them)."""

from __future__ import annotations

import pytest

from rnncast.common.artifacts.s3 import S3Store
from rnncast.common.settings import Settings
from rnncast.worker.training import public_error
from tests.support import S3_KEYS, TINY, Api, RedisServer, S3Server, start_worker

VALUES = {"name": "s", "values": [float(i % 7) for i in range(80)]}
STORE = {"RNNCAST_API_STORE_TIMEOUT_S": "3", "RNNCAST_S3_TIMEOUT_S": "3", "RNNCAST_FORECAST_TIMEOUT": "20"}


def test_a_stopped_store_answers_503s_that_name_no_endpoint_bucket_or_key(tmp_path):
    s3 = S3Server(tmp_path / "s3").start()
    bucket = s3.bucket()
    env = s3.env(f"s3://{bucket}/secret-prefix") | STORE
    redis = RedisServer(tmp_path / "redis").start()
    api = Api(redis.url, tmp_path / "api", tmp_path / "api.log", extra=env, log_level="info")
    worker = start_worker(redis.url, tmp_path / "worker", tmp_path / "worker.log", extra=env)
    try:
        dataset = api.http.post("/v1/datasets", json=VALUES).json()
        job = api.http.post("/v1/jobs", json={"cell": "GRU", **TINY}).json()
        assert api.wait_job(job["id"], timeout=120)["status"] == "succeeded"
        s3.stop()
        model = job["id"]
        answers = {
            "values": api.http.get(f"/v1/datasets/{dataset['id']}/values"),
            "plot": api.http.get(f"/v1/datasets/{dataset['id']}/plot.png"),
            "forecast": api.http.post(f"/v1/models/{model}/forecast", json={"horizon": 5, "start": 1.0}),
            "forecast.png": api.http.get(f"/v1/models/{model}/forecast.png"),
            "delete": api.http.delete(f"/v1/datasets/{dataset['id']}"),
        }
        secrets = (s3.endpoint, f"127.0.0.1:{s3.ports['s3']}", bucket, "secret-prefix", "datasets/", "models/",
                   "values.npy", "model.json")
        for name, answer in answers.items():
            assert answer.status_code == 503, (name, answer.status_code, answer.text)
            leaked = [s for s in secrets if s in answer.text]
            assert not leaked, (name, leaked, answer.text)
        # The operator still learns where and what: the detail is in the logs.
        logs = api.proc.log() + worker.log()
        assert bucket in logs and f"127.0.0.1:{s3.ports['s3']}" in logs
    finally:
        api.stop()
        worker.stop()
        redis.stop()
        s3.stop()


def test_a_jobs_error_names_no_endpoint_bucket_or_key(tmp_path, monkeypatch):
    """A job failed by a store error says what kind it was, never where (worker.training.public_error)."""
    for key, value in S3_KEYS.items():
        monkeypatch.setenv(key, value)
    port = S3Server(tmp_path).ports["s3"]  # a free port nothing listens on
    store = S3Store("s3://hidden-bucket/p", f"http://127.0.0.1:{port}", timeout_s=1)
    with pytest.raises(Exception) as caught:
        store.get("datasets/abc/values.npy")
    assert "hidden-bucket" in str(caught.value) or str(port) in str(caught.value)  # the log's detail
    text = public_error(caught.value, Settings(data_dir=tmp_path))
    assert "unavailable" in text
    for secret in ("hidden-bucket", str(port), "datasets/abc", "values.npy"):
        assert secret not in text, text
