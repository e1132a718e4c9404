"""`rnncast watch ID`: follows a job or a comparison to its end, again after Ctrl-C; with no worker it says so."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid

from typer.testing import CliRunner

from rnncast.client.api import Client
from rnncast.client.cli import app
from tests.support import ROOT, start_worker, wait_until

TRAIN_ARGS = ["--points", "200", "--sequence-length", "10", "--hidden-size", "4", "--batch-size", "64"]
NO_WORKER = "no worker is consuming the training queue"


def cli(url: str, *args: str):
    return CliRunner().invoke(app, [*args, "--url", url])


def rnncast(*args: str, stderr) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "rnncast.client", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=stderr, text=True)


def test_watch_after_an_interrupted_watch_follows_the_job_to_its_end(stack):
    name = f"follow-{uuid.uuid4().hex[:8]}"
    first = rnncast("train", "--cell", "GRU", "--epochs", "300", "--checkpoint-every", "0", *TRAIN_ARGS,
                    "--name", name, "--watch", "--url", stack.api.url, stderr=subprocess.PIPE)

    def running() -> dict | None:
        rows = stack.api.http.get("/v1/jobs", params={"limit": 100}).json()["data"]
        return next((j for j in rows if j["name"] == name and j["progress"]["epoch"] >= 1), None)

    job = wait_until(running, timeout=60)
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=30)
    assert first.returncode == 130 and "keeps running" in err, err
    assert f"follow it: rnncast watch {job['id']}" in err and "rnncast job " not in err
    again = cli(stack.api.url, "watch", job["id"])  # the stream replays from the start: where it is, then on
    assert again.exit_code == 0, again.output
    assert "succeeded" in again.output and "300/300" in again.output and job["id"][:8] in again.output
    assert stack.api.http.get(f"/v1/jobs/{job['id']}").json()["status"] == "succeeded"


def test_watch_follows_a_comparison_found_by_asking_the_api(stack):
    started = cli(stack.api.url, "compare", "--cells", "RNN,GRU", "--seeds", "0", "--epochs", "2", *TRAIN_ARGS)
    assert started.exit_code == 0, started.output
    study_id = started.stdout.split("follow it: rnncast watch ")[1].split()[0]
    followed = cli(stack.api.url, "watch", study_id)
    assert followed.exit_code == 0, followed.output
    assert f"comparison {study_id}: succeeded" in followed.stdout and "best" in followed.stdout
    explicit = cli(stack.api.url, "watch", "--comparison", study_id, "--json")
    assert explicit.exit_code == 0 and json.loads(explicit.stdout)["status"] == "succeeded"
    unknown = cli(stack.api.url, "watch", "f" * 32)
    assert unknown.exit_code == 1 and "no job or comparison" in unknown.stderr


def test_submits_say_when_no_worker_consumes_the_training_queue(idle):
    trained = cli(idle.url, "train", "--cell", "GRU", "--epochs", "2", *TRAIN_ARGS)
    assert trained.exit_code == 0, trained.output
    assert NO_WORKER in trained.stderr and "rnncast worker" in trained.stderr and "rnncast up" in trained.stderr
    assert len(trained.stderr.strip().splitlines()) == 1
    job_id = trained.stdout.split("follow it: rnncast watch ")[1].split()[0]
    assert idle.http.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"
    compared = cli(idle.url, "compare", "--cells", "RNN", "--seeds", "0", "--epochs", "2", *TRAIN_ARGS, "--json")
    assert compared.exit_code == 0 and NO_WORKER in compared.stderr
    assert json.loads(compared.stdout)["status"] == "running"  # stdout stays JSON


def test_watch_says_no_worker_consumes_and_keeps_following(idle, tmp_path):
    with Client(idle.url) as c:
        job = c.train("GRU", epochs=2)
    log = tmp_path / "watch.err"
    with open(log, "w") as err:
        proc = rnncast("watch", job.id, "--url", idle.url, stderr=err)
        try:
            wait_until(lambda: NO_WORKER in log.read_text(), timeout=60)
            assert proc.poll() is None  # still following: a worker may appear
            idle.http.post(f"/v1/jobs/{job.id}/cancel")
            assert proc.wait(timeout=60) == 1
        finally:
            if proc.poll() is None:
                proc.kill()
    assert "cancelled" in log.read_text()


def test_a_forecast_only_worker_is_no_training_worker(idle_site, tmp_path):
    """`/readyz` counts live workers per queue; a submit with only a predict worker alive still says none trains."""
    idle, redis = idle_site
    worker = start_worker(redis.url, tmp_path / "data", tmp_path / "predict.log", queues="predict")
    try:
        ready = wait_until(lambda: (r := idle.http.get("/readyz").json())["workers"] >= 1 and r, timeout=90)
        assert ready["queues"] == {"predict": 1}, ready
        trained = cli(idle.url, "train", "--cell", "GRU", "--epochs", "2", *TRAIN_ARGS)
        assert trained.exit_code == 0 and NO_WORKER in trained.stderr, trained.output
    finally:
        worker.stop()
