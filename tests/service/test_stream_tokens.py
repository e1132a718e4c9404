"""Stream tokens: what lets a browser's EventSource (which cannot send headers) read one job's events."""

from __future__ import annotations

import time

from rnncast.service.gate import stream_token, token_opens
from tests.support import TINY, Api, wait_until

KEY = b"k" * 20
JOB = "a" * 32
EVENTS = f"/v1/jobs/{JOB}/events"


def query(token: str) -> bytes:
    return f"token={token}&last_event_id=3-0".encode()


def test_a_token_opens_its_jobs_stream_until_it_expires():
    fresh = stream_token(KEY, JOB, int(time.time()) + 60)
    assert token_opens(KEY, EVENTS, query(fresh))
    expired = stream_token(KEY, JOB, int(time.time()) - 1)
    assert not token_opens(KEY, EVENTS, query(expired))


def test_a_token_opens_nothing_else():
    token = stream_token(KEY, JOB, int(time.time()) + 60)
    assert not token_opens(KEY, f"/v1/jobs/{'b' * 32}/events", query(token))  # another job's stream
    assert not token_opens(KEY, f"/v1/jobs/{JOB}", query(token))  # the job itself
    assert not token_opens(KEY, "/v1/jobs", query(token))
    assert not token_opens(b"another key", EVENTS, query(token))  # signed with another key
    expires, _, signature = token.partition(".")
    later = str(int(expires) + 3600)
    assert not token_opens(KEY, EVENTS, query(f"{later}.{signature}"))  # a longer life, same signature
    assert not token_opens(KEY, EVENTS, f"token={token}&token={token}".encode())
    assert not token_opens(KEY, EVENTS, b"")


def test_the_api_issues_tokens_to_key_holders_only(stack, tmp_path):
    api = Api(stack.redis.url, stack.data_dir, tmp_path / "api.log", extra={"RNNCAST_API_KEY": "sekrit-sekrit-sekrit"})
    try:
        headers = {"X-API-Key": "sekrit-sekrit-sekrit"}
        job = api.http.post("/v1/jobs", json={"cell": "RNN", **TINY}, headers=headers).json()
        assert api.http.post(f"/v1/jobs/{job['id']}/events/token").status_code == 401
        issued = api.http.post(f"/v1/jobs/{job['id']}/events/token", headers=headers).json()
        assert issued["expires_in"] == 600 and "sekrit-sekrit-sekrit" not in issued["token"]
        with api.http.stream("GET", f"/v1/jobs/{job['id']}/events", params={"token": issued["token"]}) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            lines = []
            for line in r.iter_lines():
                lines.append(line)
                if '"status": "succeeded"' in line or '"status":"succeeded"' in line:
                    break
        assert any(line.startswith("event: epoch") for line in lines)
        assert api.http.get(f"/v1/jobs/{job['id']}/events", params={"token": "1.abc"}).status_code == 401
        # Without a key there is nothing to sign: the token is null and the stream needs none.
        open_token = stack.api.http.post(f"/v1/jobs/{job['id']}/events/token").json()
        assert open_token == {"token": None, "expires_in": None}
    finally:
        api.stop()


def test_a_stream_token_never_reaches_the_access_log(stack, tmp_path):
    key = "sekrit-sekrit-sekrit"
    api = Api(stack.redis.url, stack.data_dir, tmp_path / "api.log", extra={"RNNCAST_API_KEY": key},
              log_level="info")
    try:
        headers = {"X-API-Key": key}
        job = api.http.post("/v1/jobs", json={"cell": "RNN", **TINY}, headers=headers).json()
        token = api.http.post(f"/v1/jobs/{job['id']}/events/token", headers=headers).json()["token"]
        with api.http.stream("GET", f"/v1/jobs/{job['id']}/events", params={"token": token}) as r:
            assert r.status_code == 200
        wait_until(lambda: "/events?token=" in api.proc.log())
    finally:
        api.stop()
    log = api.proc.log()
    assert f"/v1/jobs/{job['id']}/events?token=REDACTED" in log, log
    assert token not in log and token.partition(".")[2] not in log
