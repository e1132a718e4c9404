"""Models and forecasts through the real API, a real worker and a real Redis."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from rnncast.common.artifacts import LocalStore
from rnncast.core.checkpoint import load_checkpoint
from rnncast.core.forecast import forecast_from_starts
from tests.support import TINY, worker_torch

PNG = b"\x89PNG\r\n\x1a\n"


def train_model(stack, **extra) -> dict:
    job = stack.api.http.post("/v1/jobs", json={"cell": "GRU", **TINY, **extra}).json()
    done = stack.api.wait_job(job["id"])
    assert done["status"] == "succeeded", done
    return stack.api.http.get(f"/v1/models/{done['model_id']}").json()


@pytest.fixture(scope="module")
def model(stack):
    return train_model(stack, name="forecast-me")


def forecast(stack, model_id, **body):
    return stack.api.http.post(f"/v1/models/{model_id}/forecast", json=body)


def test_model_record_describes_the_trained_model_and_its_checkpoint(stack, model):
    assert model["cell"] == "GRU" and model["epochs_trained"] == 3 and model["job_id"] == model["id"]
    assert model["parameters"] == 3 * (4 + 16 + 8) + 5
    assert model["params"]["hidden_size"] == 4 and model["metrics"]["test_loss"] > 0
    assert model["checkpoint"]["format"] == "safetensors"
    (path,) = (stack.data_dir / "models" / model["id"]).glob("*.safetensors")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == model["checkpoint"]["sha256"]
    assert path.stat().st_size == model["checkpoint"]["bytes"]
    listed = stack.api.http.get("/v1/models", params={"limit": 1000}).json()
    assert model["id"] in [m["id"] for m in listed["data"]] and listed["count"] >= 1


def test_forecast_from_start_is_on_the_signal_grid_with_consistent_errors(stack, model):
    r = forecast(stack, model["id"], start=60.0, horizon=25)
    assert r.status_code == 200, r.text
    out = r.json()
    step = TINY["data"]["stop"] / (TINY["data"]["points"] - 1)
    assert out["model_id"] == model["id"] and out["horizon"] == 25
    assert len(out["x"]) == len(out["y"]) == len(out["exact"]) == 25
    np.testing.assert_allclose(out["x"], 60.0 + step * np.arange(25))
    np.testing.assert_allclose(out["exact"], np.sin(2 * np.pi * np.array(out["x"]) / 20))
    err = np.array(out["y"]) - np.array(out["exact"])
    assert out["mse"] == pytest.approx(float(np.mean(err**2)))
    assert out["max_abs_error"] == pytest.approx(float(np.max(np.abs(err))))
    assert forecast(stack, model["id"], start=60.0, horizon=25).json() == out  # deterministic
    # The worker's answer equals the bare in-process computation.
    ckpt = load_checkpoint(LocalStore(stack.data_dir / "models" / model["id"]), "model")
    with worker_torch():
        bare = forecast_from_starts(ckpt.build_model(), ckpt.data, 10, [60.0], 25)[0]
    assert out["y"] == bare.y


def test_forecast_from_context_uses_the_last_sequence_length_values(stack, model):
    values = list(np.sin(np.linspace(0, 6, 30)))
    full = forecast(stack, model["id"], context=values, horizon=7).json()
    tail = forecast(stack, model["id"], context=values[-10:], horizon=7).json()
    assert full["y"] == tail["y"] and len(full["y"]) == 7 and full["x"] == [0, 1, 2, 3, 4, 5, 6]
    assert "exact" not in full and "mse" not in full
    assert forecast(stack, model["id"], context=[int(v * 10) for v in values], horizon=2).status_code == 200


def test_forecast_png_is_a_png(stack, model):
    r = stack.api.http.get(f"/v1/models/{model['id']}/forecast.png", params={"start": 50, "horizon": 20})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content.startswith(PNG) and len(r.content) > 5000


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"start": 1.0, "context": [0.0] * 20, "horizon": 5}, "exactly one"),
        ({"horizon": 5}, "exactly one"),
        ({"context": [0.0] * 5, "horizon": 5}, "at least sequence_length (10)"),
        ({"start": 1.0, "horizon": 0}, "horizon"),
        ({"start": 1.0, "horizon": 10_001}, "horizon (10001) exceeds"),
        ({"start": 1e7, "horizon": 5}, "start"),
        ({"start": "1.0", "horizon": 5}, "start"),
        ({"start": 1.0, "horizon": 5, "extra": 1}, "extra"),
        ({"context": [0.0] * 9 + ["x"], "horizon": 5}, "context"),
    ],
)
def test_bad_forecast_requests_are_422(stack, model, body, needle):
    r = forecast(stack, model["id"], **body)
    assert r.status_code == 422, r.text
    assert needle in json.dumps(r.json()["detail"])


def test_nan_context_and_oversized_body_are_rejected(stack, model):
    raw = '{"context": [' + ", ".join(["0.5"] * 9 + ["NaN"]) + '], "horizon": 3}'
    r = stack.api.http.post(f"/v1/models/{model['id']}/forecast", content=raw,
                            headers={"content-type": "application/json"})
    assert r.status_code == 422
    huge = json.dumps({"context": [0.123456789] * 400_000, "horizon": 3})
    r = stack.api.http.post(f"/v1/models/{model['id']}/forecast", content=huge,
                            headers={"content-type": "application/json"})
    assert r.status_code == 413


@pytest.mark.parametrize("model_id", ["0" * 32, "abc", "..", "%2e%2e%2fetc"])
def test_unknown_or_path_like_model_ids_are_404(stack, model_id):
    assert stack.api.http.get(f"/v1/models/{model_id}").status_code == 404
    assert stack.api.http.delete(f"/v1/models/{model_id}").status_code == 404
    assert forecast(stack, model_id, start=1.0, horizon=2).status_code == 404
    assert stack.api.http.get(f"/v1/models/{model_id}/forecast.png").status_code == 404


def test_deleted_model_is_gone_with_its_files(stack):
    doomed = train_model(stack, epochs=1)
    assert forecast(stack, doomed["id"], start=10.0, horizon=3).status_code == 200
    assert stack.api.http.delete(f"/v1/models/{doomed['id']}").status_code == 204
    assert not (stack.data_dir / "models" / doomed["id"]).exists()
    assert stack.api.http.get(f"/v1/models/{doomed['id']}").status_code == 404
    assert forecast(stack, doomed["id"], start=10.0, horizon=3).status_code == 404
    assert stack.api.http.delete(f"/v1/models/{doomed['id']}").status_code == 404
    assert doomed["id"] not in [m["id"] for m in stack.api.http.get("/v1/models").json()["data"]]


def test_tampered_checkpoint_is_refused_and_the_worker_keeps_serving_others(stack, model):
    victim = train_model(stack, epochs=1)
    (path,) = (stack.data_dir / "models" / victim["id"]).glob("*.safetensors")
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    r = forecast(stack, victim["id"], start=10.0, horizon=3)
    assert r.status_code == 503 and "digest" in r.json()["detail"]
    assert str(stack.data_dir) not in r.text
    assert forecast(stack, model["id"], start=10.0, horizon=3).status_code == 200


def test_concurrent_forecasts_are_batched_and_equal_the_unbatched_answers(stack, model):
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    starts = [40.0 + i for i in range(24)]
    alone = [forecast(stack, model["id"], start=s, horizon=30).json() for s in starts]

    def ask(start: float) -> httpx.Response:
        with httpx.Client(base_url=stack.api.url, timeout=60) as http:
            return http.post(f"/v1/models/{model['id']}/forecast", json={"start": start, "horizon": 30})

    batched_seen = 0
    for _ in range(3):  # concurrency is up to the scheduler: try a few rounds
        with ThreadPoolExecutor(len(starts)) as pool:
            replies = list(pool.map(ask, starts))
        assert [r.json() for r in replies] == alone
        batched_seen = max(batched_seen, *(int(r.headers["X-Rnncast-Batch"]) for r in replies))
        if batched_seen > 1:
            break
    assert batched_seen > 1
