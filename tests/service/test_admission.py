"""Admission: quotas checked and taken by the script that creates a job, a comparison or a dataset (so neither
sequential jobs nor simultaneous uploads pass them), released when a job ends without a model or is deleted;
an Idempotency-Key whose job or comparison was deleted is free again."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from rnncast.common.defaults import model_bytes
from rnncast.common.store import JobStatus, Keys
from rnncast.common.store.sync import JobStore
from tests.support import TINY, Api

VALUES = [float(i % 9) for i in range(50)]


def estimate(api: Api) -> int:
    """What one TINY GRU job reserves: its model's estimated bytes (a job queued to learn its params, then gone)."""
    job = api.http.post("/v1/jobs", json={"cell": "GRU", **TINY}).json()
    assert api.http.post(f"/v1/jobs/{job['id']}/cancel").status_code == 202
    assert api.http.delete(f"/v1/jobs/{job['id']}").status_code == 204
    return model_bytes(job["params"])


def test_sequential_jobs_never_reserve_past_max_model_bytes(site, tmp_path):
    """Before any job finishes, its model counts: ten jobs in a row are refused past the bytes of three."""
    probe = site()
    one = estimate(probe)
    api = site(max_model_bytes=str(3 * one + one // 2))
    answers = [api.http.post("/v1/jobs", json={"cell": "GRU", **TINY}) for _ in range(10)]
    assert [r.status_code for r in answers] == [202] * 3 + [507] * 7, [r.text for r in answers]
    assert "RNNCAST_MAX_MODEL_BYTES" in answers[3].text and "queued or running jobs take" in answers[3].text
    assert api.http.get("/v1/jobs").json()["count"] == 3
    assert sum(int(b) for b in site.store.r.hvals(Keys.model_reservations)) == 3 * one


def test_simultaneous_uploads_never_keep_more_than_max_datasets(site, tmp_path):
    # Upload slots (RNNCAST_MAX_CONCURRENT_UPLOADS) and the API's store threads (RNNCAST_API_STORE_THREADS) are
    # other bounds: opened wide, the quota is what is raced.
    api = site(max_datasets="5", max_concurrent_uploads="64", api_store_threads="64")
    with httpx.Client(base_url=api.url, timeout=60) as http, ThreadPoolExecutor(30) as pool:
        answers = list(pool.map(lambda _: http.post("/v1/datasets", json={"name": "q", "values": VALUES}),
                                range(30)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] * 5 + [429] * 25, codes
    assert api.http.get("/v1/datasets").json()["count"] == 5
    assert site.store.r.hlen(Keys.dataset_bytes) == 5
    kept = {r.json()["id"] for r in answers if r.status_code == 201}
    folder = tmp_path / "data" / "datasets"
    assert {p.name for p in folder.iterdir()} <= kept  # a refused upload leaves no files behind
    assert_totals_kept(site.store)


def play_worker(store: JobStore, job_id: str, status: JobStatus, checkpoint_bytes: int | None = None) -> None:
    """Run a queued job to `status` as a worker does (start under a lease, finish with or without a model)."""
    lease = uuid.uuid4().hex
    assert store.start(job_id, lease, "cpu", 1) == 1
    model = None
    if checkpoint_bytes is not None:
        model = {"id": job_id, "job_id": job_id, "checkpoint": {"format": "safetensors", "sha256": "0" * 64,
                                                                "bytes": checkpoint_bytes}}
    assert store.finish(job_id, lease, status, model=model) == 1


def test_a_failed_cancelled_or_deleted_job_frees_its_reservation(site):
    probe = site()
    one = estimate(probe)
    api = site(max_model_bytes=str(one + one // 2))  # room for one job's model
    store, job = site.store, {"cell": "GRU", **TINY}

    def submit() -> httpx.Response:
        return api.http.post("/v1/jobs", json=job)

    first = submit()
    assert first.status_code == 202 and submit().status_code == 507
    assert api.http.post(f"/v1/jobs/{first.json()['id']}/cancel").status_code == 202  # cancelled while queued
    second = submit()
    assert second.status_code == 202 and submit().status_code == 507
    play_worker(store, second.json()["id"], JobStatus.FAILED)
    third = submit()
    assert third.status_code == 202 and submit().status_code == 507
    play_worker(store, third.json()["id"], JobStatus.SUCCEEDED, checkpoint_bytes=100)  # the real bytes replace it
    assert store.r.hget(Keys.model_bytes, third.json()["id"]) == "100"
    fourth = submit()
    assert fourth.status_code == 202, fourth.text  # 100 bytes kept + one reservation
    assert submit().status_code == 507
    # Deleting a job (once ended) leaves nothing of it in the accounts: its model, if any, keeps its own entry.
    assert api.http.post(f"/v1/jobs/{fourth.json()['id']}/cancel").status_code == 202
    assert api.http.delete(f"/v1/jobs/{fourth.json()['id']}").status_code == 204
    assert api.http.delete(f"/v1/jobs/{third.json()['id']}").status_code == 204
    assert store.r.hkeys(Keys.model_reservations) == [] and store.r.hget(Keys.model_bytes, third.json()["id"])
    assert submit().status_code == 202
    assert len(store.r.hkeys(Keys.model_reservations)) == 1
    assert_totals_kept(store)


def assert_totals_kept(store: JobStore) -> None:
    """Every quota account's kept total is the sum of its entries."""
    for account in (Keys.model_bytes, Keys.model_reservations, Keys.dataset_bytes):
        kept = store.r.hget(Keys.quota_totals, account)
        assert float(kept or 0) == sum(int(b) for b in store.r.hvals(account)), account


def test_models_and_datasets_saved_before_the_accounts_count(site):
    """Records from before the accounts (and their totals) existed are entered at the next admission."""
    probe = site()
    one = estimate(probe)
    first = probe.http.post("/v1/jobs", json={"cell": "GRU", **TINY}).json()
    play_worker(site.store, first["id"], JobStatus.SUCCEEDED, checkpoint_bytes=one)
    dataset = probe.http.post("/v1/datasets", json={"name": "q", "values": VALUES}).json()
    site.store.r.delete(Keys.model_bytes, Keys.dataset_bytes, Keys.quota_totals)
    api = site(max_model_bytes=str(2 * one + one // 2), max_dataset_bytes=str(len(VALUES) * 8 * 2 - 1))
    assert api.http.post("/v1/jobs", json={"cell": "GRU", **TINY}).status_code == 202  # the model + this one
    assert api.http.post("/v1/jobs", json={"cell": "GRU", **TINY}).status_code == 507
    assert api.http.post("/v1/datasets", json={"name": "q", "values": VALUES}).status_code == 507
    assert site.store.r.hget(Keys.model_bytes, first["id"]) == str(one)
    assert site.store.r.hget(Keys.dataset_bytes, dataset["id"]) == str(len(VALUES) * 8)
    assert_totals_kept(site.store)


def test_the_model_count_counts_queued_jobs_and_the_models_kept(site):
    api = site(max_models="2")
    first = api.http.post("/v1/jobs", json={"cell": "GRU", **TINY})
    play_worker(site.store, first.json()["id"], JobStatus.SUCCEEDED, checkpoint_bytes=100)
    assert api.http.post("/v1/jobs", json={"cell": "GRU", **TINY}).status_code == 202
    r = api.http.post("/v1/comparisons", json={"cells": ["GRU"], "train": TINY})
    assert r.status_code == 429 and "1 models kept and 1 jobs queued or running" in r.text
    assert api.http.delete(f"/v1/models/{first.json()['id']}").status_code == 204
    assert api.http.post("/v1/comparisons", json={"cells": ["GRU"], "train": TINY}).status_code == 202


@pytest.mark.parametrize("resource", ["jobs", "comparisons"])
def test_an_idempotency_key_whose_record_was_deleted_creates_anew(site, resource):
    api = site()
    body = {"cell": "GRU", **TINY} if resource == "jobs" else {"cells": ["GRU"], "seeds": [1], "train": TINY}
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = api.http.post(f"/v1/{resource}", json=body, headers=key)
    assert first.status_code == 202
    replay = api.http.post(f"/v1/{resource}", json=body, headers=key)
    assert replay.json()["id"] == first.json()["id"] and replay.headers["Idempotent-Replayed"] == "true"
    assert api.http.post(f"/v1/{resource}/{first.json()['id']}/cancel").status_code == 202
    assert api.http.delete(f"/v1/{resource}/{first.json()['id']}").status_code == 204
    again = api.http.post(f"/v1/{resource}", json=body, headers=key)
    assert again.status_code == 202 and again.json() is not None, again.text
    assert again.json()["id"] != first.json()["id"] and "Idempotent-Replayed" not in again.headers
    assert api.http.get(f"/v1/{resource}/{again.json()['id']}").status_code == 200
    replay = api.http.post(f"/v1/{resource}", json=body, headers=key)  # the key now names the new one
    assert replay.json()["id"] == again.json()["id"] and replay.headers["Idempotent-Replayed"] == "true"
