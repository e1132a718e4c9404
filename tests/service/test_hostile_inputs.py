"""Huge inputs are refused early and cheaply: bodies sized to what a request can need, arrays capped by the
schema at the server's own limits, uploads counted as a stream, and no error echoing its input back."""

from __future__ import annotations

import json
import socket

from rnncast.common.defaults import forecast_body_bytes
from rnncast.common.settings import Settings
from tests.support import TINY

SETTINGS = Settings()  # the stack's API runs on the defaults


def _head_only(port: int, head: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head)
        return sock.recv(4096).split(b"\r\n", 1)[0]


def test_a_forecast_body_larger_than_any_context_needs_is_413_from_its_headers(stack):
    limit = forecast_body_bytes(SETTINGS.max_context)
    head = (f"POST /v1/models/{'a' * 32}/forecast HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {limit + 1}\r\n\r\n").encode()
    assert b" 413 " in _head_only(stack.api.port, head)  # answered before a byte of the 2 MB is sent
    body = json.dumps({"context": [0.5] * 1_000_001, "horizon": 5})
    r = stack.api.http.post(f"/v1/models/{'a' * 32}/forecast", content=body,
                            headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_the_schema_states_the_servers_array_limits(stack):
    schema = stack.api.http.get("/openapi.json").json()["components"]["schemas"]
    assert schema["ForecastRequest"]["properties"]["context"]["maxItems"] == SETTINGS.max_context
    assert schema["DatasetValues"]["properties"]["values"]["maxItems"] == SETTINGS.max_dataset_points


def test_a_422_echoes_only_an_excerpt_of_a_large_input(stack):
    context = [0.25] * (SETTINGS.max_context + 1)
    r = stack.api.http.post(f"/v1/models/{'a' * 32}/forecast", json={"context": context, "horizon": 5})
    assert r.status_code == 422 and "RNNCAST_MAX_CONTEXT" in r.text
    assert len(r.content) < 2_000, len(r.content)  # not the 10,001 values
    r = stack.api.http.post("/v1/jobs", json={"cell": "GRU", **TINY, "name": "n" * 1_000_000})
    assert r.status_code == 422 and len(r.content) < 2_000, len(r.content)
    r = stack.api.http.post("/v1/jobs", json={"cell": "GRU", **TINY, "unknown": list(range(100_000))})
    assert r.status_code == 422 and len(r.content) < 2_000, len(r.content)


def test_a_json_dataset_over_the_limit_is_refused_while_it_is_read(stack):
    count = stack.api.http.get("/v1/datasets").json()["count"]
    body = '{"name": "huge", "values": [' + ",".join(["1.25"] * (SETTINGS.max_dataset_points + 1)) + "]}"
    r = stack.api.http.post("/v1/datasets", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "RNNCAST_MAX_DATASET_POINTS" in r.text and len(r.content) < 2_000, r.text[:300]
    assert stack.api.http.get("/v1/datasets").json()["count"] == count


def test_a_csv_field_over_the_csv_modules_limit_is_422_not_500(stack):
    text = "v\n1\n2\n" + "x" * 200_000 + "\n3\n"
    r = stack.api.http.post("/v1/datasets", content=text, headers={"Content-Type": "text/csv"})
    assert r.status_code == 422 and "row 4" in r.text and "field larger than field limit" in r.text, r.text[:300]


def test_a_csv_header_name_is_stored_bounded(stack):
    name = "c" * 100_000
    text = f"{name}\n1\n2\n3\n4\n"
    r = stack.api.http.post("/v1/datasets", content=text, headers={"Content-Type": "text/csv"})
    assert r.status_code == 201, r.text[:300]
    assert len(r.json()["source"]["column"]) <= 200
    stack.api.http.delete(f"/v1/datasets/{r.json()['id']}")
