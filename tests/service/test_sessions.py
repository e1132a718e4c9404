"""Streaming sessions against the real stack: each answer equals a full forecast over every value seen so far,
state in Redis (any worker serves the next observe), TTLs, conflicts and bad input."""

from __future__ import annotations

import json
import math
import threading
import uuid

import pytest

from rnncast.common.forecasts import decode_answer, encode_request
from rnncast.common.sessions import OBSERVE, SESSION, gone_detail
from rnncast.common.store import Keys
from tests.service.test_models import forecast, train_model
from tests.support import TINY, Api, RedisServer, start_worker, upload_monthly, wait_until

SINE = [math.sin(2 * math.pi * k / 20) for k in range(60)]


@pytest.fixture(scope="module")
def models(stack):
    return {cell: train_model(stack, cell=cell, name=f"session-{cell}") for cell in ("RNN", "LSTM", "GRU")}


def open_session(http, model_id, window, **body):
    return http.post(f"/v1/models/{model_id}/sessions", json={"window": window, **body})


def observe(http, session_id, values, **body):
    return http.post(f"/v1/sessions/{session_id}/observe", json={"values": values, **body})


def assert_equals_full_forecast(stack, model_id, seen, answer, horizon):
    full = forecast(stack, model_id, context=seen, horizon=horizon)
    assert full.status_code == 200, full.text
    assert answer["forecast"] == full.json()  # to the bit: the same window, the same kernel
    assert answer["observed"] == len(seen)


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
def test_each_answer_equals_a_full_forecast_over_every_value_seen(stack, models, cell):
    http, model_id = stack.api.http, models[cell]["id"]
    r = open_session(http, model_id, SINE[:25], horizon=4)
    assert r.status_code == 201, r.text
    opened = r.json()
    assert_equals_full_forecast(stack, model_id, SINE[:25], opened, 4)
    sid, seen = opened["session_id"], SINE[:25]
    for chunk in ([SINE[25]], SINE[26:29], [SINE[29]]):
        seen = seen + chunk
        r = observe(http, sid, chunk)
        assert r.status_code == 200, r.text
        assert_equals_full_forecast(stack, model_id, seen, r.json(), 4)
    r = observe(http, sid, [SINE[30]], horizon=7)  # this answer's horizon only
    assert_equals_full_forecast(stack, model_id, [*seen, SINE[30]], r.json(), 7)
    info = http.get(f"/v1/sessions/{sid}").json()
    assert info | {"expires_at": None} == {
        "session_id": sid,
        "model_id": model_id,
        "horizon": 4,
        "ttl_s": 900,
        "observed": 31,
        "window_size": 10,
        "expires_at": None,
    }


def test_a_differenced_scaled_dataset_model_streams_exactly_too(stack):
    http = stack.api.http
    values = [0.05 * k + math.sin(k / 3) for k in range(120)]
    dataset = http.post("/v1/datasets", json={"name": "trend", "values": values}).json()
    model = train_model(
        stack, **{**TINY, "cell": "LSTM", "data": {"dataset_id": dataset["id"]}}, difference="first", scaling="standard"
    )
    opened = open_session(http, model["id"], values[:11], horizon=3).json()  # 10 + the lag
    assert_equals_full_forecast(stack, model["id"], values[:11], opened, 3)
    r = observe(http, opened["session_id"], values[11:14])
    assert_equals_full_forecast(stack, model["id"], values[:14], r.json(), 3)
    short = open_session(http, model["id"], values[:10])
    assert short.status_code == 422 and "reads the last 11" in short.json()["detail"]


def test_a_covariate_model_is_refused_saying_why(stack):
    http = stack.api.http
    dataset = upload_monthly(http, [math.sin(k / 2) for k in range(80)], "monthly-session")
    model = train_model(stack, **{**TINY, "cell": "GRU", "data": {"dataset_id": dataset["id"]}}, covariates="month")
    r = open_session(http, model["id"], [0.0] * 20)
    assert r.status_code == 422 and "covariates" in r.json()["detail"] and "timestamps" in r.json()["detail"]


