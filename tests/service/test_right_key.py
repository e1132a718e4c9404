"""The wrong-key throttle refuses guesses, never the right credentials from the same address; every operation
the gate guards documents the 429 it may answer."""

from __future__ import annotations

import pytest

from rnncast.common.settings import Settings
from tests.support import TINY, Api, RedisServer

KEY = "right-key-0123456789"
WRONG = {"X-API-Key": "wrong-key-wrong-key"}


@pytest.fixture
def keyed(tmp_path):
    redis = RedisServer(tmp_path / "redis").start()
    api = Api(redis.url, tmp_path / "data", tmp_path / "api.log", extra={"RNNCAST_API_KEY": KEY})
    yield api
    api.stop()
    redis.stop()


def test_an_address_throttled_for_wrong_keys_still_serves_the_right_key(keyed):
    right = {"X-API-Key": KEY}
    job = keyed.http.post("/v1/jobs", json={"cell": "GRU", **TINY}, headers=right).json()
    token = keyed.http.post(f"/v1/jobs/{job['id']}/events/token", headers=right).json()["token"]
    for _ in range(Settings().auth_failures_per_minute):  # someone else behind the same address guesses
        assert keyed.http.get("/v1/jobs", headers=WRONG).status_code == 401
    r = keyed.http.get("/v1/jobs", headers=WRONG)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0  # the guesses stay throttled
    assert keyed.http.get("/v1/jobs").status_code == 429  # and so do requests without credentials
    assert keyed.http.get("/v1/jobs", headers=right).status_code == 200
    assert keyed.http.get("/v1/jobs", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    r = keyed.http.post("/v1/jobs", json={"cell": "GRU", **TINY}, headers=right)
    assert r.status_code == 202, r.text
    with keyed.http.stream("GET", f"/v1/jobs/{job['id']}/events?token={token}") as stream:
        assert stream.status_code == 200  # a stream token is the right credential too
    assert keyed.http.get("/v1/jobs", headers=WRONG).status_code == 429


def test_every_guarded_operation_documents_429(keyed):
    document = keyed.http.get("/openapi.json").json()
    guarded = [(method, path, op) for path, ops in document["paths"].items() for method, op in ops.items()
               if op.get("security")]
    assert len(guarded) > 25
    undocumented = [f"{method} {path}" for method, path, op in guarded if not {"401", "429"} <= set(op["responses"])]
    assert undocumented == []
