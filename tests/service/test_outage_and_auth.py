"""Redis outages and API keys, each against its own API process."""

from __future__ import annotations

import pytest

from tests.support import TINY, Api, RedisServer, wait_until


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
        assert api.http.get("/readyz").json() == {"redis": "ok", "workers": 0}
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
    api = Api(private_redis.url, tmp_path / "data", tmp_path / "api.log", extra={"RNNCAST_API_KEY": "s3cret"})
    try:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"}, {"Authorization": "s3cret"}):
            r = api.http.get("/v1/jobs", headers=headers)
            assert r.status_code == 401 and "API key" in r.json()["detail"], headers
        assert api.http.post("/v1/jobs", json={"cell": "GRU"}).status_code == 401
        for headers in ({"Authorization": "Bearer s3cret"}, {"X-API-Key": "s3cret"}):
            assert api.http.get("/v1/jobs", headers=headers).status_code == 200
        for path in ("/healthz", "/metrics", "/openapi.json"):
            assert api.http.get(path).status_code == 200
        assert api.http.get("/readyz").status_code == 503  # open, but no worker
    finally:
        api.stop()