def test_bad_values_are_422_and_change_nothing(stack, models):
    http, model_id = stack.api.http, models["GRU"]["id"]
    sid = open_session(http, model_id, SINE[:12], horizon=2).json()["session_id"]
    for bad in ([], ["1.0"], [1.0, None], "x"):
        assert observe(http, sid, bad).status_code == 422
    r = http.post(
        f"/v1/sessions/{sid}/observe", content=b'{"values": [1.0, NaN]}', headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422
    assert observe(http, sid, [1.0], horizon=0).status_code == 422
    assert http.get(f"/v1/sessions/{sid}").json()["observed"] == 12
    r = observe(http, sid, [SINE[12]])
    assert_equals_full_forecast(stack, model_id, SINE[:13], r.json(), 2)
    too_long = open_session(http, model_id, SINE[:12], ttl_s=10**9)
    assert too_long.status_code == 422
    over = open_session(http, model_id, SINE[:12], ttl_s=86_401)  # past this server's limit, within the ceiling
    assert over.status_code == 422 and "RNNCAST_MAX_SESSION_TTL_S" in over.text


def test_unknown_and_deleted_sessions_are_404(stack, models):
    http = stack.api.http
    for sid in ("0" * 32, "not-an-id"):
        # every call that finds a session gone says so alike, naming the usual causes
        for r in (observe(http, sid, [1.0]), http.get(f"/v1/sessions/{sid}"), http.delete(f"/v1/sessions/{sid}")):
            assert r.status_code == 404 and r.json()["detail"] == gone_detail(sid), r.text
    sid = open_session(http, models["RNN"]["id"], SINE[:12]).json()["session_id"]
    assert http.delete(f"/v1/sessions/{sid}").status_code == 204
    r = observe(http, sid, [1.0])
    assert r.status_code == 404 and r.json()["detail"] == gone_detail(sid)
    assert http.delete(f"/v1/sessions/{sid}").status_code == 404  # ended already
    assert open_session(http, "f" * 32, SINE[:12]).status_code == 404


def test_a_session_expires_after_its_ttl(stack, models):
    http = stack.api.http
    sid = open_session(http, models["LSTM"]["id"], SINE[:12], ttl_s=1).json()["session_id"]
    assert 0 < stack.r.pttl(Keys.session(sid)) <= 1000
    wait_until(lambda: http.get(f"/v1/sessions/{sid}").status_code == 404, timeout=10)
    assert observe(http, sid, [1.0]).status_code == 404


def test_racing_observes_are_applied_one_at_a_time_the_losers_409_saving_nothing(stack, models):
    http, model_id = stack.api.http, models["GRU"]["id"]
    sid = open_session(http, model_id, SINE[:12], horizon=1).json()["session_id"]
    answers = []

    def send() -> None:
        answers.append(observe(http, sid, [0.5]))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(a.status_code for a in answers)
    assert set(codes) <= {200, 409} and 200 in codes
    wins = codes.count(200)
    assert http.get(f"/v1/sessions/{sid}").json()["observed"] == 12 + wins
    for a in answers:
        if a.status_code == 409:
            assert "moved on" in a.json()["detail"]
    # Each saved observe saw the state the one before it saved: the last answer is the full forecast's.
    seen = SINE[:12] + [0.5] * wins
    last = max((a.json() for a in answers if a.status_code == 200), key=lambda a: a["observed"])
    assert_equals_full_forecast(stack, model_id, seen, last, 1)


def test_an_observe_stating_its_count_is_applied_once_however_often_it_is_sent(stack, models):
    """`after`: the count the values follow. Applied there; sent again once applied, answered as then and nothing
    applied twice (a client that lost the answer resends safely); at any other count, 409 and nothing saved."""
    http, model_id = stack.api.http, models["LSTM"]["id"]
    sid = open_session(http, model_id, SINE[:12], horizon=3).json()["session_id"]
    first = observe(http, sid, SINE[12:14], after=12)
    assert first.status_code == 200, first.text
    assert_equals_full_forecast(stack, model_id, SINE[:14], first.json(), 3)
    again = observe(http, sid, SINE[12:14], after=12)  # its answer was lost: sent again
    assert again.status_code == 200 and again.json()["forecast"] == first.json()["forecast"]
    assert again.json()["observed"] == 14 and http.get(f"/v1/sessions/{sid}").json()["observed"] == 14
    for values, after in (([0.25, 0.5], 12), ([SINE[13]], 12), ([SINE[14]], 13), ([SINE[14]], 15), ([SINE[14]], 0)):
        r = observe(http, sid, values, after=after)  # not these values at that count: nothing saved
        assert r.status_code == 409 and f"has seen 14 values, not {after}" in r.json()["detail"], (values, r.text)
    assert http.get(f"/v1/sessions/{sid}").json()["observed"] == 14
    for bad in (-1, "14", 14.5, 2**53, True):
        assert observe(http, sid, [SINE[14]], after=bad).status_code == 422, bad
    r = observe(http, sid, [SINE[14]], after=14.0)  # a JSON number written 14.0 is the integer 14
    assert r.status_code == 200, r.text
    assert_equals_full_forecast(stack, model_id, SINE[:15], r.json(), 3)
    # Values longer than the window the session keeps: the window's part of them, with the count, is the check.
    long = [0.125 * k for k in range(30)]
    assert observe(http, sid, long, after=15).json()["observed"] == 45
    again = observe(http, sid, long, after=15)
    assert again.status_code == 200 and again.json()["observed"] == 45
    assert_equals_full_forecast(stack, model_id, SINE[:15] + long, again.json(), 3)


def test_another_worker_process_serves_the_next_observe(tmp_path):
    redis = RedisServer(tmp_path / "redis").start()
    first = start_worker(redis.url, tmp_path / "data", tmp_path / "a.log", queues="train,predict")
    api = Api(redis.url, tmp_path / "data", tmp_path / "api.log", extra={"RNNCAST_FORECAST_TIMEOUT": "5"})
    second = None
    try:
        model = train_model(type("S", (), {"api": api})(), cell="LSTM")
        sid = open_session(api.http, model["id"], SINE[:20], horizon=3).json()["session_id"]
        first.stop()
        second = start_worker(redis.url, tmp_path / "data", tmp_path / "b.log", queues="predict", pool="threads")
        wait_until(
            lambda: (
                api.http.post(
                    f"/v1/models/{model['id']}/forecast", json={"context": SINE[:10], "horizon": 1}
                ).status_code
                == 200
            ),
            timeout=60,
        )
        r = observe(api.http, sid, SINE[20:22])
        assert r.status_code == 200, r.text
        full = api.http.post(f"/v1/models/{model['id']}/forecast", json={"context": SINE[:22], "horizon": 3})
        assert r.json()["forecast"] == full.json() and r.json()["observed"] == 22
    finally:
        api.stop()
        for proc in (first, second):
            if proc is not None:
                proc.stop()
        redis.stop()


def test_a_state_that_does_not_decode_is_404_and_serving_goes_on(stack, models):
    http = stack.api.http
    sid = "ab" * 16
    stack.r.hset(Keys.session(sid), mapping={"observed": "12", "state": "not json"})
    r = observe(http, sid, [1.0])
    assert r.status_code == 404 and sid in r.json()["detail"]
    good = open_session(http, models["RNN"]["id"], SINE[:12]).json()["session_id"]
    assert observe(http, good, [1.0]).status_code == 200


def test_an_observe_queued_without_its_session_is_served_reading_it(stack, models):
    """As an API from before the admission sent sessions queues one (nothing after the request): the worker
    reads the session and its model's record itself."""
    model_id = models["LSTM"]["id"]
    sid = open_session(stack.api.http, model_id, SINE[:12], horizon=2).json()["session_id"]
    inbox = uuid.uuid4().hex
    message = {"values": SINE[12:14], SESSION: {"op": OBSERVE, "id": sid}}
    stack.r.lpush(Keys.forecasts, encode_request("5" * 32, inbox, 30, message))
    _, raw = stack.r.blpop(Keys.replies(inbox), timeout=30)
    answer = decode_answer(raw)
    assert answer.status == 200, answer.body
    assert_equals_full_forecast(stack, model_id, SINE[:14], json.loads(answer.body), 2)


def test_a_value_over_the_types_ceiling_names_the_servers_limit(stack, models):
    """Over the hard ceiling (30 days) is over this server's limit too: the 422 names the setting to look up."""
    http = stack.api.http
    r = http.post(f"/v1/models/{models['RNN']['id']}/sessions", json={"window": SINE[:12], "ttl_s": 10**8})
    assert r.status_code == 422 and [e["loc"] for e in r.json()["detail"]] == [["body", "ttl_s"]], r.text
    assert "RNNCAST_MAX_SESSION_TTL_S" in r.json()["detail"][0]["msg"]
