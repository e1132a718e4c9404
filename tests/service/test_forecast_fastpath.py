"""The forecast hot path (service.fastpath) answers exactly as the FastAPI route does."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from prometheus_client import REGISTRY
from pydantic import BaseModel

from rnncast.service.fastpath import Answered, JsonFastPath
from rnncast.service.middleware import Metrics
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
    assert fast.content == routed.content  # to the byte


def test_unknown_and_malformed_model_ids_are_404_either_way(stack):
    for model_id in ("0" * 32, "not-an-id"):
        fast = post(stack, model_id, {"start": 1.0, "horizon": 3}, "application/json")
        assert fast.status_code == 404 and fast.content == post(stack, model_id, {"start": 1.0, "horizon": 3},
                                                                ROUTED).content


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


class _Poke(BaseModel):
    values: list[float]


def test_a_body_that_ends_before_its_last_byte_is_neither_run_nor_answered():
    """A body cut off (the client left, or the body guard answered 408 or 413 and gave the app a disconnect) may
    read as well-formed JSON; the fast path runs only a body that arrived whole, and hands nothing on."""
    api = FastAPI()

    @api.post("/things/{thing_id}/poke")
    def poke(thing_id: str, body: _Poke) -> None:
        raise AssertionError("not routed")

    route = next(r for r in api.routes if isinstance(r, APIRoute))
    ran: list = []

    class Recording(JsonFastPath):
        WHAT = "a poke"

        async def target(self, given_id: str) -> str | None:
            return given_id

        async def answer(self, target: str, request: _Poke) -> Answered:
            ran.append(request.values)
            return Answered(200, b"{}")

    async def routed(scope, receive, send) -> None:
        ran.append("routed")

    def call(messages: list[dict]) -> list[dict]:
        sent: list[dict] = []

        async def receive() -> dict:
            return messages.pop(0)

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/things/a/poke", "root_path": "",
                 "headers": [(b"content-type", b"application/json")]}
        asyncio.run(Metrics(Recording(routed, api, route, ""))(scope, receive, send))
        return sent

    counted = {"method": "POST", "route": "/things/{thing_id}/poke", "status": "499"}
    before = REGISTRY.get_sample_value("rnncast_http_requests_total", counted) or 0.0
    cut = call([{"type": "http.request", "body": b'{"values": [1.5]}', "more_body": True}, {"type": "http.disconnect"}])
    assert cut == [] and ran == []
    # counted under its route, as unanswered (the client left), not as a 500 of no route
    assert REGISTRY.get_sample_value("rnncast_http_requests_total", counted) == before + 1
    whole = call([{"type": "http.request", "body": b'{"values": [1.5]', "more_body": True},
                  {"type": "http.request", "body": b"}", "more_body": False}])
    assert [m.get("status") for m in whole] == [200, None] and ran == [[1.5]]


@pytest.mark.parametrize(("body", "loc"), [
    ({"start": "40", "horizon": 3}, ["body", "start"]),
    ({"start": 40.0, "horizon": 3, "fields": ["z"]}, ["body", "fields", 0]),
    ({"context": [0.0] * 20 + ["x"], "horizon": 3}, ["body", "context", 20]),
])
def test_an_optional_fields_bad_value_is_one_error_at_the_fields_place(stack, model_id, body, loc):
    """A value the field's type refuses, not also "Input should be None" for the null it may be, and at the
    field's own location (no tag of pydantic's union branch), by the fast path and the route alike."""
    for content_type in ("application/json", ROUTED):
        r = post(stack, model_id, body, content_type)
        assert r.status_code == 422
        assert [e["loc"] for e in r.json()["detail"]] == [loc], r.json()
