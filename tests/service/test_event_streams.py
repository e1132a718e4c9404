"""Event streams are bounded: a cap per API process, a maximum duration, and clients that resume."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from rnncast.client.api import Client
from tests.service.test_models import train_model
from tests.support import TINY, Api, wait_until

STREAM_CAP = 12


@pytest.fixture
def bounded_api(stack, tmp_path):
    """A second API process on the session's Redis and workers, with small stream limits."""
    api = Api(stack.redis.url, stack.data_dir, tmp_path / "api.log",
              extra={"RNNCAST_MAX_EVENT_STREAMS": str(STREAM_CAP), "RNNCAST_EVENT_STREAM_MAX_S": "2"})
    yield api
    api.stop()


def test_streams_up_to_the_cap_stay_open_beyond_it_429_and_forecasts_still_answer(stack, bounded_api):
    model = train_model(stack, name="streams")
    job = bounded_api.http.post("/v1/jobs", json={"cell": "LSTM", **TINY, "epochs": 100_000}).json()
    opened, stop = threading.Semaphore(0), threading.Event()
    errors: list[BaseException] = []

    def hold() -> None:
        try:
            with httpx.Client(base_url=bounded_api.url, timeout=30) as http:
                with http.stream("GET", f"/v1/jobs/{job['id']}/events") as r:
                    assert r.status_code == 200
                    opened.release()
                    for _ in r.iter_lines():
                        if stop.is_set():
                            return
        except BaseException as exc:
            errors.append(exc)
            opened.release()

    threads = [threading.Thread(target=hold, daemon=True) for _ in range(STREAM_CAP)]
    try:
        for t in threads:
            t.start()
        for _ in threads:
            assert opened.acquire(timeout=30)
        assert not errors, errors
        refused = bounded_api.http.get(f"/v1/jobs/{job['id']}/events")
        assert refused.status_code == 429 and refused.headers["Retry-After"]
        for _ in range(5):
            r = bounded_api.http.post(f"/v1/models/{model['id']}/forecast", json={"start": 50.0, "horizon": 10})
            assert r.status_code == 200
        assert bounded_api.http.get(f"/v1/jobs/{job['id']}").status_code == 200
    finally:
        stop.set()
        bounded_api.http.post(f"/v1/jobs/{job['id']}/cancel")
        for t in threads:
            t.join(timeout=30)
    # Closed streams give their places back.
    wait_until(lambda: bounded_api.http.get(f"/v1/jobs/{job['id']}/events").status_code == 200, timeout=30)


def test_a_stream_ends_after_its_maximum_and_the_client_resumes_it_seamlessly(stack, bounded_api):
    # Long enough to outlast the 2 s stream on a fast machine.
    job = bounded_api.http.post("/v1/jobs", json={"cell": "GRU", **TINY, "epochs": 1500}).json()
    began = time.monotonic()
    with httpx.Client(base_url=bounded_api.url, timeout=30) as http:
        with http.stream("GET", f"/v1/jobs/{job['id']}/events") as r:
            lines = list(r.iter_lines())
    assert time.monotonic() - began < 10
    assert not any('"succeeded"' in line for line in lines)  # ended early, not at the job's end
    with Client(bounded_api.url) as client:  # the stream alone, no polling: resumed with Last-Event-ID
        events = list(client.events(job["id"]))
    epochs = [data["epoch"] for name, data in events if name == "epoch"]
    assert epochs == list(range(1, 1501)) and events[-1] == ("status", {"status": "succeeded", "model_id": job["id"]})
