"""Redis outages and API keys, each against its own API process."""

from __future__ import annotations

import socket

import pytest

from tests.support import TINY, Api, RedisServer, wait_until

KEY = "s3cret-s3cret-s3cret"


@pytest.fixture
def private_redis(tmp_path):
    server = RedisServer(tmp_path / "redis", aof=True).start()
    yield server
    server.stop()


def test_redis_down_gives_503_with_retry_after_and_recovers_by_itself(private_redis, tmp_path):
    api = Api(private_redis.url, tmp_path / "data", tmp_path / "api.log")
    try:
        queued = api.http.post("/v1/jobs", json={"cell": "LSTM", **TINY})
        assert queued.status_code == 202
        private_redis.stop()
        for method, path in [("GET", "/v1/jobs"), ("GET", f"/v1/jobs/{queued.json()['id']}"),
                             ("POST", "/v1/jobs")]:
            r = api.http.request(method, path, json={"cell": "LSTM"} if method == "POST" else None)
            assert r.status_code == 503, (path, r.text)
            assert "Redis" in r.json()["detail"] and r.headers["Retry-After"]
        ready = api.http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["redis"] == "unavailable"
        assert api.http.get("/healthz").status_code == 200
        private_redis.start()  # same port, AOF: the queued job is still there
        wait_until(lambda: api.http.get("/v1/jobs").status_code == 200, timeout=20)
        assert api.http.get(f"/v1/jobs/{queued.json()['id']}").json()["status"] == "queued"
        # No worker runs here: readiness says so.
        assert api.http.get("/readyz").json() == {"redis": "ok", "workers": 0, "devices": [], "queues": {}, "lanes": 0,
                                                  "lanes_not_serving": []}
    finally:
        api.stop()


def test_queued_job_cancels_at_once(private_redis, tmp_path):
    api = Api(private_redis.url, tmp_path / "data", tmp_path / "api.log")
    try:
        job = api.http.post("/v1/jobs", json={"cell": "RNN", **TINY}).json()
        r = api.http.post(f"/v1/jobs/{job['id']}/cancel")
        assert r.status_code == 202 and r.json()["status"] == "cancelled" and r.json()["finished_at"]
        assert api.http.post(f"/v1/jobs/{job['id']}/cancel").status_code == 409
    finally:
        api.stop()


def test_api_key_guards_v1_but_not_health(private_redis, tmp_path):
    api = Api(private_redis.url, tmp_path / "data", tmp_path / "api.log", extra={"RNNCAST_API_KEY": KEY})
    try:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"}, {"Authorization": KEY}):
            r = api.http.get("/v1/jobs", headers=headers)
            assert r.status_code == 401 and "API key" in r.json()["detail"], headers
        assert api.http.post("/v1/jobs", json={"cell": "GRU"}).status_code == 401
        for headers in ({"Authorization": f"Bearer {KEY}"}, {"X-API-Key": KEY}):
            assert api.http.get("/v1/jobs", headers=headers).status_code == 200
        for path in ("/healthz", "/openapi.json", "/docs"):
            assert api.http.get(path).status_code == 200
        assert api.http.get("/readyz").status_code == 503  # open, but no worker
        assert api.http.get("/metrics").status_code == 401  # needs the key unless RNNCAST_METRICS_PUBLIC
        assert api.http.get("/metrics", headers={"X-API-Key": KEY}).status_code == 200
        assert api.http.get(f"/v1/jobs/{'a' * 32}/events").status_code == 401
    finally:
        api.stop()


def test_metrics_can_be_public_with_a_key_set(private_redis, tmp_path):
    api = Api(private_redis.url, tmp_path / "data", tmp_path / "api.log",
              extra={"RNNCAST_API_KEY": KEY, "RNNCAST_METRICS_PUBLIC": "true"})
    try:
        assert api.http.get("/metrics").status_code == 200
        assert api.http.get("/v1/jobs").status_code == 401
    finally:
        api.stop()


def _raw_request(port: int, head: bytes, timeout: float = 5.0) -> bytes:
    """Send only `head` (request line and headers, no body) and read the answer's status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        return sock.recv(4096).split(b"\r\n", 1)[0]


def test_a_request_without_the_key_is_refused_before_its_body_is_read(private_redis, tmp_path):
    api = Api(private_redis.url, tmp_path / "data", tmp_path / "api.log", extra={"RNNCAST_API_KEY": KEY})
    try:
        # A 4 MB body is announced but never sent: only a check made from the headers can answer.
        head = (b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 4000000\r\n\r\n")
        assert b" 401 " in _raw_request(api.port, head)
    finally:
        api.stop()


def test_without_a_key_only_loopback_host_names_are_served(private_redis, tmp_path):
    api = Api(private_redis.url, tmp_path / "data", tmp_path / "api.log")
    try:
        for host in ("evil.example", "evil.example:80", "10.0.0.1", "localhost.evil.example"):
            r = api.http.get("/v1/jobs", headers={"Host": host})
            assert r.status_code == 421 and "localhost" in r.json()["detail"], host
        for host in ("localhost", f"localhost:{api.port}", f"127.0.0.1:{api.port}", "[::1]", f"[::1]:{api.port}"):
            assert api.http.get("/v1/jobs", headers={"Host": host}).status_code == 200, host
    finally:
        api.stop()


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/comparisons"])
def test_a_retry_after_a_failed_enqueue_creates_the_job(private_redis, tmp_path, path):
    api = Api(private_redis.url, tmp_path / "data", tmp_path / "api.log")
    r = private_redis.client()
    body = {"cell": "RNN", **TINY} if path == "/v1/jobs" else {"cells": ["RNN"], "train": TINY}
    headers = {"Idempotency-Key": f"retry-{path[4:]}"}
    try:
        r.set("train", "not a queue")  # the broker's LPUSH onto the train queue now fails
        failed = api.http.post(path, json=body, headers=headers)
        assert failed.status_code == 503, failed.text
        r.delete("train")
        retried = api.http.post(path, json=body, headers=headers)
        assert retried.status_code == 202 and retried.json() is not None, retried.text
        assert "Idempotent-Replayed" not in retried.headers
        created = retried.json()
        assert created["status"] in ("queued", "running")
        assert api.http.get(f"{path}/{created['id']}").status_code == 200
        again = api.http.post(path, json=body, headers=headers)
        assert again.json()["id"] == created["id"] and again.headers["Idempotent-Replayed"] == "true"
        assert r.llen("train") >= 1
    finally:
        r.delete("train")
        api.stop()
