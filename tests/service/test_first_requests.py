"""What a new user's first requests meet, through the real API, a real Redis and (for forecasts) a real predict
worker: a job's model asked for before it exists, cell names in any case, a body sent as a form."""

from __future__ import annotations

import uuid

from typer.testing import CliRunner

from rnncast.client.cli import app
from rnncast.common.store import JobStatus
from tests.support import TINY, start_worker, wait_until

TRAIN = {k: v for k, v in TINY.items()}


def test_a_jobs_model_asked_for_before_it_succeeds_is_a_409_saying_why(site, tmp_path):
    api = site()
    # A predict worker (the forecast's 404 comes from it); no training worker: jobs stay as the test puts them.
    worker = start_worker(site.redis.url, tmp_path / "data", tmp_path / "predict.log", queues="predict",
                          pool="threads", extra={"RNNCAST_HEARTBEAT_TIMEOUT": "3600"})
    try:
        wait_until(lambda: site.store.r.zcard("rnncast:workers") > 0, timeout=60)
        http, store = api.http, site.store
        job = http.post("/v1/jobs", json={"cell": "GRU", **TRAIN, "epochs": 300}).json()
        job_id = job["id"]

        def answers() -> list[tuple[int, str]]:
            """The forecast (fast path, and the route: a +json type goes through FastAPI), the record, a figure."""
            replies = [
                http.post(f"/v1/models/{job_id}/forecast", json={"horizon": 5}),
                http.post(f"/v1/models/{job_id[:8]}/forecast", content=b'{"horizon": 5}',
                          headers={"Content-Type": "application/vnd.rnncast+json"}),
                http.get(f"/v1/models/{job_id[:8]}"),
                http.get(f"/v1/models/{job_id}/forecast.png"),
                http.post(f"/v1/models/{job_id}/backtest", json={"origins": 2, "horizon": 3}),
            ]
            return [(r.status_code, r.json()["detail"]) for r in replies]

        queued = f"job {job_id} is queued; its model appears when it succeeds"
        assert answers() == [(409, queued)] * 5
        lease = uuid.uuid4().hex
        assert store.start(job_id, lease, "cpu", 1) == 1
        store.record_epoch(job_id, lease, 41, 300, 0.5, 0.6)
        running = f"job {job_id} is running (epoch 41/300); its model appears when it succeeds"
        assert answers() == [(409, running)] * 5
        assert store.finish(job_id, lease, JobStatus.FAILED, error="out of memory") == 1
        assert answers() == [(409, f"job {job_id} failed: out of memory; it has no model")] * 5

        other = http.post("/v1/jobs", json={"cell": "GRU", **TRAIN}).json()["id"]
        assert http.post(f"/v1/jobs/{other}/cancel").status_code == 202
        r = http.post(f"/v1/models/{other}/forecast", json={"horizon": 5})
        assert (r.status_code, r.json()["detail"]) == (409, f"job {other} was cancelled; it has no model")
        nothing = uuid.uuid4().hex  # no job, no model: the usual 404
        r = http.post(f"/v1/models/{nothing}/forecast", json={"horizon": 5})
        assert (r.status_code, r.json()["detail"]) == (404, f"model {nothing!r} not found")
    finally:
        worker.stop()


def test_cell_names_are_taken_in_any_case_and_answered_as_declared(site):
    api = site()
    for given, canonical in (("lstm", "LSTM"), ("Gru", "GRU"), ("rNn", "RNN")):
        r = api.http.post("/v1/jobs", json={"cell": given, **TRAIN})
        assert r.status_code == 202, r.text
        assert r.json()["params"]["cell"] == canonical
        assert api.http.get(f"/v1/jobs/{r.json()['id']}").json()["params"]["cell"] == canonical
    bad = api.http.post("/v1/jobs", json={"cell": "lstmx", **TRAIN})
    assert bad.status_code == 422 and "RNN" in bad.text
    study = api.http.post("/v1/comparisons", json={"cells": ["rnn", "Lstm"], "train": TRAIN})
    assert study.status_code == 202, study.text
    assert study.json()["cells"] == ["RNN", "LSTM"]
    assert {run["cell"] for run in study.json()["runs"]} == {"RNN", "LSTM"}
    twice = api.http.post("/v1/comparisons", json={"cells": ["lstm", "LSTM"], "train": TRAIN})
    assert twice.status_code == 422 and "must not repeat" in twice.text
    # The document states the declared names.
    document = api.http.get("/openapi.json").json()
    assert document["components"]["schemas"]["JobCreate"]["properties"]["cell"]["enum"] == ["RNN", "LSTM", "GRU"]
    # The CLI sends the name as given; the server's answer is the declared one.
    result = CliRunner().invoke(app, ["train", "--cell", "gru", "--epochs", "3", "--points", "200",
                                      "--sequence-length", "10", "--hidden-size", "4", "--json", "--url", api.url])
    assert result.exit_code == 0, result.output
    assert '"cell": "GRU"' in result.output


def test_a_body_that_is_not_sent_as_json_is_a_415(site):
    api = site()
    count = api.http.get("/v1/jobs").json()["count"]
    # curl -d '{"cell": "LSTM"}' sends it as a form.
    form = api.http.post("/v1/jobs", content=b'{"cell": "LSTM"}',
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415
    assert form.json()["detail"].startswith("send Content-Type: application/json")
    assert "application/x-www-form-urlencoded" in form.json()["detail"]
    bare = api.http.post("/v1/jobs", content=b'{"cell": "LSTM"}', headers={"Content-Type": ""})
    assert bare.status_code == 415
    text = api.http.post(f"/v1/models/{uuid.uuid4().hex}/forecast", content=b'{"horizon": 5}',
                         headers={"Content-Type": "text/plain"})
    assert text.status_code == 415
    assert api.http.get("/v1/jobs").json()["count"] == count  # nothing was queued
    # JSON with a charset, and the routes that take no body or read other types, go on as before.
    job = api.http.post("/v1/jobs", content=b'{"cell": "LSTM", "epochs": 3}',
                        headers={"Content-Type": "application/json; charset=utf-8"})
    assert job.status_code == 202, job.text
    cancel = api.http.post(f"/v1/jobs/{job.json()['id']}/cancel", content=b"",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert cancel.status_code == 202
    csv = api.http.post("/v1/datasets", content=b"value\n" + b"\n".join(b"%d" % (i % 5) for i in range(20)),
                        headers={"Content-Type": "text/csv"}, params={"name": "csv"})
    assert csv.status_code == 201, csv.text
    # The document says so where a JSON body is read, and nowhere else.
    paths = api.http.get("/openapi.json").json()["paths"]
    assert "415" in paths["/v1/jobs"]["post"]["responses"]
    assert "415" in paths["/v1/models/{model_id}/forecast"]["post"]["responses"]
    assert "415" not in paths["/v1/jobs"]["get"]["responses"]
    assert "415" not in paths["/v1/jobs/{job_id}/cancel"]["post"]["responses"]
