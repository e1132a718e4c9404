"""Quotas: models and datasets kept, by number (429) and bytes (507); a local artifact disk keeps its free space;
a job's estimated memory within RNNCAST_MAX_TRAIN_MEMORY."""

from __future__ import annotations

from rnncast.common.defaults import train_cost
from rnncast.common.settings import Settings
from tests.support import TINY, Api

VALUES = [float(i % 9) for i in range(50)]


def upload(api: Api, values=VALUES):
    return api.http.post("/v1/datasets", json={"name": "q", "values": values})


def test_datasets_past_their_number_are_429_and_past_their_bytes_507(site):
    api = site(max_datasets="2", max_dataset_bytes=str(50 * 8 * 2 + 100))
    first, second = upload(api), upload(api)
    assert first.status_code == second.status_code == 201
    r = upload(api)
    assert r.status_code == 429 and "RNNCAST_MAX_DATASETS (2)" in r.text
    assert api.http.delete(f"/v1/datasets/{first.json()['id']}").status_code == 204
    r = upload(api, VALUES * 3)  # room for one, but not for its bytes
    assert r.status_code == 507 and "RNNCAST_MAX_DATASET_BYTES" in r.text
    assert upload(api).status_code == 201
    assert api.http.get("/v1/datasets").json()["count"] == 2


def test_jobs_that_would_make_models_past_the_quota_are_refused(site):
    api = site(max_models="2", max_model_bytes="20000")
    assert api.http.post("/v1/jobs", json={"cell": "GRU", **TINY}).status_code == 202
    r = api.http.post("/v1/comparisons", json={"cells": ["GRU", "RNN"], "train": TINY})
    assert r.status_code == 429 and "RNNCAST_MAX_MODELS (2)" in r.text and "1 jobs queued" in r.text
    wide = api.http.post("/v1/jobs", json={"cell": "GRU", **TINY, "hidden_size": 64})  # ~52 kB of weights
    assert wide.status_code == 507 and "RNNCAST_MAX_MODEL_BYTES" in wide.text
    assert api.http.post("/v1/jobs", json={"cell": "GRU", **TINY}).status_code == 202
    assert api.http.post("/v1/jobs", json={"cell": "GRU", **TINY}).status_code == 429
    assert api.http.get("/v1/jobs").json()["count"] == 2


def test_a_write_that_would_fill_the_artifact_disk_is_507_and_stores_nothing(site, tmp_path):
    api = site(min_free_disk_bytes=str(10**18))
    r = upload(api)
    assert r.status_code == 507 and "RNNCAST_MIN_FREE_DISK_BYTES" in r.text
    assert api.http.get("/v1/datasets").json()["count"] == 0
    folder = tmp_path / "data" / "datasets"
    assert not folder.exists() or not any(folder.rglob("*.npy"))


def test_a_job_over_the_memory_limit_is_422_with_its_estimate_and_smaller_passes_fit(site):
    api = site()
    before = api.http.get("/v1/jobs").json()["count"]
    wide = {"cell": "LSTM", "hidden_size": 1024, "sequence_length": 2000, "batch_size": 2000, "micro_batch_size": 0,
            "epochs": 1, "data": {"points": 5000, "train_fraction": 0.8}}
    assert train_cost({"num_layers": 1, **wide}) < Settings().max_train_cost  # within the work limit
    r = api.http.post("/v1/jobs", json=wide)
    assert r.status_code == 422 and "estimated peak memory" in r.text and "RNNCAST_MAX_TRAIN_MEMORY" in r.text
    r = api.http.post("/v1/comparisons", json={"cells": ["LSTM"], "train": {k: v for k, v in wide.items()
                                                                                  if k != "cell"}})
    assert r.status_code == 422 and "estimated peak memory" in r.text
    assert api.http.get("/v1/jobs").json()["count"] == before
    r = api.http.post("/v1/jobs", json=wide | {"micro_batch_size": 10})  # the same job in passes of 10 rows
    assert r.status_code == 202, r.text  # queued: no worker here runs it
