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

The keyed API keeps the wrong-key throttle at its default. The fuzzer's own
requests carry the right key from 127.0.0.1 and are never refused for the
wrong ones; its requests without the right key (Schemathesis' auth probes,
the 401 check below) come from other loopback addresses, as other clients'
would, so each is answered 401 as the check expects rather than the 429 one
address earns after RNNCAST_AUTH_FAILURES_PER_MINUTE guesses. Every
operation must get at least one answer that is not a 429.
"""

from __future__ import annotations

import itertools
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis.errors import FlakyStrategyDefinition
from requests.adapters import HTTPAdapter
from schemathesis.config import SchemathesisConfig
from schemathesis.transport.requests import RequestsTransport, SameHostRedirectsSession

from rnncast.common.settings import Settings
from rnncast.service.main import create_app
from tests.support import Api, RedisServer, start_worker, wait_worker_ready

KEY = "fuzz-key-fuzz-key"
MAX_RESPONSE_S = 5.0
CONFIG = SchemathesisConfig.from_str(f"""
[checks]
max_response_time = {MAX_RESPONSE_S}

# Jobs, comparisons and searches have rules no JSON schema can state: sequence_length
# below data.points, a train/test split that leaves both sides a window, a dataset
# that exists and is long enough to search on, and the server's own limits (epochs,
# training cost, candidates). A schema-valid body may break them, and is then rightly 422.
[[operations]]
include-name = ["POST /v1/jobs", "POST /v1/comparisons", "POST /v1/searches"]
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
# schema cannot state. Model imports likewise: a zip holding a checkpoint whose digest and shapes agree.
[[operations]]
include-name = ["POST /v1/datasets", "POST /v1/models"]
checks.positive_data_acceptance.expected-statuses = ["2xx", 401, 404, 409, 422, 429]

# Webhook subscriptions: a URL's host must resolve, and only to public addresses (the SSRF guard), which is
# known only by resolving it.
[[operations]]
include-name = ["POST /v1/webhooks"]
checks.positive_data_acceptance.expected-statuses = ["2xx", 401, 404, 409, 422, 429]

""")
schema = schemathesis.openapi.from_dict(create_app(Settings(api_key=None)).openapi(), config=CONFIG)
keyed_schema = schemathesis.openapi.from_dict(create_app(Settings(api_key=KEY)).openapi(), config=CONFIG)
SENT: list[int] = []
ANSWERED: dict[str, list[int]] = defaultdict(list)  # "METHOD /path/{template}" -> the statuses it got


class _From(HTTPAdapter):
    """Connections from one loopback source address."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs, source_address=(self.address, 0))


_STRANGERS = itertools.cycle(f"127.0.0.{i}" for i in range(2, 255))
_SESSIONS: dict[str, requests.Session] = {}


def stranger() -> requests.Session:
    """A session of another client: the next of 253 loopback addresses."""
    address = next(_STRANGERS)
    if address not in _SESSIONS:
        _SESSIONS[address] = session = SameHostRedirectsSession()
        session.mount("http://", _From(address))
    return _SESSIONS[address]


class _KeyedTransport(RequestsTransport):
    """Requests without the right key go out as other clients' (see the module's docstring)."""

    def send(self, case: Any, *, session: requests.Session | None = None, **kwargs: Any) -> Any:
        headers = {**(case.headers or {}), **(kwargs.get("headers") or {})}
        if session is None and headers.get("X-API-Key") != KEY:
            session = stranger()
        return super().send(case, session=session, **kwargs)


class _KeyedSchema(type(keyed_schema)):  # type: ignore[misc]
    @property
    def transport(self) -> RequestsTransport:
        return _KEYED_TRANSPORT


_KEYED_TRANSPORT = _KeyedTransport()
_KEYED_TRANSPORT.__dict__.update(vars(keyed_schema.transport))  # the serializers Schemathesis registered
keyed_schema.__class__ = _KeyedSchema


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
    extra = {"RNNCAST_MAX_QUEUED_JOBS": "100000", "RNNCAST_MAX_WEBHOOKS": "100000"}
    apis: list[Api] = []
    worker = start_worker(server.url, tmp / "data", tmp / "predict.log", queues="predict", pool="threads",
                          concurrency=4)
    try:
        wait_worker_ready(server.client())
        apis.append(Api(server.url, tmp / "data", tmp / "open.log", extra=extra))
        # The wrong-key throttle at its default: the fuzzer's own wrong keys must not lock its right key out.
        keyed = {"RNNCAST_API_KEY": KEY}
        apis.append(Api(server.url, tmp / "data", tmp / "keyed.log", extra=extra | keyed))
        yield [Target(apis[0], {}), Target(apis[1], {"X-API-Key": KEY})]
    finally:
        for api in apis:
            api.stop()
        worker.stop()
        server.stop()


def _record(case: Any, status: int) -> None:
    SENT.append(status)
    ANSWERED[f"{case.method.upper()} {case.path}"].append(status)


def _validate(case: Any, target: Target) -> None:
    response = case.call_and_validate(base_url=target.api.url, headers=target.headers, timeout=30)
    _record(case, response.status_code)


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_generated_request_conforms_with_and_without_a_key(case: Any, targets: list[Target]) -> None:
    for target in targets:
        _validate(case, target)
    keyed = targets[1]
    if case.path.startswith("/v1/") or case.path == "/metrics":
        # The same request, without the key, from another client.
        response = case.call(base_url=keyed.api.url, session=stranger(), timeout=30)
        assert response.status_code == 401, (case.method, case.formatted_path, response.status_code)


@pytest.mark.parametrize("keyed", [False, True], ids=["no-key", "key"])
def test_stateful_sequences_follow_the_links_and_conform(targets: list[Target], keyed: bool) -> None:
    target = targets[1] if keyed else targets[0]

    class Machine((keyed_schema if keyed else schema).as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": target.api.url, "headers": target.headers, "timeout": 30}

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None,
                              **kwargs: Any) -> None:
            _record(case, response.status_code)
            try:
                case.validate_response(response, headers=target.headers)
            except Exception as exc:
                failed.append(exc)
                raise

    # Hypothesis checks that a sequence's draws replay the same; here they depend on the server's state, which
    # earlier sequences moved on (a list that was empty is not), and it may stop a run with
    # FlakyStrategyDefinition, which says nothing of the API: a fresh run then, unless a check had failed (while
    # Hypothesis shrank a failure, say): that failure is raised, whatever the attempt.
    failed: list[Exception] = []
    for attempt in range(3):
        try:
            Machine.run(settings=settings(max_examples=15, stateful_step_count=6, deadline=None,
                                          suppress_health_check=list(HealthCheck)))
            return
        except FlakyStrategyDefinition:
            if failed:
                raise failed[0] from None
            if attempt == 2:
                raise


def test_fuzzing_sent_many_requests_and_none_failed(capsys: pytest.CaptureFixture[str]) -> None:
    assert len(SENT) >= 200 and all(code < 500 for code in SENT)
    operations = {f"{op.method.upper()} {op.path}" for op in (r.ok() for r in schema.get_all_operations())}
    untested = sorted(op for op in operations if not any(code != 429 for code in ANSWERED[op]))
    assert not untested, f"operations that only ever got 429: {untested}"
    with capsys.disabled():
        sys.stdout.write(f"\n[fuzz] {len(SENT)} responses checked against the schema, none a 5xx\n")
