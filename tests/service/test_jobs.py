"""Training jobs through the real API, a real worker and a real Redis."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import httpx
import pytest

from rnncast.common.settings import Settings
from tests.support import TINY, wait_until


def submit(stack, **body):
    r = stack.api.http.post("/v1/jobs", json={"cell": "GRU", **TINY, **body})
    assert r.status_code == 202, r.text
    return r.json()


def total_jobs(stack) -> int:
    return stack.api.http.get("/v1/jobs", params={"limit": 1}).json()["count"]


def test_submitted_job_runs_to_succeeded_with_full_history_and_a_checkpoint(stack):
    job = submit(stack, epochs=6, name="first")
    assert job["status"] == "queued" and job["kind"] == "train" and job["name"] == "first"
    assert job["params"]["seed"] == 0 and job["params"]["dropout"] == 0.0
    assert job["params"]["micro_batch_size"] == 250  # GRU: passes of at most 250 rows
    done = stack.api.wait_job(job["id"])
    assert done["status"] == "succeeded", done
    assert done["progress"] == {"epoch": 6, "epochs": 6}
    assert len(done["history"]["train_loss"]) == len(done["history"]["test_loss"]) == 6
    assert done["history"]["test_loss"][-1] < done["history"]["test_loss"][0]
    assert done["metrics"]["test_loss"] == done["history"]["test_loss"][-1]
    assert done["model_id"] == job["id"] and done["attempts"] == 1 and done["device"] == "cpu"
    assert done["created_at"] <= done["started_at"] <= done["finished_at"]
    assert done["finished_at"].endswith("Z")
    files = list((stack.data_dir / "models" / job["id"]).glob("*.safetensors"))
    assert len(files) == 1 and files[0].stat().st_size > 0


def test_micro_batch_size_defaults_by_cell_and_a_given_one_trains_as_given(stack):
    lstm = submit(stack, cell="LSTM", epochs=2)
    assert lstm["params"]["micro_batch_size"] == 250
    assert submit(stack, cell="RNN", epochs=1)["params"]["micro_batch_size"] == 0
    split = submit(stack, epochs=2, batch_size=32, micro_batch_size=10)  # 32-row batches as 11/11/10
    assert split["params"]["micro_batch_size"] == 10
    whole = submit(stack, epochs=2, batch_size=32, micro_batch_size=0)
    runs = [stack.api.wait_job(job["id"]) for job in (lstm, split, whole)]
    assert [run["status"] for run in runs] == ["succeeded"] * 3, runs
    # The same updates but for float rounding: the passes ran, and came out where whole batches do.
    assert runs[1]["history"] != runs[2]["history"]
    assert runs[1]["history"]["test_loss"] == pytest.approx(runs[2]["history"]["test_loss"], rel=1e-3)


def test_null_seed_is_replaced_by_a_recorded_random_seed(stack):
    job = submit(stack, seed=None, epochs=1)
    assert isinstance(job["params"]["seed"], int)
    assert stack.api.wait_job(job["id"])["status"] == "succeeded"


def test_listing_is_newest_first_and_filters_by_status(stack):
    ids = [submit(stack, epochs=1)["id"] for _ in range(3)]
    for job_id in ids:
        stack.api.wait_job(job_id)
    page = stack.api.http.get("/v1/jobs", params={"limit": 2}).json()
    assert [j["id"] for j in page["data"]] == ids[::-1][:2]
    assert page["count"] >= 3
    second = stack.api.http.get("/v1/jobs", params={"limit": 1, "offset": 1}).json()
    assert second["data"][0]["id"] == ids[1]
    ok = stack.api.http.get("/v1/jobs", params={"status": "succeeded", "limit": 1000}).json()
    assert set(ids) <= {j["id"] for j in ok["data"]}
    assert all(j["status"] == "succeeded" for j in ok["data"])
    failed = stack.api.http.get("/v1/jobs", params={"status": "failed"}).json()
    assert not set(ids) & {j["id"] for j in failed["data"]}
    assert stack.api.http.get("/v1/jobs", params={"status": "bogus"}).status_code == 422


def _read_sse(client: httpx.Client, path: str, timeout: float = 60) -> list[tuple[str, dict]]:
    events, name = [], None
    with client.stream("GET", path, timeout=timeout) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((name, json.loads(line.split(":", 1)[1])))
    return events


def test_event_stream_has_one_event_per_epoch_and_status_change_then_ends(stack):
    job = submit(stack, epochs=5)
    events = _read_sse(stack.api.http, f"/v1/jobs/{job['id']}/events")
    epochs = [e for name, e in events if name == "epoch"]
    statuses = [e["status"] for name, e in events if name == "status"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4, 5]
    assert all(e["epochs"] == 5 and e["train_loss"] > 0 for e in epochs)
    # Each epoch says when it ended (a reader that joins mid-run times the epochs by it), in order.
    ended = [datetime.fromisoformat(e["at"]) for e in epochs]
    assert ended == sorted(ended) and all(t.tzinfo is not None for t in ended)
    assert statuses == ["queued", "running", "succeeded"]
    # A finished job's stream replays the same events, then ends.
    assert _read_sse(stack.api.http, f"/v1/jobs/{job['id']}/events") == events


def test_cancel_stops_running_job_within_one_epoch_and_finished_job_is_409(stack):
    job = submit(stack, epochs=100_000, checkpoint_every=0)
    wait_until(lambda: stack.api.http.get(f"/v1/jobs/{job['id']}").json()["progress"]["epoch"] >= 2)
    r = stack.api.http.post(f"/v1/jobs/{job['id']}/cancel")
    assert r.status_code == 202 and r.json()["cancel_requested"]
    at_cancel = r.json()["progress"]["epoch"]
    done = stack.api.wait_job(job["id"], timeout=30)
    assert done["status"] == "cancelled" and done["model_id"] is None
    assert done["progress"]["epoch"] <= at_cancel + 1
    again = stack.api.http.post(f"/v1/jobs/{job['id']}/cancel")
    assert again.status_code == 409 and "already ended" in again.json()["detail"]


def test_same_idempotency_key_returns_same_job_and_other_body_conflicts(stack):
    key = uuid.uuid4().hex
    body = {"cell": "RNN", **TINY, "epochs": 1}
    first = stack.api.http.post("/v1/jobs", json=body, headers={"Idempotency-Key": key})
    before = total_jobs(stack)
    second = stack.api.http.post("/v1/jobs", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == second.status_code == 202
    assert second.json()["id"] == first.json()["id"] and second.headers["Idempotent-Replayed"] == "true"
    other = stack.api.http.post("/v1/jobs", json=body | {"epochs": 2}, headers={"Idempotency-Key": key})
    assert other.status_code == 409 and "Idempotency-Key" in other.json()["detail"]
    assert total_jobs(stack) == before


BAD_BODIES = [
    ({"cell": "LSTM", "hidden_size": 0}, "hidden_size"),
    ({"cell": "LSTM", "hidden_size": -3}, "hidden_size"),
    ({"cell": "LSTM", "hidden_size": 10**9}, "hidden_size"),
    ({"cell": "LSTM", "epochs": 0}, "epochs"),
    ({"cell": "LSTM", "epochs": 10**7}, "epochs"),
    ({"cell": "LSTM", "lr": 0}, "lr"),
    ({"cell": "LSTM", "lr": 2}, "lr"),
    ({"cell": "LSTM", "num_layers": 9}, "num_layers"),
    ({"cell": "LSTM", "batch_size": 0}, "batch_size"),
    ({"cell": "LSTM", "micro_batch_size": -1}, "micro_batch_size"),
    ({"cell": "LSTM", "data": {"points": 10**7}}, "points"),
    ({"cell": "LSTM", "data": {"period": -1}}, "period"),
    ({"cell": "LSTM", "data": {"kind": "square"}}, "kind"),
    ({"cell": "LSTM", "sequence_length": 2000}, "sequence_length (2000) must be < data.points (2000)"),
    ({"cell": "TCN"}, "cell"),
    ({}, "cell"),
    ({"cell": "LSTM", "learning_rate": 0.1}, "learning_rate"),
    ({"cell": "LSTM", "hidden_size": "20"}, "hidden_size"),
    ({"cell": "LSTM", "hidden_size": 2.5}, "hidden_size"),
    ({"cell": "LSTM", "hidden_size": True}, "hidden_size"),
    ({"cell": "LSTM", "seed": -1}, "seed"),
    ({"cell": "LSTM", "name": "x" * 201}, "name"),
    ([1, 2, 3], "dict"),
]


@pytest.mark.parametrize(("body", "needle"), BAD_BODIES)
def test_bad_input_is_422_with_a_clear_message_and_creates_no_job(stack, body, needle):
    before = total_jobs(stack)
    r = stack.api.http.post("/v1/jobs", json=body)
    assert r.status_code == 422, r.text
    assert needle in json.dumps(r.json()["detail"])
    assert total_jobs(stack) == before


@pytest.mark.parametrize(
    "raw",
    [b'{"cell": "LSTM", "lr": NaN}', b'{"cell": "LSTM", "lr": Infinity}', b'{"cell": "LSTM",', b"not json"],
)
def test_nan_infinity_and_malformed_json_are_422(stack, raw):
    before = total_jobs(stack)
    r = stack.api.http.post("/v1/jobs", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert total_jobs(stack) == before


@pytest.mark.parametrize("job_id", ["0" * 32, "nope", "..%2F..%2Fetc"])
def test_unknown_job_is_404(stack, job_id):
    assert stack.api.http.get(f"/v1/jobs/{job_id}").status_code == 404
    assert stack.api.http.post(f"/v1/jobs/{job_id}/cancel").status_code == 404
    assert stack.api.http.get(f"/v1/jobs/{job_id}/events").status_code == 404


def test_oversized_body_is_413_and_creates_no_job(stack):
    before = total_jobs(stack)
    body = json.dumps({"cell": "LSTM", "name": "x" * (5 * 1024 * 1024)})
    r = stack.api.http.post("/v1/jobs", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "larger than" in r.json()["detail"]
    assert total_jobs(stack) == before


def test_oversized_chunked_body_is_413_and_creates_no_job(stack):
    before = total_jobs(stack)
    body = json.dumps({"cell": "LSTM", "name": "x" * (5 * 1024 * 1024)}).encode()

    def chunks():  # no Content-Length: sent chunked
        for i in range(0, len(body), 64 * 1024):
            yield body[i : i + 64 * 1024]

    r = stack.api.http.post("/v1/jobs", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "larger than" in r.json()["detail"]
    assert total_jobs(stack) == before


def test_chunked_body_within_the_limit_is_read_whole(stack):
    body = json.dumps({"cell": "RNN", **TINY, "epochs": 1, "name": "chunked"}).encode()
    r = stack.api.http.post("/v1/jobs", content=iter([body[:10], body[10:]]),
                            headers={"content-type": "application/json"})
    assert r.status_code == 202 and r.json()["name"] == "chunked"
    stack.api.wait_job(r.json()["id"])


def test_is_id_matches_the_whole_string():
    from rnncast.common.values import is_id

    assert is_id("a" * 32)
    assert not is_id("a" * 32 + "\n") and not is_id("a" * 31) and not is_id("A" * 32)


@pytest.mark.parametrize("suffix", ["%0A", "%0D%0A", "%20"])
def test_an_id_with_trailing_characters_is_no_id(stack, suffix):
    job = stack.api.http.post("/v1/jobs", json={"cell": "RNN", **TINY, "epochs": 1}).json()
    stack.api.wait_job(job["id"])
    assert stack.api.http.get(f"/v1/jobs/{job['id']}{suffix}").status_code == 404
    assert stack.api.http.post(f"/v1/jobs/{job['id']}{suffix}/cancel").status_code == 404
    assert stack.api.http.get(f"/v1/models/{job['id']}{suffix}").status_code == 404


def test_health_readiness_metrics_and_openapi(stack):
    assert stack.api.http.get("/healthz").json() == {"status": "ok"}
    ready = stack.api.http.get("/readyz")
    # train + predict; the predict worker serves its forecast lane's threads and a figure lane
    assert ready.status_code == 200
    body = ready.json()
    devices = body.pop("devices")
    lanes = Settings.model_fields["forecast_threads"].default + 1  # the stack's workers get no RNNCAST_ variable
    assert body == {"redis": "ok", "workers": 2, "queues": {"train": 1, "predict": 1}, "lanes": lanes,
                    "lanes_not_serving": []}
    # Each worker's heartbeat says its queues and device (this host: CPUs).
    assert sorted(d["queues"] for d in devices) == [["predict"], ["train"]], devices
    assert all(d["device"] == "cpu" and d["memory_bytes"] > 0 and d["device_name"] for d in devices), devices
    metrics = stack.api.http.get("/metrics").text
    assert 'rnncast_jobs{status="succeeded"}' in metrics
    assert "rnncast_http_requests_total" in metrics and 'route="/v1/jobs/{job_id}"' in metrics
    assert 'rnncast_queue_depth{queue="train"}' in metrics
    paths = stack.api.http.get("/openapi.json").json()["paths"]
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/events", "/v1/jobs/{job_id}/cancel"} <= set(paths)


def test_finished_job_json_is_rendered_once_and_served_unchanged(stack):
    job = submit(stack, epochs=2)
    done = stack.api.wait_job(job["id"])
    first = stack.api.http.get(f"/v1/jobs/{job['id']}")
    assert stack.r.exists(f"rnncast:job:{job['id']}:view")
    second = stack.api.http.get(f"/v1/jobs/{job['id']}")
    assert first.content == second.content and first.json() == done
    assert second.headers["content-type"] == "application/json"


def test_diverged_losses_are_served_as_null_not_as_invalid_json():
    from rnncast.common.store.views import dumps, job_view

    raw = {"id": "a" * 32, "status": "running", "params": "{}", "created_at": "now",
           "train_loss": "NaN", "test_loss": "inf", "epoch": "2", "epochs": "3"}
    view = job_view(raw, ["[NaN, Infinity]", "[0.5, 0.25]"])
    assert view["metrics"] == {"train_loss": None, "test_loss": None}
    assert view["history"] == {"epoch": [1, 2], "train_loss": [None, 0.5], "test_loss": [None, 0.25]}
    dumps(view)  # strict JSON: would raise on NaN


def test_a_job_over_the_training_cost_limit_is_422_with_its_estimate(stack):
    before = total_jobs(stack)
    huge = {"cell": "LSTM", "hidden_size": 1024, "num_layers": 8, "sequence_length": 20_000,
            "data": {"points": 1_000_000}, "micro_batch_size": 1}
    r = stack.api.http.post("/v1/jobs", json=huge)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "estimated cost" in detail and "RNNCAST_MAX_TRAIN_COST (3e+13)" in detail
    r = stack.api.http.post("/v1/comparisons", json={"cells": ["GRU"], "train": {k: v for k, v in huge.items()
                                                                                 if k != "cell"}})
    assert r.status_code == 422 and "estimated cost" in r.json()["detail"]
    assert total_jobs(stack) == before


def test_the_tutorial_defaults_at_the_epochs_cap_pass_the_cost_limit(stack):
    for cell in ("RNN", "LSTM", "GRU"):
        r = stack.api.http.post("/v1/jobs", json={"cell": cell, "epochs": 100_000})
        assert r.status_code == 202, r.text
        assert stack.api.http.post(f"/v1/jobs/{r.json()['id']}/cancel").status_code == 202
        stack.api.wait_job(r.json()["id"])
