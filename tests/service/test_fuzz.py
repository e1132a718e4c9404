"""Schema-driven fuzzing: requests generated from our own OpenAPI schema never get a 5xx.

Runs against a real API on a private Redis with no worker, so generated
training jobs only queue (and forecasts find no model).
"""

from __future__ import annotations

import sys

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from service.main import create_app
from tests.support import Api, RedisServer

schema = schemathesis.openapi.from_dict(create_app().openapi())
SENT: list[int] = []


@pytest.fixture(scope="module")
def fuzz_api(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    server = RedisServer(tmp / "redis").start()
    api = Api(server.url, tmp / "data", tmp / "api.log", extra={"RNNCAST_MAX_QUEUED_JOBS": "100000"})
    yield api
    api.stop()
    server.stop()


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_server_error(case, fuzz_api):
    response = case.call(base_url=fuzz_api.url, timeout=30)
    # /readyz is 503 by design here: no worker is running.
    code = 200 if case.path == "/readyz" and response.status_code == 503 else response.status_code
    SENT.append(code)
    assert code < 500, (case.method, case.formatted_path, case.body, response.text[:300])


def test_fuzzing_sent_many_requests_and_none_failed(capsys):
    assert len(SENT) >= 100 and all(code < 500 for code in SENT)
    with capsys.disabled():
        sys.stdout.write(f"\n[fuzz] {len(SENT)} generated requests, 0 with a 5xx\n")
