"""An S3 outage during a job: checkpoint writes retry off the training loop, the model write waits for
the store to come back, and the job succeeds; nothing accepted is lost."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from rnncast.common.artifacts.layout import job_prefix, model_prefix
from tests.support import ROOT, S3_KEYS, Api, RedisServer, S3Server, free_port, start_worker, wait_until

FAST = {"RNNCAST_HEARTBEAT_TIMEOUT": "5", "RNNCAST_HEARTBEAT_INTERVAL": "1"}
JOB = {"cell": "GRU", "hidden_size": 8, "epochs": 400, "batch_size": 64, "lr": 0.01, "sequence_length": 20,
       "seed": 3, "checkpoint_every": 5, "data": {"points": 400, "stop": 200}}


def test_a_job_outlives_an_s3_outage_and_stores_its_model_when_s3_returns(tmp_path):
    s3 = S3Server(tmp_path / "s3").start()
    bucket = s3.bucket()
    extra = FAST | s3.env(f"s3://{bucket}")
    redis = RedisServer(tmp_path / "redis").start()
    api = Api(redis.url, tmp_path / "api", tmp_path / "api.log", extra=extra)
    worker = start_worker(redis.url, tmp_path / "worker", tmp_path / "worker.log", queues="train", extra=extra)
    try:
        job = api.http.post("/v1/jobs", json=JOB).json()

        def epoch() -> int:
            return int(api.http.get(f"/v1/jobs/{job['id']}").json()["progress"]["epoch"])

        def keys(prefix: str) -> list[str]:
            answer = s3.client().list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/")
            return [obj["Key"] for obj in answer.get("Contents", [])]

        wait_until(lambda: f"{job_prefix(job['id'])}/checkpoint.json" in keys(job_prefix(job["id"])), timeout=120)
        s3.stop()
        down_at = epoch()
        # Training goes on while its checkpoint writes fail and retry ...
        wait_until(lambda: epoch() >= min(down_at + 50, JOB["epochs"]), timeout=60)
        # ... to its last epoch; the model cannot be written, so the job waits, running, not failed.
        wait_until(lambda: epoch() == JOB["epochs"], timeout=120)
        time.sleep(2)
        assert api.http.get(f"/v1/jobs/{job['id']}").json()["status"] == "running"
        assert "failed for now" in worker.log()

        s3.start()
        done = api.wait_job(job["id"], timeout=120)
        assert done["status"] == "succeeded" and done["attempts"] == 1, done
        assert len(done["history"]["test_loss"]) == JOB["epochs"]
        assert any(k.endswith("model.json") for k in keys(model_prefix(job["id"])))
        assert keys(job_prefix(job["id"])) == []
    finally:
        api.stop()
        worker.stop()
        redis.stop()
        s3.stop()


def test_the_api_starts_while_s3_is_unreachable_and_a_malformed_setting_still_stops_it(tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    unreachable = {"RNNCAST_ARTIFACTS": "s3://rnncast/a", "RNNCAST_S3_ENDPOINT_URL": closed, **S3_KEYS}
    api = Api(f"redis://127.0.0.1:{free_port()}/0", tmp_path / "api", tmp_path / "api.log", extra=unreachable)
    try:
        assert api.http.get("/healthz").status_code == 200
    finally:
        api.stop()
    warnings = [line for line in api.proc.log().splitlines() if "artifact store does not answer" in line]
    assert len(warnings) == 1, api.proc.log()

    env = {k: v for k, v in os.environ.items() if not k.startswith("RNNCAST_")}
    for bad in ("s3://Not_A_Bucket/a", "ftp://elsewhere/a"):
        out = subprocess.run([sys.executable, "-m", "rnncast.client", "api", "--port", str(free_port())], cwd=ROOT,
                             env=env | {**unreachable, "RNNCAST_ARTIFACTS": bad}, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode != 0 and out.stderr.strip().startswith("rnncast: "), (bad, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
