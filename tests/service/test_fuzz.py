"""Schema-driven fuzzing with every check Schemathesis has, with and without an API key.

Each generated request goes to two real APIs on a private Redis with a
predict worker but no training one (jobs only queue, forecasts find no
model, figures are drawn): one without a key and one with a key. Responses must conform to our own OpenAPI schema
(status codes, content types, headers, bodies, Allow on 405), valid data
must be accepted and invalid data rejected, and each must answer within
MAX_RESPONSE_S. A stateful phase then follows the schema's links (create a
job, read it, cancel it, follow its events, delete it; the same for
comparisons). With a key, the same request without it must get a 401.
Each instance's document describes it: the keyed one declares its security
schemes (so the stateful phase also checks that it refuses a request without
them), the one without a key declares none (so nothing it answers is
"accepted without authentication").
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from rnncast.common.settings import Settings
from rnncast.service.main import create_app
from tests.support import Api, RedisServer, start_worker, wait_worker_ready

KEY = "fuzz-key-fuzz-key"
MAX_RESPONSE_S = 5.0
CONFIG = SchemathesisConfig.from_str(f"""
[checks]
max_response_time = {MAX_RESPONSE_S}

# Jobs and comparisons have rules no JSON schema can state: sequence_length
# below data.points, a train/test split that leaves both sides a window, and
# the server's own limits (epochs, training cost). A schema-valid body may
# break them, and is then rightly 422.
[[operations]]
include-name = ["POST /v1/jobs", "POST /v1/comparisons"]
checks.positive_data_acceptance.expected-statuses = ["2xx", 401, 404, 409, 422, 429]

# Forecasts, backtests and ensembles: the server's limits (RNNCAST_MAX_HORIZON, RNNCAST_MAX_CONTEXT)
# sit below the schema's caps, and what fits a model (its sequence_length, a dataset's
# length and test part) is known only once the model is looked up.
[[operations]]
include-name = ["POST /v1/models/{{model_id}}/forecast", "POST /v1/models/{{model_id}}/backtest",
                "GET /v1/models/{{model_id}}/backtest.png", "GET /v1/models/{{model_id}}/forecast.png",
                "POST /v1/comparisons/{{comparison_id}}/forecast", "GET /v1/comparisons/{{comparison_id}}/forecast.png"]
checks.positive_data_acceptance.expected-statuses = ["2xx", 401, 404, 409, 422, 429]

# Dataset uploads: a CSV's content (numbers in the value column, increasing times, at
# least 3 rows) and the server's RNNCAST_MAX_DATASET_POINTS are rules a string or binary
# schema cannot state.
[[operations]]
include-name = ["POST /v1/datasets"]
checks.positive_data_acceptance.expected-statuses = ["2xx", 401, 404, 409, 422, 429]

""")
schema = schemathesis.openapi.from_dict(create_app(Settings(api_key=None)).openapi(), config=CONFIG)
keyed_schema = schemathesis.openapi.from_dict(create_app(Settings(api_key=KEY)).openapi(), config=CONFIG)
SENT: list[int] = []


@dataclass
class Target:
    api: Api
    headers: dict[str, str]

    @property
    def keyed(self) -> bool:
        return bool(self.headers)


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Target]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    server = RedisServer(tmp / "redis").start()
    extra = {"RNNCAST_MAX_QUEUED_JOBS": "100000"}
    apis: list[Api] = []
    worker = start_worker(server.url, tmp / "data", tmp / "predict.log", queues="predict", pool="threads",
                          concurrency=4)
    try:
        wait_worker_ready(server.client())
        apis.append(Api(server.url, tmp / "data", tmp / "open.log", extra=extra))
        # The fuzzer presents many wrong keys: no 429 for them here (the throttle has its own test).
        keyed = {"RNNCAST_API_KEY": KEY, "RNNCAST_AUTH_FAILURES_PER_MINUTE": "0"}
        apis.append(Api(server.url, tmp / "data", tmp / "keyed.log", extra=extra | keyed))
        yield [Target(apis[0], {}), Target(apis[1], {"X-API-Key": KEY})]
    finally:
        for api in apis:
            api.stop()
        worker.stop()
        server.stop()


def _validate(case: Any, target: Target) -> None:
    response = case.call_and_validate(base_url=target.api.url, headers=target.headers, timeout=30)
    SENT.append(response.status_code)


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_generated_request_conforms_with_and_without_a_key(case: Any, targets: list[Target]) -> None:
    for target in targets:
        _validate(case, target)
    keyed = targets[1]
    if case.path.startswith("/v1/") or case.path == "/metrics":
        response = case.call(base_url=keyed.api.url, timeout=30)  # the same request, without the key
        assert response.status_code == 401, (case.method, case.formatted_path, response.status_code)


@pytest.mark.parametrize("keyed", [False, True], ids=["no-key", "key"])
def test_stateful_sequences_follow_the_links_and_conform(targets: list[Target], keyed: bool) -> None:
    target = targets[1] if keyed else targets[0]

    class Machine((keyed_schema if keyed else schema).as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": target.api.url, "headers": target.headers, "timeout": 30}

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None,
                              **kwargs: Any) -> None:
            SENT.append(response.status_code)
            case.validate_response(response, headers=target.headers)

    Machine.run(settings=settings(max_examples=15, stateful_step_count=6, deadline=None,
                                  suppress_health_check=list(HealthCheck)))


def test_fuzzing_sent_many_requests_and_none_failed(capsys: pytest.CaptureFixture[str]) -> None:
    assert len(SENT) >= 200 and all(code < 500 for code in SENT)
    with capsys.disabled():
        sys.stdout.write(f"\n[fuzz] {len(SENT)} responses checked against the schema, none a 5xx\n")
