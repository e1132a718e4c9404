"""A lane turn that fails outside any one group's handling answers every request it had not answered yet, a
session's too, 503 naming the failure's type (else the API would wait its whole timeout), and none twice."""

from __future__ import annotations

import json

import pytest

from rnncast.common.artifacts import LocalStore
from rnncast.common.forecasts import decode_answer, encode_request
from rnncast.common.sessions import OBSERVE, SESSION
from rnncast.common.settings import Settings
from rnncast.common.store import Keys
from rnncast.common.store.sync import JobStore
from rnncast.worker import lane
from rnncast.worker.lane import ForecastServer
from rnncast.worker.predict import ModelCache
from rnncast.worker.sessions import SessionBatch

INBOX = "e" * 32


@pytest.fixture
def server(redis_server, tmp_path):
    store = JobStore.from_url(redis_server.url)
    store.r.delete(Keys.replies(INBOX))
    yield ForecastServer(Settings(redis_url=redis_server.url, data_dir=tmp_path), ModelCache(2, LocalStore(tmp_path)),
                         store)
    store.r.delete(Keys.replies(INBOX))


def raws() -> list[str]:
    forecast = encode_request("1" * 32, INBOX, 30, {"model_id": "f" * 32, "start": 1.0, "horizon": 5})
    observe = encode_request("2" * 32, INBOX, 30, {"values": [1.0], SESSION: {"op": OBSERVE, "id": "d" * 32}})
    return [forecast, observe]


def answers(server: ForecastServer) -> dict[str, list[tuple[int, str]]]:
    out: dict[str, list[tuple[int, str]]] = {}
    for raw in server.store.r.lrange(Keys.replies(INBOX), 0, -1):
        answer = decode_answer(raw)
        out.setdefault(answer.request_id, []).append((answer.status, json.loads(answer.body)["detail"]))
    return out


def fail(*_args, **_kwargs):
    raise RuntimeError("a fault in the turn")


def test_a_failure_before_the_sessions_are_read_answers_both_kinds(server, monkeypatch):
    monkeypatch.setattr(SessionBatch, "take", fail)
    server._serve(raws())
    got = answers(server)
    assert set(got) == {"1" * 32, "2" * 32}
    assert all(len(a) == 1 and a[0][0] == 503 and "RuntimeError" in a[0][1] for a in got.values())


def test_a_failure_after_them_answers_the_rest_and_none_twice(server, monkeypatch):
    monkeypatch.setattr(lane, "serve", fail)
    server._serve(raws())
    got = answers(server)
    assert got["2" * 32] == [(404, got["2" * 32][0][1])]  # the unknown session: answered by the sessions' turn
    assert len(got["1" * 32]) == 1 and got["1" * 32][0][0] == 503 and "RuntimeError" in got["1" * 32][0][1]


def test_a_model_that_fails_to_load_in_any_way_is_a_503_tried_once_for_a_turns_sessions(server, monkeypatch):
    """A load that fails with no ModelUnavailable of its own (a disk's I/O error) is one: a turn's requests for
    the model, a forecast and many observes, are each answered 503 naming its type, the observes after one try
    to load it between them (not one each)."""
    model, sha = "a" * 32, "b" * 64
    tries: list[str] = []

    def unreadable(self, model_id: str, sha256: str):
        tries.append(model_id)
        raise OSError(5, "Input/output error", "/data/models/aaaa/model.safetensors")

    monkeypatch.setattr(ModelCache, "_read", unreadable)
    r = server.store.r
    window = json.dumps({"model_id": model, "sha256": sha, "horizon": 1, "ttl_s": 60, "window": [0.5] * 4})
    sessions = [f"{i:032x}" for i in range(1, 6)]
    for sid in sessions:
        r.hset(Keys.session(sid), mapping={"observed": 4, "state": window, "model": model})
    record = json.dumps({"id": model, "checkpoint": {"sha256": sha}})
    turn = [encode_request(f"{i:032x}", INBOX, 30, {"values": [1.0], SESSION: {"op": OBSERVE, "id": sid}})
            for i, sid in enumerate(sessions, start=100)]
    turn.append(encode_request("9" * 32, INBOX, 30, {"model_id": model, "start": 1.0, "horizon": 5}) + "\n" + record)
    try:
        server._serve(turn)
        got = answers(server)
    finally:
        r.delete(*(Keys.session(sid) for sid in sessions))
    assert len(got) == 6 and all(len(a) == 1 and a[0][0] == 503 and "OSError" in a[0][1] for a in got.values()), got
    assert all("/data" not in a[0][1] for a in got.values())  # the path stays in the worker's log
    assert len(tries) == 2  # once for the sessions' judgement, once for the forecast's group
