"""The gate under a root_path, against cross-site pages, with malformed tokens and guessed keys."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys
import uuid

import httpx
import pytest

from rnncast.common.settings import Settings
from rnncast.service.gate import stream_token
from tests.support import ROOT, TINY, Api

KEY = "gate-key-0123456789"


@pytest.fixture
def keyed(stack, tmp_path):
    api = Api(stack.redis.url, stack.data_dir, tmp_path / "api.log", extra={"RNNCAST_API_KEY": KEY},
              args=("--root-path", "/api"))
    yield api
    api.stop()


def job_count(http: httpx.Client, headers: dict[str, str] | None = None) -> int:
    return int(http.get("/v1/jobs", headers=headers or {}).json()["count"])


def test_the_key_is_needed_under_a_root_path(keyed):
    """uvicorn --root-path /api: a proxy strips /api and forwards /v1/jobs, which the app sees as
    /api/v1/jobs with root_path /api and routes as /v1/jobs."""
    ok = {"X-API-Key": KEY}
    for path in ("/v1/jobs", "/v1/datasets", "/metrics", "/api/v1/jobs", "/v1/models"):
        assert keyed.http.get(path).status_code == 401, path
    assert keyed.http.get("/v1/jobs", headers=ok).status_code == 200
    assert keyed.http.get("/healthz").status_code == 200  # open paths stay open
    # A path no route knows needs the key too: nothing is open by being unlisted.
    assert keyed.http.get("/v2/jobs").status_code == 401


def test_cross_site_state_changes_are_refused_with_or_without_a_key(stack, keyed):
    before = job_count(stack.api.http)
    body = '{"cell": "GRU", "epochs": 1}'
    attacks = [
        {"Origin": "http://evil.example", "Content-Type": "text/plain"},
        {"Origin": "null", "Content-Type": "text/plain"},
        {"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://localhost:3000", "Content-Type": "application/json"},
    ]
    for headers in attacks:
        r = stack.api.http.post("/v1/jobs", content=body, headers=headers)
        assert r.status_code == 403 and "cross-site" in r.json()["detail"], headers
    files = {"file": ("x.csv", b"1\n2\n3\n4\n5\n", "text/csv")}
    r = stack.api.http.post("/v1/datasets", files=files, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    assert job_count(stack.api.http) == before  # nothing was created
    # The key does not make a cross-site request acceptable.
    r = keyed.http.post("/v1/jobs", json={"cell": "GRU", **TINY},
                        headers={"X-API-Key": KEY, "Origin": "http://evil.example"})
    assert r.status_code == 403
    # The API's own pages, and clients that are no browser, still work.
    own = {"Origin": stack.api.url, "Sec-Fetch-Site": "same-origin"}
    r = stack.api.http.post("/v1/jobs", json={"cell": "GRU", **TINY}, headers=own)
    assert r.status_code == 202, r.text
    assert stack.api.http.post("/v1/jobs", json={"cell": "GRU", **TINY}).status_code == 202
    assert stack.api.http.get("/v1/jobs", headers={"Origin": "http://evil.example"}).status_code == 200  # reads


def test_cross_site_gets_that_make_a_worker_compute_are_refused(stack, keyed):
    some = uuid.uuid4().hex
    computing = [f"/v1/models/{some}/forecast.png", f"/v1/models/{some}/backtest.png",
                 f"/v1/comparisons/{some}/loss.png", f"/v1/comparisons/{some}/forecast.png",
                 f"/v1/datasets/{some}/plot.png"]
    for path in computing:
        for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "http://evil.example"}):
            r = stack.api.http.get(path, headers=headers)
            assert r.status_code == 403 and "cross-site" in r.json()["detail"], (path, headers)
        # Its own pages (and clients that are no browser) get the answer: here a 404, nothing by that id.
        assert stack.api.http.get(path, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 404, path
        assert stack.api.http.get(path).status_code == 404, path
    # With a key and under a root_path too; a read that computes nothing stays open to other sites.
    with_key = {"X-API-Key": KEY, "Sec-Fetch-Site": "cross-site"}
    assert keyed.http.get(f"/v1/models/{some}/forecast.png", headers=with_key).status_code == 403
    assert keyed.http.get("/v1/models", headers=with_key).status_code == 200


@pytest.mark.parametrize("token", ["%C2%B2.x", "9" * 5000 + ".x", "1.%FF", ".", "x" * 10_000])
def test_a_malformed_stream_token_is_401_not_500(keyed, token):
    r = keyed.http.get(f"/v1/jobs/{uuid.uuid4().hex}/events?token={token}")
    assert r.status_code == 401, (token[:20], r.status_code, r.text[:200])


def test_stream_tokens_are_not_signed_with_the_raw_key():
    job, expires = "a" * 32, 2_000_000_000
    raw = hmac.new(KEY.encode(), f"events:{job}:{expires}".encode(), hashlib.sha256).hexdigest()
    assert stream_token(KEY.encode(), job, expires) != f"{expires}.{raw}"


def test_repeated_wrong_keys_from_one_address_are_throttled(keyed):
    for _ in range(Settings().auth_failures_per_minute):
        assert keyed.http.get("/v1/jobs", headers={"X-API-Key": "wrong-key-wrong-key"}).status_code == 401
    r = keyed.http.get("/v1/jobs", headers={"X-API-Key": "wrong-key-wrong-key"})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert keyed.http.get("/v1/jobs", headers={"X-API-Key": KEY}).status_code == 200  # never the right key
    assert keyed.http.get("/healthz").status_code == 200


def test_a_short_api_key_stops_start_up_with_one_line(tmp_path):
    env = {"RNNCAST_API_KEY": "short", "RNNCAST_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "rnncast.client", "api", "--port", "1"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    lines = out.stderr.strip().splitlines()
    assert out.returncode != 0 and len(lines) == 1 and "at least 16 characters" in lines[0], out.stderr
