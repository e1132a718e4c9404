"""The forecast lane between the API and the predict worker, driven on the real Redis it uses."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from rnncast.common.forecasts import INBOX_TTL_S, decode_answer, encode_request
from rnncast.common.rollout_work import forecast_work, rows_within
from rnncast.common.settings import Settings
from rnncast.common.store import Keys
from rnncast.common.store.lane_ops import Admitted
from tests.service.test_models import forecast, train_model
from tests.support import wait_until


@pytest.fixture(scope="module")
def model(stack):
    return train_model(stack, name="lane")


def _message(model, **body):
    return {"model_id": model["id"], "sha256": model["checkpoint"]["sha256"], **body}


def _answers(stack, inbox, n, timeout=30):
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        item = stack.r.blpop([Keys.replies(inbox)], timeout=1)
        if item:
            got.append(decode_answer(item[1]))
    return {a.request_id: a for a in got}


def test_one_pop_answers_a_mixed_batch_each_request_on_its_own(stack, model):
    inbox = "a" * 32
    requests = [
        encode_request("1" * 32, inbox, 30, _message(model, start=50.0, horizon=5)),
        encode_request("2" * 32, inbox, 30, _message(model, start=51.0, horizon=5)),
        encode_request("3" * 32, inbox, 30, _message(model, context=[0.0, float("nan")] * 10, horizon=5)),
        encode_request("4" * 32, inbox, 30, {"model_id": "f" * 32, "sha256": "0" * 64, "start": 1, "horizon": 5}),
        encode_request("5" * 32, inbox, 30, _message(model, start=50.0, horizon=7)),
    ]
    stack.r.lpush(Keys.forecasts, *requests)  # one push: the worker's next pop takes them together
    answers = _answers(stack, inbox, 5)
    assert {k: a.status for k, a in answers.items()} == {
        "1" * 32: 200, "2" * 32: 200, "3" * 32: 422, "4" * 32: 404, "5" * 32: 200}
    assert answers["1" * 32].batch == answers["2" * 32].batch == 2  # same model and horizon: one rollout
    assert answers["5" * 32].batch == 1
    assert "finite" in json.loads(answers["3" * 32].body)["detail"]
    via_http = forecast(stack, model["id"], start=50.0, horizon=5).json()
    assert json.loads(answers["1" * 32].body) == via_http
    assert 0 < stack.r.ttl(Keys.replies(inbox)) <= INBOX_TTL_S or not stack.r.exists(Keys.replies(inbox))


def test_expired_and_malformed_requests_are_dropped_and_serving_goes_on(stack, model):
    inbox = "b" * 32
    expired = json.loads(encode_request("6" * 32, inbox, 30, _message(model, start=50.0, horizon=5)))
    expired["deadline_ms"] -= 60_000  # the API gave up on it a while ago
    stack.r.lpush(Keys.forecasts, json.dumps(expired), "not json", json.dumps({"id": "../x", "inbox": inbox}))
    wait_until(lambda: stack.r.llen(Keys.forecasts) == 0, timeout=30)
    r = forecast(stack, model["id"], start=50.0, horizon=5)
    assert r.status_code == 200 and int(r.headers["X-Rnncast-Batch"]) >= 1
    assert stack.r.llen(Keys.replies(inbox)) == 0  # nothing answered for the dropped ones


def test_error_answers_keep_the_apis_error_shape(stack, model):
    r = forecast(stack, model["id"], context=[1.0] * 3, horizon=5)
    assert r.status_code == 422 and "sequence_length" in r.json()["detail"]
    r = forecast(stack, model["id"], start=50.0, horizon=5)
    assert r.headers["content-type"] == "application/json"
    assert set(r.json()) == {"model_id", "horizon", "x", "y", "exact", "mse", "max_abs_error"}



def test_with_no_worker_the_request_queue_expires_with_its_last_deadline(tmp_path):
    import asyncio

    from rnncast.common.store.aio import AsyncJobStore
    from tests.support import RedisServer

    server = RedisServer(tmp_path).start()  # nobody consumes the lane here
    try:
        async def push() -> None:
            store = AsyncJobStore.from_url(server.url)
            try:
                for i in range(3):
                    expire = 9 if i == 0 else None  # the API process refreshes it once a second
                    request = encode_request(f"{i}" * 32, "c" * 32, 7, {"model_id": "d" * 32})
                    assert await store.admit_forecasts([("", "", request)], 100, expire, ()) == [Admitted.QUEUED]
            finally:
                await store.close()

        asyncio.run(push())
        client = server.client()
        assert client.llen(Keys.forecasts) == 3
        assert 8 <= client.ttl(Keys.forecasts) <= 9  # every request in it is past its deadline by then
    finally:
        server.stop()


def test_a_huge_models_forecasts_do_not_hold_back_a_small_models(stack, model):
    huge = train_model(stack, cell="LSTM", hidden_size=512, num_layers=4, epochs=1, name="huge")
    results: dict[str, list[int]] = {"huge": [], "huge_long": []}

    def ask(kind: str, horizon: int) -> None:
        with httpx.Client(base_url=stack.api.url, timeout=60) as http:
            r = http.post(f"/v1/models/{huge['id']}/forecast", json={"start": 50.0, "horizon": horizon})
            results[kind].append(r.status_code)

    threads = [threading.Thread(target=ask, args=("huge_long", 10_000)) for _ in range(8)]
    threads += [threading.Thread(target=ask, args=("huge", 10)) for _ in range(24)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    began = time.monotonic()
    small = forecast(stack, model["id"], start=50.0, horizon=20)
    took = time.monotonic() - began
    for t in threads:
        t.join()
    assert small.status_code == 200 and took < 10, (small.status_code, took)
    long_detail = forecast(stack, huge["id"], start=50.0, horizon=10_000).json()["detail"]
    assert results["huge_long"] == [422] * 8 and "RNNCAST_MAX_FORECAST_WORK" in long_detail
    assert results["huge"] == [200] * 24  # each alone within the limit: split into rollouts that fit


def test_a_batch_over_the_work_limit_is_split_and_each_row_equals_its_lone_forecast(stack):
    big = train_model(stack, cell="GRU", hidden_size=256, num_layers=2, epochs=1, name="big")
    # One padded row: 200 x 10 x 2 x 3 x 256 x (256 + 250) = 1.6e9 work, plus the per-step terms: the
    # default limit takes a few dozen rows a rollout; a batch of more runs in several.
    per_rollout = rows_within(Settings().max_forecast_work, 10, 200, 256, 2, "GRU")
    assert forecast_work(per_rollout + 1, 10, 200, 256, 2, "GRU") > Settings().max_forecast_work >= forecast_work(
        per_rollout, 10, 200, 256, 2, "GRU")
    starts = [40.0 + i for i in range(per_rollout + 9)]
    lone = {s: forecast(stack, big["id"], start=s, horizon=200).json()["y"] for s in starts[:3]}
    answers: dict[float, httpx.Response] = {}

    def ask(start: float) -> None:
        with httpx.Client(base_url=stack.api.url, timeout=60) as http:
            answers[start] = http.post(f"/v1/models/{big['id']}/forecast", json={"start": start, "horizon": 200})

    threads = [threading.Thread(target=ask, args=(s,)) for s in starts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status_code == 200 for r in answers.values())
    assert max(int(r.headers["X-Rnncast-Batch"]) for r in answers.values()) <= per_rollout
    for s in starts[:3]:
        assert answers[s].json()["y"] == lone[s]


def test_a_context_longer_than_the_servers_limit_is_422(stack, model):
    r = forecast(stack, model["id"], context=[0.0] * 10_001, horizon=5)
    assert r.status_code == 422 and "RNNCAST_MAX_CONTEXT (10000)" in r.text and len(r.content) < 2000
    assert forecast(stack, model["id"], context=[0.0] * 10_000, horizon=5).status_code == 200
