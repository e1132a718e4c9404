"""Short ids (an id's first characters, as the CLI, the dashboard and the lists show them) through the real API
and a real Redis: every id route takes them, an ambiguous one is a 409 listing its candidates."""

from __future__ import annotations

import uuid

from typer.testing import CliRunner

from rnncast.client.cli import app
from rnncast.common.store import JobStatus, Keys
from rnncast.common.store.id_ops import CREATION_INDEXES
from rnncast.common.store.job_ops import create_job
from rnncast.common.store.sync import JobStore
from rnncast.service.ids import MIN_PREFIX
from tests.support import TINY

VALUES = [float(i % 7) for i in range(50)]
TRAIN = {k: v for k, v in TINY.items()}


def play_worker(store: JobStore, job_id: str, status: JobStatus, model: bool = False, error: str = "") -> None:
    """Run a queued job to `status` as a worker does (start under a lease, finish with or without a model)."""
    lease = uuid.uuid4().hex
    assert store.start(job_id, lease, "cpu", 1) == 1
    record = {"id": job_id, "job_id": job_id, "cell": "GRU",
              "checkpoint": {"format": "safetensors", "sha256": "0" * 64, "bytes": 100}} if model else None
    assert store.finish(job_id, lease, status, model=record, **({"error": error} if error else {})) == 1


def queue_job(store: JobStore, job_id: str, params: dict) -> None:
    """A queued job whose id the test chooses (through the store, as the API's admission stores one)."""
    store.run(create_job(params, job_id=job_id, name=None, epochs=params["epochs"], max_queued=1000))


def test_a_short_id_names_its_record_on_every_id_route(site):
    api = site()
    http = api.http
    dataset = http.post("/v1/datasets", json={"name": "short", "values": VALUES}).json()
    job = http.post("/v1/jobs", json={"cell": "GRU", **TRAIN}).json()
    trained = http.post("/v1/jobs", json={"cell": "GRU", **TRAIN}).json()
    play_worker(site.store, trained["id"], JobStatus.SUCCEEDED, model=True)
    study = http.post("/v1/comparisons", json={"cells": ["RNN", "GRU"], "train": TRAIN}).json()
    job_id, model_id, study_id, dataset_id = job["id"], trained["id"], study["id"], dataset["id"]

    assert http.get(f"/v1/jobs/{job_id[:8]}").json()["id"] == job_id
    assert http.get(f"/v1/jobs/{job_id[:MIN_PREFIX]}").json()["id"] == job_id
    assert http.get(f"/v1/jobs/{job_id.upper()}").json()["id"] == job_id  # whole, in capitals: the same id
    assert http.get(f"/v1/models/{model_id[:8]}").json()["id"] == model_id
    assert http.get(f"/v1/comparisons/{study_id[:8]}").json()["id"] == study_id
    assert http.get(f"/v1/datasets/{dataset_id[:8]}").json()["id"] == dataset_id
    assert http.get(f"/v1/datasets/{dataset_id[:8]}/values", params={"limit": 3}).json()["id"] == dataset_id
    assert http.post(f"/v1/jobs/{job_id[:8]}/events/token").status_code == 200
    # Shorter than MIN_PREFIX, or a prefix of nothing: the usual 404, naming what was asked.
    short = http.get(f"/v1/jobs/{job_id[:MIN_PREFIX - 1]}")
    assert short.status_code == 404 and short.json()["detail"] == f"job {job_id[:MIN_PREFIX - 1]!r} not found"
    assert http.get(f"/v1/datasets/{job_id[:8]}").status_code == 404  # a job's id names no dataset

    cancelled = http.post(f"/v1/jobs/{job_id[:8]}/cancel")
    assert cancelled.status_code == 202 and cancelled.json()["id"] == job_id
    events = http.get(f"/v1/jobs/{job_id[:8]}/events")  # ended: the replay ends with its final status
    assert events.status_code == 200 and "cancelled" in events.text
    assert http.post(f"/v1/comparisons/{study_id[:8]}/cancel").json()["id"] == study_id

    for path in (f"/v1/jobs/{job_id[:8]}", f"/v1/models/{model_id[:8]}", f"/v1/comparisons/{study_id[:8]}",
                 f"/v1/datasets/{dataset_id[:8]}"):
        assert http.delete(path).status_code == 204, path
        assert http.get(path).status_code == 404, path  # gone from the id index too
    for index in (Keys.models, Keys.comparisons, Keys.datasets):
        assert site.store.r.zrange(Keys.by_id(index), 0, -1) == [], index
    assert job_id not in site.store.r.zrange(Keys.by_id(Keys.jobs), 0, -1)


