"""Nothing grows forever: deleting jobs and comparisons, and retention of ended ones."""

from __future__ import annotations

import json

import pytest

from rnncast.common.artifacts.layout import job_prefix, model_prefix
from rnncast.common.store import Keys
from tests.service.test_comparisons import wait_comparison
from tests.support import TINY, Api, RedisServer, start_worker, wait_until, wait_worker_ready

LONG = TINY | {"epochs": 100_000, "checkpoint_every": 1}


def job_keys(job_id: str) -> list[str]:
    return [Keys.job(job_id), Keys.history(job_id), Keys.events(job_id), Keys.view(job_id)]


def test_delete_an_ended_job_removes_its_records_and_checkpoints_but_not_its_model(stack):
    http = stack.api.http
    running = http.post("/v1/jobs", json={"cell": "RNN", **LONG}).json()
    wait_until(lambda: http.get(f"/v1/jobs/{running['id']}").json()["progress"]["epoch"] >= 2, timeout=60)
    r = http.delete(f"/v1/jobs/{running['id']}")
    assert r.status_code == 409 and "cancel it first" in r.json()["detail"]
    http.post(f"/v1/jobs/{running['id']}/cancel")
    stack.api.wait_job(running["id"])
    done = http.post("/v1/jobs", json={"cell": "GRU", **TINY, "checkpoint_every": 1}).json()
    assert stack.api.wait_job(done["id"])["status"] == "succeeded"
    http.get(f"/v1/jobs/{done['id']}")  # renders the stored view
    (stack.data_dir / job_prefix(done["id"])).mkdir(parents=True, exist_ok=True)  # e.g. a kept checkpoint
    for job_id in (running["id"], done["id"]):
        assert http.delete(f"/v1/jobs/{job_id}").status_code == 204
        assert http.get(f"/v1/jobs/{job_id}").status_code == 404
        assert http.delete(f"/v1/jobs/{job_id}").status_code == 404
        assert not any(stack.r.exists(k) for k in job_keys(job_id))
        assert not (stack.data_dir / job_prefix(job_id)).exists()
        ids = {j["id"] for j in http.get("/v1/jobs", params={"limit": 1000}).json()["data"]}
        assert job_id not in ids
    assert http.get(f"/v1/models/{done['id']}").status_code == 200  # the model stays
    assert (stack.data_dir / model_prefix(done["id"])).exists()


def test_delete_a_comparison_removes_it_and_its_runs_but_not_their_models(stack):
    http = stack.api.http
    study = http.post("/v1/comparisons", json={"cells": ["RNN"], "seeds": [0, 1], "train": TINY}).json()
    run_id = study["runs"][0]["job_id"]
    r = http.delete(f"/v1/comparisons/{study['id']}")
    assert r.status_code == 409 or http.get(f"/v1/comparisons/{study['id']}").json()["status"] != "running"
    finished = wait_comparison(stack, study["id"])
    r = http.delete(f"/v1/jobs/{run_id}")
    assert r.status_code == 409 and "delete the comparison" in r.json()["detail"]
    assert http.delete(f"/v1/comparisons/{study['id']}").status_code == 204
    assert http.get(f"/v1/comparisons/{study['id']}").status_code == 404
    assert not stack.r.exists(Keys.comparison(study["id"]))
    for run in finished["runs"]:
        assert http.get(f"/v1/jobs/{run['job_id']}").status_code == 404
        assert not any(stack.r.exists(k) for k in job_keys(run["job_id"]))
        assert http.get(f"/v1/models/{run['job_id']}").status_code == 200


@pytest.fixture
def short_retention(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    extra = {"RNNCAST_RETENTION_DAYS": str(3 / 86_400)}  # three seconds
    worker = start_worker(server.url, tmp_path / "data", tmp_path / "worker.log", extra=extra)
    api = Api(server.url, tmp_path / "data", tmp_path / "api.log", extra=extra)
    try:
        wait_worker_ready(server.client())
        yield api, server.client(), tmp_path / "data"
    finally:
        api.stop()
        worker.stop()
        server.stop()


def test_ended_jobs_and_comparisons_expire_after_retention_and_models_stay(short_retention):
    api, r, data_dir = short_retention
    job = api.http.post("/v1/jobs", json={"cell": "RNN", **TINY}).json()
    study = api.http.post("/v1/comparisons", json={"cells": ["GRU"], "train": TINY}).json()
    queued = api.http.post("/v1/jobs", json={"cell": "LSTM", **LONG}).json()  # never ends: never expires
    assert api.wait_job(job["id"])["status"] == "succeeded"
    wait_until(lambda: api.http.get(f"/v1/jobs/{job['id']}").status_code == 404, timeout=30)
    wait_until(lambda: api.http.get(f"/v1/comparisons/{study['id']}").status_code == 404, timeout=60)
    run_id = study["runs"][0]["job_id"]
    for job_id in (job["id"], run_id):
        assert not any(r.exists(k) for k in job_keys(job_id))
        assert not (data_dir / job_prefix(job_id)).exists()
        assert api.http.get(f"/v1/models/{job_id}").status_code == 200
        assert (data_dir / model_prefix(job_id)).exists()
    assert api.http.get(f"/v1/jobs/{queued['id']}").status_code == 200
    assert r.zcard(Keys.ended_jobs) == 0 and r.zcard(Keys.ended_comparisons) == 0
    api.http.post(f"/v1/jobs/{queued['id']}/cancel")


def test_list_rows_carry_no_history_and_runs_store_no_forecast_context(stack):
    http = stack.api.http
    study = http.post("/v1/comparisons", json={"cells": ["RNN"], "train": TINY}).json()
    finished = wait_comparison(stack, study["id"])
    rows = http.get("/v1/jobs", params={"limit": 5}).json()["data"]
    assert rows and all("history" not in row for row in rows)
    assert "history" in http.get(f"/v1/jobs/{rows[0]['id']}").json()
    schema = http.get("/openapi.json").json()["components"]["schemas"]
    assert "history" not in schema["JobRow"]["properties"] and "history" in schema["Job"]["properties"]
    stored = json.loads(stack.r.hget(Keys.job(finished["runs"][0]["job_id"]), "forecast"))
    assert "context_x" not in stored and "context_y" not in stored and len(stored["y"]) == 100
    png = http.get(f"/v1/comparisons/{study['id']}/predictions.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
