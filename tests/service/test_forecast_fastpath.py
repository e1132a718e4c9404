"""The forecast hot path (service.fastpath) answers exactly as the FastAPI route does."""

from __future__ import annotations

import json

import pytest

from tests.support import TINY

# A JSON media type FastAPI's route reads and the fast path leaves to it.
ROUTED = "application/vnd.rnncast+json"


@pytest.fixture(scope="module")
def model_id(stack) -> str:
    job = stack.api.http.post("/v1/jobs", json={"cell": "LSTM", **TINY}).json()
    return str(stack.api.wait_job(job["id"])["model_id"])


def post(stack, model_id: str, body: dict, content_type: str):
    headers = {"Content-Type": content_type}
    return stack.api.http.post(f"/v1/models/{model_id}/forecast", content=json.dumps(body).encode(), headers=headers)


def test_the_fast_path_and_the_route_give_the_same_answer(stack, model_id):
    body = {"start": 40.0, "horizon": 12}
    fast = post(stack, model_id, body, "application/json")
    routed = post(stack, model_id, body, ROUTED)
    assert fast.status_code == routed.status_code == 200
    assert fast.json() == routed.json()
    assert fast.headers["content-type"] == routed.headers["content-type"] == "application/json"
    assert int(fast.headers["x-rnncast-batch"]) >= 1 and int(routed.headers["x-rnncast-batch"]) >= 1


@pytest.mark.parametrize("body", [
    {"start": 40.0, "horizon": 0}, {"start": 40.0, "context": [0.0] * 20, "horizon": 3},
    {"start": "40", "horizon": 3}, {"start": 40.0, "horizon": 20_000}, {"context": [0.0] * 20_000, "horizon": 3},
])
def test_what_the_fast_path_refuses_gets_the_routes_own_error(stack, model_id, body):
    fast = post(stack, model_id, body, "application/json")
    routed = post(stack, model_id, body, ROUTED)
    assert fast.status_code == routed.status_code == 422
    assert fast.json() == routed.json()


def test_unknown_and_malformed_model_ids_are_404_either_way(stack):
    for model_id in ("0" * 32, "not-an-id"):
        fast = post(stack, model_id, {"start": 1.0, "horizon": 3}, "application/json")
        assert fast.status_code == 404 and fast.json() == post(stack, model_id, {"start": 1.0, "horizon": 3},
                                                               ROUTED).json()


def test_fields_asks_for_a_leaner_answer(stack, model_id):
    full = post(stack, model_id, {"start": 40.0, "horizon": 5}, "application/json").json()
    lean = post(stack, model_id, {"start": 40.0, "horizon": 5, "fields": ["y"]}, "application/json").json()
    assert lean == {"model_id": model_id, "horizon": 5, "y": full["y"]}
    some = post(stack, model_id, {"start": 40.0, "horizon": 5, "fields": ["mse", "x"]}, "application/json").json()
    assert some == {"model_id": model_id, "horizon": 5, "x": full["x"], "mse": full["mse"]}
    bad = post(stack, model_id, {"start": 40.0, "horizon": 5, "fields": ["z"]}, "application/json")
    assert bad.status_code == 422


def test_forecasts_are_counted_under_their_route_in_the_metrics(stack, model_id):
    post(stack, model_id, {"start": 40.0, "horizon": 3}, "application/json")
    text = stack.api.http.get("/metrics").text
    assert 'route="/v1/models/{model_id}/forecast",status="200"' in text