def test_an_ambiguous_short_id_is_a_409_listing_the_ids_it_starts(site):
    api = site()
    params = api.http.post("/v1/jobs", json={"cell": "GRU", **TRAIN}).json()["params"]
    first, second = "feedbeef" + "0" * 24, "feedcafe" + "0" * 24
    queue_job(site.store, first, params)
    queue_job(site.store, second, params)
    r = api.http.get("/v1/jobs/feed")
    assert r.status_code == 409
    assert r.json()["candidates"] == [first, second]
    assert first in r.json()["detail"] and second in r.json()["detail"] and "ambiguous" in r.json()["detail"]
    assert api.http.get("/v1/jobs/FEEDB").json()["id"] == first  # one more character decides
    assert api.http.get("/v1/jobs/feedc").json()["id"] == second
    # A model's id is its job's: the same prefix is as ambiguous there, on the fast forecast path too.
    forecast = api.http.post("/v1/models/feed/forecast", json={"horizon": 5})
    assert forecast.status_code == 409 and forecast.json()["candidates"] == [first, second]
    assert api.http.get("/v1/models/feed/forecast.png").status_code == 409
    assert api.http.post("/v1/jobs/feed/cancel").status_code == 409  # and nothing was cancelled
    assert {api.http.get(f"/v1/jobs/{i}").json()["status"] for i in (first, second)} == {"queued"}


def test_records_stored_before_the_id_index_are_found(site):
    api = site()
    job = api.http.post("/v1/jobs", json={"cell": "GRU", **TRAIN}).json()
    # As a Redis written before the id indexes existed: no index, no mark.
    site.store.r.delete(Keys.ids_indexed, *(Keys.by_id(index) for index in CREATION_INDEXES))
    assert api.http.get(f"/v1/jobs/{job['id'][:8]}").json()["id"] == job["id"]
    assert site.store.r.exists(Keys.ids_indexed)
    assert site.store.r.zrange(Keys.by_id(Keys.jobs), 0, -1) == [job["id"]]


def test_the_cli_takes_short_ids(site):
    api = site()
    job = api.http.post("/v1/jobs", json={"cell": "GRU", **TRAIN}).json()
    result = CliRunner().invoke(app, ["job", job["id"][:8], "--json", "--url", api.url])
    assert result.exit_code == 0, result.output
    assert job["id"] in result.output


def test_a_model_forecasts_by_its_short_id_from_the_cli_and_the_api(stack):
    job = stack.api.http.post("/v1/jobs", json={"cell": "GRU", **TRAIN}).json()
    done = stack.api.wait_job(job["id"][:8])
    assert done["status"] == "succeeded" and done["id"] == job["id"]
    short = job["id"][:8]
    r = stack.api.http.post(f"/v1/models/{short}/forecast", json={"start": 50, "horizon": 4})  # the fast path
    assert r.status_code == 200 and r.json()["model_id"] == job["id"]
    png = stack.api.http.get(f"/v1/models/{short}/forecast.png", params={"start": 50, "horizon": 4})
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    result = CliRunner().invoke(app, ["forecast", short, "--start", "50", "--horizon", "4", "--json",
                                      "--url", stack.api.url])
    assert result.exit_code == 0, result.output
    assert f'"model_id": "{job["id"]}"' in result.output
