"""Error mapping and retries of the client, at the transport edge (httpx.MockTransport)."""

from __future__ import annotations

import json

import httpx
import pytest

from rnncast.client.api import Client
from rnncast.client.errors import (
    ApiUnavailable,
    AuthError,
    Conflict,
    InvalidRequest,
    NotFound,
    RateLimited,
    RnncastError,
)
from tests.support import free_port


def client_for(handler) -> Client:
    return Client("http://rnncast.test", transport=httpx.MockTransport(handler), retries=2)


@pytest.mark.parametrize(
    ("status", "detail", "kind", "text"),
    [
        (401, "missing or wrong API key", AuthError, "401: missing or wrong API key"),
        (404, "job 'x' not found", NotFound, "404: job 'x' not found"),
        (409, "job already ended", Conflict, "409"),
        (413, "request body is larger than 4194304 bytes", InvalidRequest, "413"),
        (422, [{"loc": ["body", "hidden_size"], "msg": "Input should be >= 1"}], InvalidRequest,
         "422: hidden_size: Input should be >= 1"),
        (429, "queue is full", RateLimited, "429"),
        (503, "Redis (the job store) is unavailable", ApiUnavailable, "503: Redis"),
        (500, "boom", RnncastError, "500: boom"),
    ],
)
def test_http_errors_map_to_the_exception_tree(status, detail, kind, text):
    with client_for(lambda request: httpx.Response(status, json={"detail": detail})) as c:
        with pytest.raises(kind) as info:
            c.job("x")
    assert str(info.value).startswith(text) and info.value.status == status
    assert info.value.detail == detail


def test_connection_refused_is_api_unavailable():
    with Client(f"http://127.0.0.1:{free_port()}", retries=0) as c, pytest.raises(ApiUnavailable, match="cannot reach"):
        c.jobs()


def test_connection_errors_are_retried_for_safe_calls_only_then_succeed():
    calls = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) < 3:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"data": [], "count": 0})

    with client_for(flaky) as c:
        assert c.jobs().count == 0
    assert len(calls) == 3


def test_submits_carry_an_idempotency_key_so_a_retry_cannot_duplicate():
    keys = []

    def flaky(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers.get("Idempotency-Key"))
        if len(keys) == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(422, json={"detail": "stop here"})

    with client_for(flaky) as c, pytest.raises(InvalidRequest):
        c.train("LSTM")
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]


def test_read_timeouts_are_not_retried():
    calls = []

    def slow(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("slow", request=request)

    with client_for(slow) as c, pytest.raises(ApiUnavailable, match="timed out"):
        c.forecast("m", start=1.0)
    assert len(calls) == 1


def test_api_key_is_sent_as_bearer(monkeypatch):
    seen = []
    monkeypatch.setenv("RNNCAST_API_KEY", "k3y")
    transport = httpx.MockTransport(lambda r: seen.append(r.headers.get("authorization"))
                                    or httpx.Response(200, json={"data": [], "count": 0}))
    with Client("http://x", transport=transport) as c:
        c.models()
    assert seen == ["Bearer k3y"]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_a_value_json_cannot_carry_is_an_invalid_request_and_nothing_is_sent(value):
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    with client_for(record) as c, pytest.raises(InvalidRequest, match="NaN or an infinity"):
        c.observe("a" * 32, [1.0, value])
    assert sent == []


def test_a_json_body_goes_as_json():
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(404, json={"detail": "session 'x' not found"})

    with client_for(record) as c, pytest.raises(NotFound):
        c.observe("a" * 32, [1.5], horizon=2)
    assert sent[0].headers["content-type"] == "application/json"
    assert json.loads(sent[0].content) == {"values": [1.5], "horizon": 2}


SESSION_ANSWER = {"session_id": "a" * 32, "observed": 4, "expires_at": "2026-12-07T00:00:00.000Z",
                  "forecast": {"model_id": "b" * 32, "horizon": 1, "x": [0.0], "y": [0.5]}}


@pytest.mark.parametrize("lost", [httpx.RemoteProtocolError("went"), httpx.ReadError("reset"),
                                  httpx.ConnectError("refused")])
def test_an_observe_stating_its_count_is_sent_again_where_it_got_no_answer(lost):
    bodies = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        if len(bodies) < 5:  # the connect errors' own retries (2) and then the observe's
            raise lost
        return httpx.Response(200, json=SESSION_ANSWER)

    assert client_for(handler).observe("a" * 32, [0.5], after=3).observed == 4
    assert len(bodies) == 5 and all(b == {"values": [0.5], "after": 3} for b in bodies)


@pytest.mark.parametrize("failure", [httpx.RemoteProtocolError("went"), httpx.ReadTimeout("slow"),
                                     httpx.Response(503, json={"detail": "no predict worker"})])
def test_an_observe_is_not_sent_again_without_its_count_nor_after_a_timeout_or_an_answer(failure):
    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        if isinstance(failure, Exception):
            raise failure
        return failure

    c = client_for(handler)
    stated = isinstance(failure, httpx.RemoteProtocolError)
    with pytest.raises(ApiUnavailable):
        c.observe("a" * 32, [0.5], **({} if stated else {"after": 3}))
    assert len(sent) == 1
